"""User feedback on retrieved clips: validated, normalised, appended to `<home>/sar/feedback.jsonl`.

A feedback file is JSONL or CSV (by extension) with one row per (clip, selling point),
or per clip as a whole (no `selling_point`: a rating of the finished ad, say):
`clip`, optional `selling_point`, and either `rating` (1-5) or `clicks` and `impressions`.
Values are mapped to [-1, 1]: a rating r gives (r - 3) / 2; a click-through rate c
gives tanh((c - C) / C), with C the file's overall rate, so that "better than
usual" is positive. A pair rated well enough (`EVIDENCE_MIN`) counts as a link, at
training and at retrieval (`with_feedback_links`); a whole-clip rating feeds the clip's
feedback prior (`prior.py`), a term of the score. The RL stage reads both as its
`feedback` reward.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from kdcvg.errors import ValidationError
from kdcvg.graph.schema import RELATIONSHIPS
from kdcvg.jsonl import parse_lines
from kdcvg.validation import InputError, check_id, check_number

FEEDBACK_NAME = "feedback.jsonl"


FIELDS = ("clip", "selling_point", "rating", "clicks", "impressions")
MAX_COUNT = 1e15  # clicks and impressions: beyond any real campaign, far below float limits


def read_feedback_text(path: Path) -> str:
    """The text of a feedback file.

    Raises:
        ValidationError: missing, unreadable, or not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ValidationError([f"{path}: no such file"], "feedback file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError([f"{path}: cannot read it as UTF-8 text ({e})"],
                              "feedback file") from e


def _rows(path: str, text: str) -> list[tuple[int, dict[str, Any] | str]]:
    """(line, row or the problem that line has) pairs of a feedback file, in line order.

    Args:
        path: the file's name as the user gave it (messages name it; `.csv` reads as CSV).
        text: its content.

    Raises:
        ValidationError: a malformed CSV.
    """
    if Path(path).suffix.lower() == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
            csv_rows = [(reader.line_num, row) for row in reader]
        except csv.Error as e:
            raise ValidationError([f"{path}: malformed CSV ({e})"], "feedback file") from e
        bad = [f"{path}:{n}: more cells than header columns" for n, r in csv_rows if None in r]
        if bad:
            raise ValidationError(bad, "feedback file")
        return [(n, {k: v for k, v in r.items() if v not in (None, "")}) for n, r in csv_rows]
    values, problems = parse_lines(text)
    rows: list[tuple[int, Any]] = [(n, f"{path}:{n}: {reason}") for n, reason in problems]
    rows += [(n, v if isinstance(v, dict) else f"{path}:{n}: expected a JSON object, got "
                                                f"{type(v).__name__}") for n, v in values]
    return sorted(rows, key=lambda item: item[0])


def _number(row: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    v = row.get(name)
    if v is None or v == "":
        return None
    return float(check_number(name, v, float, lo, hi))


def read_feedback(path: Path, clips: set[str], selling_points: set[str]) -> list[dict[str, Any]]:
    """Validated, normalised feedback rows of the file at `path`; see `parse_feedback`."""
    return parse_feedback(str(path), read_feedback_text(path), clips, selling_points)


def parse_feedback(path: str, text: str, clips: set[str], selling_points: set[str]
                   ) -> list[dict[str, Any]]:
    """Validated, normalised feedback rows `{clip, selling_point, value, raw}`.

    `path` names the file in messages (and `.csv` reads it as CSV); `text` is its content.

    Every row holds `clip` (an id, by the id rule), optionally `selling_point` (an id;
    absent or empty: the row rates the clip as a whole, stored with `selling_point`
    None) and either `rating` or `clicks` and `impressions` (finite numbers); any other
    field is refused.

    Raises:
        ValidationError: unknown fields or ids, missing, non-finite or out-of-range
            values (all problems listed, each with its line).
    """
    problems: list[str] = []
    parsed: list[tuple[dict[str, Any], float | None, tuple[float, float] | None]] = []
    for n, row in _rows(path, text):
        if isinstance(row, str):
            problems.append(row)
            continue
        where = f"{path}:{n}"
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            problems.append(f"{where}: {unknown[0]}: unknown field (expected "
                            f"{', '.join(FIELDS)})")
            continue
        try:
            clip = check_id("clip", row.get("clip"))
            sp = (None if row.get("selling_point") is None
                  else check_id("selling_point", row.get("selling_point")))
        except InputError as e:
            problems.append(f"{where}: {e}")
            continue
        if clip not in clips:
            problems.append(f"{where}: unknown clip id {clip!r}")
        if sp is not None and sp not in selling_points:
            problems.append(f"{where}: unknown selling_point id {sp!r}")
        try:
            rating, clicks, shown = (_number(row, "rating", -MAX_COUNT, MAX_COUNT),
                                     _number(row, "clicks", -MAX_COUNT, MAX_COUNT),
                                     _number(row, "impressions", -MAX_COUNT, MAX_COUNT))
        except InputError as e:
            problems.append(f"{where}: {e}")
            continue
        if rating is not None:
            if not 1 <= rating <= 5:
                problems.append(f"{where}: rating must be 1-5, got {rating:g}")
            parsed.append((row, rating, None))
        elif clicks is not None and shown is not None:
            if shown <= 0 or not 0 <= clicks <= shown:
                problems.append(f"{where}: need 0 <= clicks <= impressions and impressions > 0, "
                                f"got {clicks:g}/{shown:g}")
            parsed.append((row, None, (clicks, shown)))
        else:
            problems.append(f"{where}: give rating (1-5) or clicks and impressions")
    if not parsed and not problems:
        problems.append(f"{path}: no feedback rows")
    if problems:
        raise ValidationError(problems, f"feedback file {path}")
    total_clicks = sum(c for _, _, ct in parsed if ct for c in ct[:1])
    total_shown = sum(s for _, _, ct in parsed if ct for s in ct[1:])
    base = total_clicks / total_shown if total_shown else 0.0
    out = []
    for row, rating, ct in parsed:
        if rating is not None:
            value = (rating - 3.0) / 2.0
        else:
            assert ct is not None
            rate = ct[0] / ct[1]
            value = math.tanh((rate - base) / base) if base > 0 else -1.0
        sp_key = row.get("selling_point")
        out.append({"clip": str(row["clip"]), "selling_point": None if sp_key is None
                    else str(sp_key),
                    "value": round(value, 6), "raw": {k: row[k] for k in
                                                      ("rating", "clicks", "impressions")
                                                      if row.get(k) not in (None, "")}})
    return out


def append_feedback(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """Append rows to `<folder>/feedback.jsonl` in one write."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FEEDBACK_NAME
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    return path


def load_feedback(folder: Path) -> list[dict[str, Any]]:
    """Every stored feedback row (empty when none was given)."""
    path = folder / FEEDBACK_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def feedback_by_rows(rows: list[dict[str, Any]], clip_row: dict[str, int],
                     sp_row: dict[str, int]) -> dict[tuple[int, int], float]:
    """Mean feedback value per (clip row, selling-point row); ids no longer in the graph
    drop, and so do whole-clip rows (`clip_feedback` reads those)."""
    acc: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        if r["clip"] in clip_row and r.get("selling_point") in sp_row:
            acc.setdefault((clip_row[r["clip"]], sp_row[r["selling_point"]]), []).append(
                float(r["value"]))
    return {k: sum(v) / len(v) for k, v in acc.items()}


def clip_feedback(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Feedback values of whole-clip rows (no selling point), by clip id, in file order."""
    out: dict[str, list[float]] = {}
    for r in rows:
        if r.get("selling_point") is None:
            out.setdefault(str(r["clip"]), []).append(float(r["value"]))
    return out


def stored_feedback(folder: Path, id_maps: dict[str, list[str]]) -> dict[tuple[int, int], float]:
    """The feedback stored in `folder`, by (clip row, selling-point row) of this export."""
    return feedback_by_rows(load_feedback(folder),
                            {k: i for i, k in enumerate(id_maps.get("clip", []))},
                            {k: i for i, k in enumerate(id_maps.get("selling_point", []))})


# Mean feedback value from which users' verdict on a (clip, selling point) pair counts as
# a link: a rating of 4 or more, or a click-through rate about 1.55x the file's average.
EVIDENCE_MIN = 0.5


def with_feedback_links(data: Any, feedback: dict[tuple[int, int], float]) -> Any:
    """`data` with each well-rated (clip, selling point) pair as a curated EXPRESSES link.

    A pair whose mean feedback is at least `EVIDENCE_MIN` joins the curated links,
    weighted by that mean (an automatic link of the pair is promoted; a curated one is
    left as the curator set it), so SAR treats it as a curator's link: a positive in
    training and graph evidence at retrieval. The graph version changes with it, so
    indexes built on the graph alone are not reused.
    """
    import hashlib

    import torch

    rel = RELATIONSHIPS["EXPRESSES"].pyg
    if rel in data.edge_types:
        index, attr = data[rel].edge_index, data[rel].edge_attr
    else:
        index, attr = torch.zeros((2, 0), dtype=torch.long), torch.zeros((0, 2))
    position = {pair: j for j, pair in enumerate(map(tuple, index.T.tolist()))}
    new: list[tuple[tuple[int, int], int | None, float]] = []
    promoted: list[tuple[tuple[int, int], int | None, float]] = []
    for pair, value in sorted(feedback.items()):
        j = position.get(pair)
        if value < EVIDENCE_MIN or (j is not None and attr[j, 1] > 0.5):
            continue
        (new if j is None else promoted).append((pair, j, value))
    if not new and not promoted:
        return data
    out = data.clone()
    attr = attr.clone()
    for _, j, value in promoted:
        attr[j] = torch.tensor([value, 1.0])
    out[rel].edge_index = torch.cat(
        [index, torch.tensor([list(p) for p, _, _ in new], dtype=torch.long).view(-1, 2).T], dim=1)
    out[rel].edge_attr = torch.cat(
        [attr, torch.tensor([[v, 1.0] for _, _, v in new], dtype=torch.float32).view(-1, 2)])
    digest = hashlib.sha1(json.dumps([(p, v) for p, _, v in new + promoted]).encode()).hexdigest()
    out.graph_version = f"{getattr(data, 'graph_version', '')}+feedback{digest[:8]}"
    return out
