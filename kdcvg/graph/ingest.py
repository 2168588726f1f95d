"""Validate, then write an `IngestBatch` to the store: all or nothing.

Rows are merged on their keys (re-ingesting the same rows changes nothing),
in batches of `UNWIND $rows ... MERGE`, inside one transaction: a failure
mid-way rolls the whole batch back. Embeddings are computed once: a row whose
text is unchanged keeps the stored embedding, and rows (nodes and links) that
are unchanged are not written again, so re-ingesting an unchanged file is
mostly reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kdcvg.errors import ValidationError
from kdcvg.graph.records import IngestBatch, now_iso
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.store import Store, Tx

BATCH_ROWS = 5000
Progress = Callable[[int], None]  # rows just written


class TextEmbedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class IngestReport:
    """What a write did (or, for a dry run, would do), per label and relationship type."""

    written: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    embedded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "created": self.created, "changed": self.changed,
                "unchanged": self.unchanged, "embedded": self.embedded}


def _query_suffix(name: str) -> str:
    return NODES[name].pyg if name in NODES else name.lower()


def _chunks(rows: list[Any], size: int = BATCH_ROWS) -> list[list[Any]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def existing_nodes(store: Store, label: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Properties of the nodes of `label` among `keys` that exist already."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        for row in store.query(f"ingest_existing_{_query_suffix(label)}", keys=chunk):
            found[str(row["key"])] = row["props"]
    return found


def validate_batch(store: Store, batch: IngestBatch) -> list[str]:
    """Problems that need the store: links whose ends are neither in the batch nor in the graph."""
    problems = []
    in_batch = {label: {str(r[NODES[label].key]) for r in rows} for label, rows in batch.nodes.items()}
    wanted: dict[str, set[str]] = {}
    for rel, rows in batch.links.items():
        spec = RELATIONSHIPS[rel]
        for row in rows:
            for label, key in ((spec.source, row["source"]), (spec.target, row["target"])):
                if key not in in_batch.get(label, set()):
                    wanted.setdefault(label, set()).add(key)
    present = {label: set(existing_nodes(store, label, sorted(keys)))
               for label, keys in wanted.items()}
    for rel, rows in batch.links.items():
        spec = RELATIONSHIPS[rel]
        for row in rows:
            where = batch.origin.get((rel, row["source"], row["target"]), rel)
            for side, label, key in (("from", spec.source, row["source"]),
                                     ("to", spec.target, row["target"])):
                if key in wanted.get(label, set()) and key not in present[label]:
                    problems.append(f"{where}: {side}: {NODES[label].pyg} {key!r} does not exist "
                                    "in this file or in the graph")
    return problems


def _embed_rows(batch: IngestBatch, embedder: TextEmbedder | None) -> int:
    """Fill `embedding` on every row that has text to embed, in one batched call per label."""
    if embedder is None:
        return 0
    total = 0
    for label, rows in batch.nodes.items():
        spec = NODES[label]
        if spec.text is None:
            continue
        todo = [r for r in rows if "embedding" not in r]
        texts = [str(r.get(spec.text) or r.get("name") or r[spec.key]) for r in todo]
        if not texts:
            continue
        for row, vector in zip(todo, embedder.embed(texts), strict=True):
            row["embedding"] = [float(x) for x in vector]
        total += len(todo)
    return total


def _embedded_text(label: str, row: dict[str, Any]) -> str:
    """The text `_embed_rows` embeds for a row (its text property, else name, else key)."""
    spec = NODES[label]
    return str(row.get(spec.text or "") or row.get("name") or row[spec.key])


def reuse_embeddings(batch: IngestBatch, existing: dict[str, dict[str, dict[str, Any]]]) -> int:
    """Give rows whose text is unchanged the stored embedding; returns how many.

    Args:
        batch: the rows to write (changed in place).
        existing: label -> key -> stored properties (`existing_nodes`).
    """
    reused = 0
    for label, rows in batch.nodes.items():
        spec = NODES[label]
        if spec.text is None:
            continue
        old_rows = existing.get(label, {})
        for row in rows:
            old = old_rows.get(str(row[spec.key]))
            if ("embedding" in row or old is None or old.get("embedding") is None
                    or _embedded_text(label, old | {spec.key: row[spec.key]})
                    != _embedded_text(label, row)):
                continue
            row["embedding"] = old["embedding"]
            reused += 1
    return reused


Existing = dict[str, dict[str, dict[str, Any]]]  # label -> key -> stored properties


def existing_for(store: Store, batch: IngestBatch) -> Existing:
    """The stored properties of the batch's nodes that exist already, per label."""
    return {label: existing_nodes(store, label, [str(r[NODES[label].key]) for r in rows])
            for label, rows in batch.nodes.items() if rows}


def prefill_embeddings(store: Store, batch: IngestBatch) -> Existing:
    """`reuse_embeddings` against the store: rows with unchanged text get their stored
    embedding before anything else embeds them. Returns what was read, for `write_batch`."""
    existing = existing_for(store, batch)
    reuse_embeddings(batch, existing)
    return existing


def _same_node(row: dict[str, Any], key: str, old: dict[str, Any] | None) -> bool:
    if old is None:
        return False
    return all(old.get(k) == v for k, v in row.items()
               if k not in (key, "created_at") and v is not None)


def _existing_links(store: Store, rel: str, rows: list[dict[str, Any]]
                    ) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in _chunks([{"source": r["source"], "target": r["target"]} for r in rows]):
        for row in store.query(f"ingest_existing_{rel.lower()}", rows=chunk):
            found[(row["source"], row["target"])] = row["props"] or {}
    return found


def _node_rows(label: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = NODES[label].key
    stamp = now_iso()
    return [{"key": r[key],
             "props": {k: v for k, v in r.items() if k not in (key, "created_at") and v is not None},
             "created_at": r.get("created_at", stamp)} for r in rows]


def write_batch(store: Store, batch: IngestBatch, embedder: TextEmbedder | None,
                progress: Progress | None = None,
                existing: Existing | None = None) -> IngestReport:
    """Validate against the store, embed, and write the batch in one WRITE transaction
    (`Store.run_write`: retried as a whole on a transient error).

    Args:
        store: the open store.
        batch: rows to merge (see `IngestBatch`).
        embedder: computes `embedding` for rows with text; None leaves embeddings as given.
        progress: called with the number of rows written after each chunk.
        existing: the batch's stored nodes as `prefill_embeddings` read them just before
            (None: read here).

    Raises:
        ValidationError: a link names a node that exists nowhere; nothing is written.
        StoreError: the server failed mid-way; the transaction is rolled back.
    """
    problems = validate_batch(store, batch)
    if problems:
        raise ValidationError(problems, "links to missing nodes")
    if existing is None:
        existing = existing_for(store, batch)
    reuse_embeddings(batch, existing)
    report = IngestReport(embedded=_embed_rows(batch, embedder))
    node_rows: dict[str, list[dict[str, Any]]] = {}
    for label, rows in batch.nodes.items():
        key = NODES[label].key
        old_nodes = existing.get(label, {})
        node_rows[label] = [r for r in rows
                            if not _same_node(r, key, old_nodes.get(str(r[key])))]
        if len(rows) > len(node_rows[label]):
            report.unchanged[label] = len(rows) - len(node_rows[label])
    link_rows: dict[str, list[dict[str, Any]]] = {}
    for rel, rows in batch.links.items():
        old_links = _existing_links(store, rel, rows) if rows else {}
        link_rows[rel] = [r for r in rows if (r["source"], r["target"]) not in old_links
                          or _differs(r["props"], old_links[(r["source"], r["target"])])]
        if len(rows) > len(link_rows[rel]):
            report.unchanged[rel] = len(rows) - len(link_rows[rel])
    def write(tx: Tx) -> None:
        """The whole batch in one transaction (run again from the start on a retry)."""
        report.written.clear()
        for label in NODES:  # nodes before the links that need them
            rows = _node_rows(label, node_rows.get(label, []))
            for chunk in _chunks(rows):
                tx.run_named(f"ingest_merge_{NODES[label].pyg}", rows=chunk)
                if progress:
                    progress(len(chunk))
            if rows:
                report.written[label] = len(rows)
        for rel in RELATIONSHIPS:
            rows = link_rows.get(rel, [])
            for chunk in _chunks(rows):
                tx.run_named(f"ingest_link_{rel.lower()}", rows=chunk)
                if progress:
                    progress(len(chunk))
            if rows:
                report.written[rel] = len(rows)

    store.run_write(write)
    return report


def _differs(new: dict[str, Any], old: dict[str, Any]) -> bool:
    return any(old.get(k) != v for k, v in new.items() if k not in ("created_at", "embedding"))


def diff_batch(store: Store, batch: IngestBatch) -> IngestReport:
    """What `write_batch` would change, without writing (for `--dry-run`).

    Raises:
        ValidationError: as `write_batch` would.
    """
    problems = validate_batch(store, batch)
    if problems:
        raise ValidationError(problems, "links to missing nodes")
    report = IngestReport()
    for label, rows in batch.nodes.items():
        key = NODES[label].key
        old = existing_nodes(store, label, [str(r[key]) for r in rows])
        created = [r for r in rows if str(r[key]) not in old]
        changed = [r for r in rows if str(r[key]) in old and _differs(r, old[str(r[key])])]
        report.created[label], report.changed[label] = len(created), len(changed)
        report.unchanged[label] = len(rows) - len(created) - len(changed)
    for rel, rows in batch.links.items():
        old_links: dict[tuple[str, str], dict[str, Any]] = {}
        for chunk in _chunks([{"source": r["source"], "target": r["target"]} for r in rows]):
            for row in store.query(f"ingest_existing_{rel.lower()}", rows=chunk):
                old_links[(row["source"], row["target"])] = row["props"]
        created_n = sum((r["source"], r["target"]) not in old_links for r in rows)
        changed_n = sum((r["source"], r["target"]) in old_links
                        and _differs(r["props"], old_links[(r["source"], r["target"])])
                        for r in rows)
        report.created[rel], report.changed[rel] = created_n, changed_n
        report.unchanged[rel] = len(rows) - created_n - changed_n
    return report
