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


def test_ids_follow_one_rule_and_names_refuse_unsafe_characters(tmp_path):
    path = write(tmp_path, "ids.jsonl", [
        {"type": "product", "id": "../../escape", "name": "A"},
        {"type": "product", "id": "p\u0000", "name": "B"},
        {"type": "product", "id": "p\u001b[31m", "name": "C"},
        {"type": "product", "id": "p\u202e1", "name": "D"},
        {"type": "category", "name": "bad\u202ename"},
        {"type": "product", "id": "p2", "name": "lone \ud800 surrogate"},
        {"type": "link", "rel": "EXPRESSES", "from": "/abs/path", "to": "sp-1"},
        {"type": "selling_point", "id": "s1", "product": ["p2"], "text": "x"},
        {"type": ["product"], "id": "p3"},
    ])
    found = problems(path)
    rule = "ids are 1 to 128 characters"
    assert found[0] == f"{path}:1: id: '../../escape' is not a valid id ({found[0].split('(', 1)[1]}"
    assert all(rule in p for p in found[:4])
    assert found[1].startswith(f"{path}:2: id: 'p\\x00' is not a valid id")
    assert found[2].startswith(f"{path}:3: id: 'p\\x1b[31m' is not a valid id")
    assert found[3].startswith(f"{path}:4: id: 'p\\u202e1' is not a valid id")
    assert found[4:] == [
        f"{path}:5: name: 'bad\\u202ename' contains the bidirectional control U+202E at character 4",
        f"{path}:6: name: 'lone \\ud800 surrogate' contains a lone surrogate U+D800 at character 6 "
        "(not valid Unicode text)",
        found[6],
        f"{path}:8: product: expected an id (text), got list ['p2']",
        f"{path}:9: type: ['product'] is not one of product, category, selling_point, clip, "
        "motion_pattern, link",
    ]
    assert found[6].startswith(f"{path}:7: from: '/abs/path' is not a valid id")


def test_non_finite_and_out_of_range_numbers_are_refused(tmp_path):
    clip = {"type": "clip", "uri": "a.mp4", "caption": "x"}
    path = write(tmp_path, "n.jsonl", '{"type": "link", "rel": "EXPRESSES", "from": "c1", '
                                      '"to": "s1", "weight": NaN}\n')
    assert problems(path) == [
        f"{path}:1: malformed JSON (NaN is not a JSON number; numbers must be finite)"]
    path = write(tmp_path, "n2.jsonl", [line for line in [
        {**clip, "id": "c1", "fps": 24},
        {"type": "link", "rel": "EXPRESSES", "from": "c1", "to": "s1", "weight": 0.5}]])
    path.write_text(path.read_text().replace('"fps": 24', '"fps": 1e999'))
    assert problems(path) == [f"{path}:1: fps: inf is not a finite number"]
    path = write(tmp_path, "n3.jsonl", [{**clip, "id": "c2", "width": 1e308},
                                        {**clip, "id": "c3", "duration_s": 1e6, "height": 0}])
    found = problems(path)
    assert found == [f"{path}:1: width: 1e+308 is outside [1, 16384]",
                     f"{path}:2: duration_s: 1000000.0 is outside [0.0, 86400.0]",
                     f"{path}:2: height: 0 is outside [1, 16384]"]
    csv_path = write(tmp_path, "n.csv", "type,id,uri,caption,duration_s,fps\n"
                                        "clip,c1,a.mp4,x,nan,inf\n")
    assert problems(csv_path) == [f"{csv_path}:2: duration_s: 'nan' is not a finite number",
                                  f"{csv_path}:2: fps: 'inf' is not a finite number"]


def test_jsonl_is_one_object_per_line_each_problem_at_its_line(tmp_path):
    # the split object and the two-object line balance out when the lines are joined
    path = write(tmp_path, "split.jsonl",
                 '{"type": "category", "name": "a"}\n'
                 '{"type": "motion_pattern", "name": "pour", "kind": "object", "distortions": ["x",\n'
                 '"y"]}\n'
                 '{"type": "category", "name": "b"}, {"type": "category", "name": "c"}\n')
    found = problems(path)
    assert [p.split(": ", 1)[0] for p in found] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "does not end on this line" in found[0]
    assert all("one JSON object per line" in p for p in found)


def test_deeply_nested_value_is_one_line(tmp_path):
    deep = "[" * 10_000 + "]" * 10_000
    path = write(tmp_path, "deep.jsonl", '{"type": "category", "name": "a"}\n'
                                         f'{{"type": "category", "name": {deep}}}\n')
    assert problems(path) == [f"{path}:2: malformed JSON (nested too deeply)"]
