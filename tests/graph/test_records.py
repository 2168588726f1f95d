import json
from pathlib import Path

import pytest

from kdcvg.errors import ValidationError
from kdcvg.graph.records import read_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, name: str, lines: list[dict] | str) -> Path:
    path = tmp_path / name
    if isinstance(lines, str):
        path.write_text(lines)
    else:
        path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        read_batch(path)
    return info.value.problems


def test_example_file_parses_into_nodes_and_implied_links():
    batch = read_batch(EXAMPLES / "ackb.jsonl")
    assert batch.counts() == {
        "Category": 1, "Product": 1, "SellingPoint": 2, "MotionPattern": 2, "Clip": 1,
        "IN_CATEGORY": 1, "HAS_SELLING_POINT": 2, "SHOWS": 1, "EXPRESSES": 1, "HAS_MOTION": 1,
        "SUGGESTS": 1,
    }
    expresses = batch.links["EXPRESSES"][0]
    assert expresses == {"source": "clip-cascade", "target": "sp-cold-brew-1",
                         "props": {"weight": 0.9, "source": "curated"}}
    clip = batch.nodes["Clip"][0]
    assert clip["fps"] == 24.0 and clip["width"] == 256 and "product" not in clip


def test_csv_empty_cells_are_absent_and_categories_are_implied():
    batch = read_batch(EXAMPLES / "products.csv")
    assert sorted(r["name"] for r in batch.nodes["Category"]) == ["beverages", "skincare"]
    assert {(r["source"], r["target"]) for r in batch.links["IN_CATEGORY"]} == {
        ("p-sparkle", "beverages"), ("p-glow", "skincare")}


def test_every_problem_is_named_by_file_line_and_field(tmp_path):
    path = write(tmp_path, "bad.jsonl", [
        {"type": "product", "id": "p1", "name": "A"},
        {"type": "product", "id": "p1", "name": "B"},
        {"type": "product", "id": "p2", "name": "C", "colour": "red"},
        {"type": "selling_point", "id": "s1", "product": "p1", "text": "   "},
        {"type": "clip", "id": "c1", "uri": "a.mp4", "caption": "x", "fps": "fast"},
        {"type": "motion_pattern", "name": "pour", "kind": "liquid"},
        {"type": "link", "rel": "EXPRESSES", "from": "c1", "to": "s1", "weight": 3},
        {"type": "link", "rel": "LIKES", "from": "c1", "to": "s1"},
        {"type": "widget", "id": "w"},
        {"type": "selling_point", "id": "s2", "product": "p1", "text": "x" * 2001},
    ])
    found = problems(path)
    assert found == [
        f"{path}:2: id: duplicate product 'p1' (first at {path}:1)",
        f"{path}:3: colour: unknown field for product (expected brand, category, description, id, name)",
        f"{path}:4: text: is empty",
        f"{path}:5: fps: expected a number, got 'fast'",
        f"{path}:6: kind: 'liquid' is not one of camera, object",
        f"{path}:7: weight: 3.0 is outside [0.0, 1.0]",
        f"{path}:8: rel: 'LIKES' is not one of IN_CATEGORY, HAS_SELLING_POINT, SHOWS, EXPRESSES, HAS_MOTION, SUGGESTS",
        f"{path}:9: type: 'widget' is not one of product, category, selling_point, clip, motion_pattern, link",
        f"{path}:10: text: is 2001 characters, the limit is 2000",
    ]


def test_required_fields_are_reported(tmp_path):
    path = write(tmp_path, "r.jsonl", [{"type": "clip", "id": "c1"}])
    assert problems(path) == [f"{path}:1: uri: required for clip", f"{path}:1: caption: required for clip"]


def test_malformed_jsonl_lines_are_reported(tmp_path):
    path = write(tmp_path, "m.jsonl", '{"type": "category", "name": "a"}\n{"type": \n[1, 2]\n')
    found = problems(path)
    assert found[0].startswith(f"{path}:2: malformed JSON")
    assert found[1] == f"{path}:3: expected a JSON object, got list"


def test_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("type,name\ncategory,caf\xe9\n".encode("latin-1"))
    assert problems(path) == [f"{path}:2: not UTF-8 text (byte 22); save the file as UTF-8"]


def test_csv_row_with_extra_cells_is_refused(tmp_path):
    path = write(tmp_path, "x.csv", "type,name\ncategory,a,b\n")
    assert problems(path) == [f"{path}:2: more cells than header columns"]


def test_unknown_suffix_and_empty_file(tmp_path):
    assert "unknown file type '.txt'" in problems(write(tmp_path, "a.txt", "x"))[0]
    assert problems(write(tmp_path, "e.jsonl", "\n")) == [f"{tmp_path / 'e.jsonl'}: holds no records"]


def test_motion_pattern_distortions_from_jsonl_and_csv(tmp_path):
    jsonl = write(tmp_path, "m.jsonl", [
        {"type": "motion_pattern", "name": "pour", "kind": "object",
         "distortions": [" liquid floating upward ", "splash outside the glass"]},
        {"type": "motion_pattern", "name": "spin", "kind": "object"},
    ])
    rows = {r["name"]: r for r in read_batch(jsonl).nodes["MotionPattern"]}
    assert rows["pour"]["distortions"] == ["liquid floating upward", "splash outside the glass"]
    assert "distortions" not in rows["spin"]
    csv_path = write(tmp_path, "m.csv", "type,name,kind,distortions\n"
                     "motion_pattern,pour,object,liquid floating upward|splash outside the glass\n"
                     "motion_pattern,spin,object,\n")
    rows = {r["name"]: r for r in read_batch(csv_path).nodes["MotionPattern"]}
    assert rows["pour"]["distortions"] == ["liquid floating upward", "splash outside the glass"]
    assert "distortions" not in rows["spin"]


def test_bad_distortions_are_named_by_file_line_and_item(tmp_path):
    def pattern(name, distortions):
        return {"type": "motion_pattern", "name": name, "kind": "object",
                "distortions": distortions}

    path = write(tmp_path, "d.jsonl", [
        pattern("a", "liquid floating upward"),
        pattern("b", ["ok", "  "]),
        pattern("c", ["x" * 201]),
        pattern("d", ["ok", 3]),
        pattern("e", [f"d{i}" for i in range(21)]),
        pattern("f", [f"d{i}" for i in range(20)]),  # 20 is allowed
    ])
    assert problems(path) == [
        f"{path}:1: distortions: expected a list of texts, got str",
        f"{path}:2: distortions: item 2: is empty",
        f"{path}:3: distortions: item 1: is 201 characters, the limit is 200",
        f"{path}:4: distortions: item 2: expected text, got int",
        f"{path}:5: distortions: has 21 items, the limit is 20",
    ]
    csv_path = write(tmp_path, "d.csv", "type,name,kind,distortions\n"
                     "motion_pattern,a,object,blurry||smeared\n")
    assert problems(csv_path) == [f"{csv_path}:2: distortions: item 2: is empty"]


def test_only_motion_patterns_carry_distortions(tmp_path):
    path = write(tmp_path, "p.jsonl", [{"type": "product", "id": "p1", "name": "A",
                                        "distortions": ["blurry"]}])
    assert problems(path) == [f"{path}:1: distortions: unknown field for product "
                              "(expected brand, category, description, id, name)"]


def test_two_objects_on_one_jsonl_line_are_reported(tmp_path):
    # joined into one JSON array, this file would parse: the line count must not match
    path = write(tmp_path, "two.jsonl", '{"type": "category", "name": "a"}, {"type": "category", '
                                        '"name": "b"}\n')
    assert problems(path)[0].startswith(f"{path}:1: malformed JSON (Extra data")
