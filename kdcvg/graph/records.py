"""Curator files (CSV or JSONL) read into an `IngestBatch`, every problem named by file, line and field.

Each record has a `type`: product, category, selling_point, clip, motion_pattern
or link. The README documents the fields; `examples/ackb.jsonl` shows them.
Parsing is pure: nothing here touches the store.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kdcvg.errors import ValidationError
from kdcvg.graph.schema import (
    LINK_SOURCES,
    MAX_DISTORTIONS,
    MAX_TEXT_CHARS,
    MOTION_KINDS,
    NODES,
    RELATIONSHIPS,
)

# Record type -> node label. `link` records name their relationship in `rel`.
RECORD_TYPES = {spec.pyg: label for label, spec in NODES.items()}
LINK_FIELDS = ("rel", "from", "to", "weight", "score", "source")
_NUMBER_FIELDS = {"duration_s": float, "fps": float, "width": int, "height": int}
# Short, human-entered fields; free text (descriptions, captions) may be longer.
_MAX_NAME_CHARS = 200
# Lists of short texts: a JSON list in JSONL, `|`-separated text in a CSV cell.
_LIST_FIELDS = {"distortions": MAX_DISTORTIONS}
_CSV_LIST_SEPARATOR = "|"


@dataclass
class IngestBatch:
    """Rows to write: `nodes[label]` flat dicts, `links[REL_TYPE]` {source, target, props}.

    `origin` maps (label, key) and (rel type, source, target) to where the row came from,
    for error messages.
    """

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    origin: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add_node(self, label: str, row: dict[str, Any], where: str = "") -> None:
        ident = (label, str(row[NODES[label].key]))
        if ident in self.origin:  # a category named by several products, say
            return
        self.nodes.setdefault(label, []).append(row)
        self.origin[ident] = where

    def add_link(self, rel: str, source: str, target: str, props: dict[str, Any] | None = None,
                 where: str = "") -> None:
        self.links.setdefault(rel, []).append({"source": source, "target": target,
                                               "props": props or {}})
        self.origin[(rel, source, target)] = where

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in (self.nodes | self.links).items() if v}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, raw record) pairs; raises ValidationError on unreadable files."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValidationError([f"{path}: cannot read ({e.strerror})"], "unreadable file") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad_line = data[: e.start].count(b"\n") + 1
        raise ValidationError([f"{path}:{bad_line}: not UTF-8 text (byte {e.start}); "
                               "save the file as UTF-8"], "wrong encoding") from e
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        try:  # one parse of the whole file is about 3x faster than one per line
            values = json.loads("[" + ",".join(line for _, line in numbered) + "]")
        except json.JSONDecodeError:
            values = None  # the per-line pass below names the bad lines
        if values is not None and len(values) == len(numbered) and \
                all(isinstance(v, dict) for v in values):
            return [(n, v) for (n, _), v in zip(numbered, values, strict=True)]
        rows, problems = [], []
        for number, line in numbered:
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{number}: malformed JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(value, dict):
                problems.append(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
                continue
            rows.append((number, value))
        if problems:
            raise ValidationError(problems, "malformed JSONL")
        return rows
    if suffix == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
            rows = []
            for record in reader:
                if None in record:
                    raise ValidationError([f"{path}:{reader.line_num}: more cells than header "
                                           "columns"], "malformed CSV")
                # empty cells mean "not given"
                rows.append((reader.line_num, {k: v for k, v in record.items() if v not in ("", None)}))
        except csv.Error as e:
            raise ValidationError([f"{path}: malformed CSV ({e})"], "malformed CSV") from e
        return rows
    raise ValidationError([f"{path}: unknown file type {suffix!r}; expected .csv or .jsonl"],
                          "unsupported file")


def _check_text(where: str, name: str, value: Any, problems: list[str], limit: int) -> str | None:
    if not isinstance(value, str):
        problems.append(f"{where}: {name}: expected text, got {type(value).__name__}")
        return None
    value = value.strip()
    if not value:
        problems.append(f"{where}: {name}: is empty")
        return None
    if len(value) > limit:
        problems.append(f"{where}: {name}: is {len(value)} characters, the limit is {limit}")
        return None
    return value


def _check_number(where: str, name: str, value: Any, kind: type, problems: list[str],
                  lo: float | None = None, hi: float | None = None) -> float | int | None:
    try:
        number = kind(value)
        if isinstance(value, bool) or (kind is int and float(value) != number):
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"{where}: {name}: expected {'an integer' if kind is int else 'a number'}, "
                        f"got {value!r}")
        return None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        problems.append(f"{where}: {name}: {number} is outside [{lo}, {hi}]")
        return None
    return number


def _check_text_list(where: str, name: str, value: Any, problems: list[str], max_items: int,
                     from_csv: bool) -> list[str] | None:
    """A list of short texts: each non-empty and at most `_MAX_NAME_CHARS` characters."""
    if from_csv and isinstance(value, str):
        value = value.split(_CSV_LIST_SEPARATOR)
    if not isinstance(value, list):
        problems.append(f"{where}: {name}: expected a list of texts, got {type(value).__name__}")
        return None
    if len(value) > max_items:
        problems.append(f"{where}: {name}: has {len(value)} items, the limit is {max_items}")
        return None
    before = len(problems)
    items = [_check_text(where, f"{name}: item {i}", item, problems, _MAX_NAME_CHARS)
             for i, item in enumerate(value, start=1)]
    if len(problems) > before:
        return None
    return [item for item in items if item is not None]


_NODE_KEYS = {label: frozenset({"type", spec.key, *spec.required, *spec.optional})
              for label, spec in NODES.items()}


def _parse_node(where: str, label: str, raw: dict[str, Any], problems: list[str],
                created_at: str, from_csv: bool = False) -> dict[str, Any] | None:
    spec = NODES[label]
    allowed = _NODE_KEYS[label]
    before = len(problems)
    for name in sorted(raw.keys() - allowed):
        problems.append(f"{where}: {name}: unknown field for {spec.pyg} "
                        f"(expected {', '.join(sorted(allowed - {'type'}))})")
    row: dict[str, Any] = {}
    for name in (spec.key, *spec.required):
        if raw.get(name) in (None, ""):
            problems.append(f"{where}: {name}: required for {spec.pyg}")
    for name in (spec.key, *spec.required, *spec.optional):
        if raw.get(name) in (None, ""):
            continue
        value = raw[name]
        if name in _NUMBER_FIELDS:
            row[name] = _check_number(where, name, value, _NUMBER_FIELDS[name], problems, lo=0)
        elif name in _LIST_FIELDS:
            row[name] = _check_text_list(where, name, value, problems, _LIST_FIELDS[name],
                                         from_csv)
        else:
            limit = MAX_TEXT_CHARS if name in ("text", "caption", "description", "uri") \
                else _MAX_NAME_CHARS
            row[name] = _check_text(where, name, value, problems, limit)
    if label == "MotionPattern" and row.get("kind") not in (None, *MOTION_KINDS):
        problems.append(f"{where}: kind: {row['kind']!r} is not one of {', '.join(MOTION_KINDS)}")
    if label == "SellingPoint" and row.get("source") not in (None, *LINK_SOURCES):
        problems.append(f"{where}: source: {row['source']!r} is not one of "
                        f"{', '.join(LINK_SOURCES)}")
    if len(problems) > before:
        return None
    row["created_at"] = created_at
    return row


_LINK_KEYS = frozenset({"type", *LINK_FIELDS})


def _parse_link(where: str, raw: dict[str, Any], problems: list[str]) -> tuple | None:
    before = len(problems)
    for name in sorted(raw.keys() - _LINK_KEYS):
        problems.append(f"{where}: {name}: unknown field for link "
                        f"(expected {', '.join(LINK_FIELDS)})")
    rel = str(raw.get("rel", "")).upper()
    if rel not in RELATIONSHIPS:
        problems.append(f"{where}: rel: {raw.get('rel')!r} is not one of "
                        f"{', '.join(RELATIONSHIPS)}")
        return None
    spec = RELATIONSHIPS[rel]
    start = _check_text(where, "from", raw.get("from", ""), problems, _MAX_NAME_CHARS)
    end = _check_text(where, "to", raw.get("to", ""), problems, _MAX_NAME_CHARS)
    props: dict[str, Any] = {}
    for name in ("weight", "score"):
        if raw.get(name) in (None, ""):
            continue
        if name not in spec.properties:
            problems.append(f"{where}: {name}: {rel} links carry no {name}")
        else:
            props[name] = _check_number(where, name, raw[name], float, problems, lo=0.0, hi=1.0)
    if raw.get("source") not in (None, ""):
        if "source" not in spec.properties:
            problems.append(f"{where}: source: {rel} links carry no source")
        elif raw["source"] not in LINK_SOURCES:
            problems.append(f"{where}: source: {raw['source']!r} is not one of "
                            f"{', '.join(LINK_SOURCES)}")
        else:
            props["source"] = raw["source"]
    elif "source" in spec.properties:
        props["source"] = "curated"  # a curator's file speaks for the curator
    if rel == "EXPRESSES":
        props.setdefault("weight", 1.0)
    if rel == "HAS_MOTION":
        props.setdefault("score", 1.0)
    if len(problems) > before:
        return None
    return rel, start, end, props


def read_batch(path: Path) -> IngestBatch:
    """Parse a curator file into an `IngestBatch`.

    Checks everything that needs no store: record types, required fields, types,
    unknown fields, empty or over-long text, duplicate ids inside the file.

    Raises:
        ValidationError: with every problem found, each as "file:line: field: what".
    """
    batch = IngestBatch()
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    created_at = now_iso()
    from_csv = path.suffix.lower() == ".csv"
    prefix = f"{path}:"
    for number, raw in _read_rows(path):
        where = prefix + str(number)
        kind = raw.get("type")
        if kind == "link":
            parsed = _parse_link(where, raw, problems)
            if parsed is not None:
                rel, start, end, props = parsed
                ident = (rel, f"{start}->{end}")
                if ident in seen:
                    problems.append(f"{where}: from/to: duplicate {rel} link {start} -> {end} "
                                    f"(first at {seen[ident]})")
                seen[ident] = where
                batch.add_link(rel, start, end, props, where)
            continue
        if kind not in RECORD_TYPES:
            problems.append(f"{where}: type: {kind!r} is not one of "
                            f"{', '.join([*RECORD_TYPES, 'link'])}")
            continue
        label = RECORD_TYPES[kind]
        row = _parse_node(where, label, raw, problems, created_at, from_csv)
        if row is None:
            continue
        key = str(row[NODES[label].key])
        if (label, key) in seen:
            problems.append(f"{where}: {NODES[label].key}: duplicate {kind} {key!r} "
                            f"(first at {seen[(label, key)]})")
            continue
        seen[(label, key)] = where
        _add_node_and_implied_links(batch, label, row, where)
    if problems:
        raise ValidationError(problems, f"{path}")
    if not batch.nodes and not batch.links:
        raise ValidationError([f"{path}: holds no records"], f"{path}")
    return batch


def _add_node_and_implied_links(batch: IngestBatch, label: str, row: dict[str, Any],
                                where: str) -> None:
    """A product's `category`, a selling point's or clip's `product` become links."""
    if label == "Product" and "category" in row:
        category = row.pop("category")
        if ("Category", category) not in batch.origin:
            batch.add_node("Category", {"name": category, "created_at": row["created_at"]}, where)
        batch.add_link("IN_CATEGORY", row["id"], category, where=where)
    if label == "SellingPoint":
        batch.add_link("HAS_SELLING_POINT", row.pop("product"), row["id"], where=where)
        row.setdefault("source", "curated")
    if label == "Clip" and "product" in row:
        batch.add_link("SHOWS", row["id"], row.pop("product"), where=where)
    batch.add_node(label, row, where)
