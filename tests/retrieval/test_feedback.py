import pytest

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
