"""Curator files (CSV or JSONL) read into an `IngestBatch`, every problem named by file, line and field.

Each record has a `type`: product, category, selling_point, clip, motion_pattern
or link. The README documents the fields; `examples/ackb.jsonl` shows them.
Parsing is pure: nothing here touches the store.
"""

from __future__ import annotations

import csv
import io
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
from kdcvg.jsonl import gc_paused, parse_lines
from kdcvg.validation import (
    CLIP_NUMBER_BOUNDS,
    NAME_MAX_CHARS,
    InputError,
    check_id,
    check_number,
    check_text,
    shown,
)

# Record type -> node label. `link` records name their relationship in `rel`.
RECORD_TYPES = {spec.pyg: label for label, spec in NODES.items()}
LINK_FIELDS = ("rel", "from", "to", "weight", "score", "source")
_NUMBER_FIELDS = CLIP_NUMBER_BOUNDS  # name -> (kind, lo, hi)
# Fields holding the id of a node keyed by `id` (the others are names, as Category's).
_ID_FIELDS = ("id", "product")
_FREE_TEXT_FIELDS = ("text", "caption", "description")  # may be long and hold line breaks
# Short, human-entered fields; free text (descriptions, captions) may be longer.
_MAX_NAME_CHARS = NAME_MAX_CHARS
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


def _read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """(line number, raw record) pairs and (line number, problem) pairs of lines that hold
    no record; raises ValidationError on unreadable files."""
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
    if suffix in (".jsonl", ".ndjson"):  # one object per line, each problem at its own line
        values, bad = parse_lines(text)
        others = [(n, v) for n, v in values if not isinstance(v, dict)]
        if not others:
            return values, bad
        # reported with the other problems, at their lines
        bad += [(n, f"expected a JSON object, got {type(v).__name__}") for n, v in others]
        return [(n, v) for n, v in values if isinstance(v, dict)], sorted(bad)
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
        return rows, []
    raise ValidationError([f"{path}: unknown file type {suffix!r}; expected .csv or .jsonl"],
                          "unsupported file")


def _check(problems: list[str], where: str, check: Any, *args: Any, **kwargs: Any) -> Any:
    """`check(*args)`, or None with its `InputError` added to `problems` at `where`."""
    try:
        return check(*args, **kwargs)
    except InputError as e:
        problems.append(f"{where}: {e}")
        return None


def _check_text(where: str, name: str, value: Any, problems: list[str], limit: int) -> str | None:
    try:
        return check_text(name, value, limit)
    except InputError as e:
        problems.append(f"{where}: {e}")
        return None


def _check_key(where: str, name: str, label: str, value: Any,
               problems: list[str]) -> str | None:
    """A node key or a reference to one: the id rule for `id` keys, the name rule otherwise."""
    try:
        if NODES[label].key == "id":
            return check_id(name, value)
        return check_text(name, value, _MAX_NAME_CHARS)
    except InputError as e:
        problems.append(f"{where}: {e}")
        return None


def _check_number(where: str, name: str, value: Any, kind: type, problems: list[str],
                  lo: float | None = None, hi: float | None = None) -> float | int | None:
    try:
        return check_number(name, value, kind, lo, hi)
    except InputError as e:
        problems.append(f"{where}: {e}")
        return None


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
            kind, lo, hi = _NUMBER_FIELDS[name]
            row[name] = _check_number(where, name, value, kind, problems, lo, hi)
        elif name in _LIST_FIELDS:
            row[name] = _check_text_list(where, name, value, problems, _LIST_FIELDS[name],
                                         from_csv)
        elif name == spec.key:
            row[name] = _check_key(where, name, label, value, problems)
        elif name in _ID_FIELDS:
            row[name] = _check(problems, where, check_id, name, value)
        elif name == "uri":
            row[name] = _check(problems, where, check_text, name, value, MAX_TEXT_CHARS,
                               multiline=False)
        else:
            limit = MAX_TEXT_CHARS if name in _FREE_TEXT_FIELDS else _MAX_NAME_CHARS
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


def _parse_link(where: str, raw: dict[str, Any],
                problems: list[str]) -> tuple[str, str, str, dict[str, Any]] | None:
    before = len(problems)
    for name in sorted(raw.keys() - _LINK_KEYS):
        problems.append(f"{where}: {name}: unknown field for link "
                        f"(expected {', '.join(LINK_FIELDS)})")
    rel = raw.get("rel", "")
    rel = rel.upper() if isinstance(rel, str) else rel
    if not isinstance(rel, str) or rel not in RELATIONSHIPS:
        problems.append(f"{where}: rel: {shown(raw.get('rel'))} is not one of "
                        f"{', '.join(RELATIONSHIPS)}")
        return None
    spec = RELATIONSHIPS[rel]
    start = _check_key(where, "from", spec.source, raw.get("from", ""), problems)
    end = _check_key(where, "to", spec.target, raw.get("to", ""), problems)
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
            problems.append(f"{where}: source: {shown(raw['source'])} is not one of "
                            f"{', '.join(LINK_SOURCES)}")
        else:
            props["source"] = raw["source"]
    elif "source" in spec.properties:
        props["source"] = "curated"  # a curator's file speaks for the curator
    if rel == "EXPRESSES":
        props.setdefault("weight", 1.0)
    if rel == "HAS_MOTION":
        props.setdefault("score", 1.0)
    if len(problems) > before or start is None or end is None:  # (each None was a problem)
        return None
    return rel, start, end, props


def read_batch(path: Path) -> IngestBatch:
    """Parse a curator file into an `IngestBatch`.

    Checks everything that needs no store: record types, required fields, types,
    unknown fields, empty or over-long text, duplicate ids inside the file.

    Raises:
        ValidationError: with every problem found, each as "file:line: field: what".
    """
    with gc_paused():  # hundreds of thousands of acyclic rows
        return _read_batch(path)


def _read_batch(path: Path) -> IngestBatch:
    batch = IngestBatch()
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    created_at = now_iso()
    from_csv = path.suffix.lower() == ".csv"
    prefix = f"{path}:"
    rows, unreadable = _read_rows(path)
    unreadable.reverse()  # popped in line order, each before the records after it
    for number, raw in rows:
        while unreadable and unreadable[-1][0] < number:
            line, problem = unreadable.pop()
            problems.append(f"{prefix}{line}: {problem}")
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
        if not isinstance(kind, str) or kind not in RECORD_TYPES:
            problems.append(f"{where}: type: {shown(kind)} is not one of "
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
    problems += [f"{prefix}{line}: {problem}" for line, problem in reversed(unreadable)]
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
