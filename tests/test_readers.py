"""Property: every reader of outside files (curator records, job rows, feedback rows) either
accepts a row and keeps its values, or names exactly one problem for each broken row; never
a traceback. Hypothesis draws valid rows and breaks some of them in one way each."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdcvg.errors import ValidationError
from kdcvg.generation.batch import parse_jobs
from kdcvg.graph.records import read_batch
from kdcvg.retrieval.feedback import read_feedback

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DEEP = "[" * 3000 + "]" * 3000
BAD_IDS = ["../x", "/abs/path", "a/b", "..", "p\x00", "p\x1b[0m", "p\u202e1", "p\ud800",
           ["a"], 7, "x" * 129, "p 1"]
NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")),
                min_size=1, max_size=40).filter(lambda s: s.strip())
BROKEN_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, "abc", True, [1], {"a": 1}]


def _line(record: dict[str, Any], broken: Any = None) -> str:
    """One JSONL line; a broken value given as raw text (`DEEP`) goes in verbatim."""
    text = json.dumps(record)  # NaN and Infinity as the (non-JSON) literals
    return text.replace('"@RAW@"', broken) if isinstance(broken, str) and broken == DEEP else text


def _write(lines: list[str], suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / f"f{suffix}"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8",
                    errors="surrogatepass")
    return path


def _break(record: dict[str, Any], kind: int, draw_value: Any, id_field: str,
           number_field: str | None) -> tuple[dict[str, Any], Any]:
    """The record broken in one way (`kind` picks which)."""
    broken = dict(record)
    if kind == 0:
        broken[id_field] = draw_value(st.sampled_from(BAD_IDS))
    elif kind == 1 and number_field:
        broken[number_field] = draw_value(st.sampled_from(BROKEN_NUMBERS))
    elif kind == 2:
        broken["colour"] = "red"
    else:
        broken[id_field] = "@RAW@"
        return broken, DEEP
    return broken, None


@SETTINGS
@given(st.data())
def test_curator_records(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 8))
    records, bad_lines = [], set()
    for i in range(n):
        if i % 2 == 0:
            record = {"type": "product", "id": f"p{i}", "name": data.draw(NAMES)}
            number_field = None
        else:
            record = {"type": "link", "rel": "EXPRESSES", "from": f"c{i}", "to": f"s{i}",
                      "weight": data.draw(st.floats(0, 1))}
            number_field = "weight"
        id_field = "id" if record["type"] == "product" else "from"
        if data.draw(st.booleans()):
            kind = data.draw(st.integers(0, 3))
            record, raw = _break(record, kind, data.draw, id_field, number_field)
            bad_lines.add(i + 1)
            records.append(_line(record, raw))
        else:
            records.append(_line(record))
    path = _write(records, ".jsonl")
    try:
        batch = read_batch(path)
    except ValidationError as e:
        lines = [int(p.removeprefix(f"{path}:").split(":", 1)[0]) for p in e.problems]
        assert all("\n" not in p for p in e.problems)
        assert sorted(lines) == sorted(bad_lines), e.problems  # one problem per broken row
        return
    assert not bad_lines
    for line in records:
        record = json.loads(line)
        if record["type"] == "product":
            row = next(r for r in batch.nodes["Product"] if r["id"] == record["id"])
            assert row["name"] == record["name"].strip()
        else:
            link = next(r for r in batch.links["EXPRESSES"] if r["source"] == record["from"])
            assert link["props"]["weight"] == record["weight"] and link["target"] == record["to"]


@SETTINGS
@given(st.data())
def test_job_rows(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    lines, bad_rows, wanted = [], set(), {}
    for i in range(n):
        record = {"id": f"job-{i}", "product": f"p{i}", "selling_points": [data.draw(NAMES)],
                  "seed": data.draw(st.integers(0, 2**32 - 1))}
        if data.draw(st.booleans()):
            kind = data.draw(st.integers(0, 3))
            record, raw = _break(record, kind, data.draw, "product", "seed")
            bad_rows.add(i + 1)
            lines.append(_line(record, raw))
        else:
            wanted[record["id"]] = record
            lines.append(_line(record))
    good, bad = parse_jobs(_write(lines, ".jsonl"))
    assert sorted(b.row for b in bad) == sorted(bad_rows), [str(b) for b in bad]
    assert all("\n" not in b.reason for b in bad)
    for job in good:
        record = wanted[job.id]
        assert job.job.product_id == record["product"] and job.job.seed == record["seed"]
        assert list(job.job.selling_points) == [s.strip() for s in record["selling_points"]]


@SETTINGS
@given(st.data())
def test_feedback_rows(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    lines, bad_lines, ratings = [], set(), []
    for i in range(n):
        record = {"clip": f"c{i}", "selling_point": f"s{i}",
                  "rating": data.draw(st.integers(1, 5))}
        if data.draw(st.booleans()):
            kind = data.draw(st.integers(0, 3))
            record, raw = _break(record, kind, data.draw, "clip", "rating")
            bad_lines.add(i + 1)
            lines.append(_line(record, raw))
        else:
            ratings.append(record["rating"])
            lines.append(_line(record))
    path = _write(lines, ".jsonl")
    clips, sps = {f"c{i}" for i in range(n)}, {f"s{i}" for i in range(n)}
    try:
        rows = read_feedback(path, clips, sps)
    except ValidationError as e:
        numbers = [int(p.removeprefix(f"{path}:").split(":", 1)[0]) for p in e.problems]
        assert sorted(numbers) == sorted(bad_lines), e.problems
        return
    assert not bad_lines
    assert [r["value"] for r in rows] == [(r - 3) / 2 for r in ratings]
