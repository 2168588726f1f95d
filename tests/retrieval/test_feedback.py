import pytest
import torch

from kdcvg.errors import ValidationError
from kdcvg.retrieval.feedback import append_feedback, feedback_by_rows, load_feedback, read_feedback

CLIPS = {"c1", "c2"}
SPS = {"s1"}


def test_ratings_and_click_rates_map_to_minus_one_one(tmp_path):
    f = tmp_path / "fb.csv"
    f.write_text("clip,selling_point,rating,clicks,impressions\n"
                 "c1,s1,5,,\nc2,s1,1,,\nc1,s1,,30,100\nc2,s1,,10,100\n")
    rows = read_feedback(f, CLIPS, SPS)
    assert [r["value"] for r in rows] == pytest.approx([1.0, -1.0, 0.462117, -0.462117])
    append_feedback(tmp_path / "sar", rows[:2])
    append_feedback(tmp_path / "sar", rows[2:])
    stored = load_feedback(tmp_path / "sar")
    assert len(stored) == 4
    assert feedback_by_rows(stored, {"c1": 0, "c2": 1}, {"s1": 7}) == pytest.approx(
        {(0, 7): (1.0 + 0.462117) / 2, (1, 7): (-1.0 - 0.462117) / 2})


def test_unknown_ids_and_bad_values_write_nothing(tmp_path):
    f = tmp_path / "fb.jsonl"
    f.write_text('{"clip": "c9", "selling_point": "s1", "rating": 4}\n'
                 '{"clip": "c1", "selling_point": "s1", "rating": 7}\n'
                 '{"clip": "c1", "selling_point": "s1"}\n')
    with pytest.raises(ValidationError) as e:
        read_feedback(f, CLIPS, SPS)
    assert e.value.problems == [f"{f}:1: unknown clip id 'c9'",
                                f"{f}:2: rating must be 1-5, got 7",
                                f"{f}:3: give rating (1-5) or clicks and impressions"]
    assert load_feedback(tmp_path / "sar") == []


def test_well_rated_pairs_become_links(demo_graph):
    from kdcvg.retrieval.features import build_inputs
    from kdcvg.retrieval.feedback import EVIDENCE_MIN, with_feedback_links

    data, ids = demo_graph
    rel = ("clip", "expresses", "selling_point")
    linked = tuple(data[rel].edge_index[:, 0].tolist())
    unlinked = next((c, s) for c in range(len(ids["clip"])) for s in range(len(ids["selling_point"]))
                    if (c, s) not in set(map(tuple, data[rel].edge_index.T.tolist())))
    feedback = {unlinked: 0.75, (unlinked[0], (unlinked[1] + 1) % 34): EVIDENCE_MIN - 0.01,
                linked: 1.0}
    before = data[rel].edge_index.shape[1]
    out = with_feedback_links(data, feedback)
    # only the new, well-rated pair is added, weighted by its feedback and counted as a link
    assert out[rel].edge_index.shape[1] == data[rel].edge_index.shape[1] + 1
    assert out[rel].edge_index[:, -1].tolist() == list(unlinked)
    assert out[rel].edge_attr[-1].tolist() == [0.75, 1.0]
    assert out.graph_version != data.graph_version
    inputs = build_inputs(out, ids, knn=5)
    assert list(unlinked) in inputs.links.T.tolist()
    assert data[rel].edge_index.shape[1] == before  # the caller's graph is not changed
    assert with_feedback_links(data, {linked: 1.0}) is data  # a curated link stays as it is
    auto = data.clone()
    auto[rel].edge_attr = data[rel].edge_attr.clone()
    auto[rel].edge_attr[0] = torch.tensor([0.3, 0.0])  # the first link made automatic
    promoted = with_feedback_links(auto, {linked: 0.9})
    assert promoted[rel].edge_index.shape[1] == before
    assert promoted[rel].edge_attr[0].tolist() == [pytest.approx(0.9), 1.0]


def test_feedback_rows_follow_the_field_id_and_number_rules(tmp_path):
    f = tmp_path / "fb.jsonl"
    f.write_text('{"clip": "c1", "selling_point": "s1", "rating": 4, "comment": "great"}\n'
                 '{"clip": "../c1", "selling_point": "s1", "rating": 4}\n'
                 '{"clip": "c1", "selling_point": "s1", "clicks": 1, "impressions": 1e999}\n'
                 '{"clip": ["c1"], "selling_point": "s1", "rating": 4}\n'
                 '{"clip": "c1", "selling_point": "s1", "rating": 4}\n')
    with pytest.raises(ValidationError) as e:
        read_feedback(f, CLIPS, SPS)
    problems = e.value.problems
    assert problems[0] == (f"{f}:1: comment: unknown field (expected clip, selling_point, "
                           "rating, clicks, impressions)")
    assert problems[1].startswith(f"{f}:2: clip: '../c1' is not a valid id")
    assert problems[2] == f"{f}:3: impressions: inf is not a finite number"
    assert problems[3] == f"{f}:4: clip: expected an id (text), got list ['c1']"
    assert len(problems) == 4


def test_feedback_files_that_cannot_poison_the_rewards(tmp_path):
    f = tmp_path / "fb.jsonl"
    f.write_text('{"clip": "c1", "selling_point": "s1", "rating": NaN}\n'
                 '{"clip": "c1", "selling_point": "s1", "rating": ' + "[" * 10_000
                 + "]" * 10_000 + "}\n[1]\n")
    with pytest.raises(ValidationError) as e:
        read_feedback(f, CLIPS, SPS)
    assert e.value.problems == [
        f"{f}:1: malformed JSON (NaN is not a JSON number; numbers must be finite)",
        f"{f}:2: malformed JSON (nested too deeply)",
        f"{f}:3: expected a JSON object, got list"]
    csv_file = tmp_path / "fb.csv"
    csv_file.write_text("clip,selling_point,clicks,impressions\nc1,s1,nan,10\nc1,s1,1,inf\n")
    with pytest.raises(ValidationError) as e:
        read_feedback(csv_file, CLIPS, SPS)
    assert e.value.problems == [f"{csv_file}:2: clicks: 'nan' is not a finite number",
                                f"{csv_file}:3: impressions: 'inf' is not a finite number"]


def test_ratings_of_whole_clips_are_kept_apart_from_pair_feedback(tmp_path):
    from kdcvg.retrieval.feedback import clip_feedback

    f = tmp_path / "fb.jsonl"
    f.write_text('{"clip": "c1", "rating": 5}\n'
                 '{"clip": "c1", "selling_point": null, "rating": 4}\n'
                 '{"clip": "c2", "selling_point": "s1", "rating": 2}\n')
    csv_file = tmp_path / "fb.csv"
    csv_file.write_text("clip,selling_point,rating\nc2,,1\n")
    rows = read_feedback(f, CLIPS, SPS) + read_feedback(csv_file, CLIPS, SPS)
    assert [(r["clip"], r["selling_point"], r["value"]) for r in rows] == [
        ("c1", None, 1.0), ("c1", None, 0.5), ("c2", "s1", -0.5), ("c2", None, -1.0)]
    append_feedback(tmp_path / "sar", rows)
    stored = load_feedback(tmp_path / "sar")
    assert stored == rows
    assert clip_feedback(stored) == {"c1": [1.0, 0.5], "c2": [-1.0]}
    # pair feedback (links, RL pools) never reads the whole-clip rows
    assert feedback_by_rows(stored, {"c1": 0, "c2": 1}, {"s1": 0}) == {(1, 0): -0.5}


def test_whole_clip_rows_follow_the_same_rules(tmp_path):
    f = tmp_path / "fb.jsonl"
    f.write_text('{"clip": "c1", "rating": 0}\n'
                 '{"clip": "c1", "selling_point": "", "rating": 4}\n'
                 '{"clip": "c3", "rating": 4}\n'
                 '{"clip": "c1"}\n')
    with pytest.raises(ValidationError) as e:
        read_feedback(f, CLIPS, SPS)
    assert e.value.problems[0] == f"{f}:1: rating must be 1-5, got 0"
    assert e.value.problems[1].startswith(f"{f}:2: selling_point: '' is not a valid id")
    assert e.value.problems[2:] == [f"{f}:3: unknown clip id 'c3'",
                                    f"{f}:4: give rating (1-5) or clicks and impressions"]
