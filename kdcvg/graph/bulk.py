"""First load into an empty embedded database through ArcadeDB's own batch API.

`UNWIND ... MERGE` over Bolt pays for a key lookup per row and a Bolt round trip
per chunk; ArcadeDB's `GraphBatch` appends vertices and edges directly. It
commits in its own transactions, so all-or-nothing is kept another way: the
database must be empty before, everything is validated before the first write,
and a failure wipes what was loaded, leaving the database empty again.
"""

from __future__ import annotations

from typing import Any

from kdcvg.errors import StoreError, ValidationError
from kdcvg.graph.ingest import IngestReport, Progress, TextEmbedder, _embed_rows, validate_batch
from kdcvg.graph.records import IngestBatch, now_iso
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.store import Store


def _is_empty(store: Store) -> int:
    return sum(r["nodes"] for r in store.query("label_counts"))


def _wipe(db: Any) -> None:
    """Delete every record of the schema's types (the database was empty before)."""
    for rel in RELATIONSHIPS:
        if db.schema.exists_type(rel):
            db.command("sql", f"TRUNCATE TYPE `{rel}` UNSAFE")
    for label in NODES:
        if db.schema.exists_type(label):
            db.command("sql", f"TRUNCATE TYPE `{label}` UNSAFE")


def bulk_load(store: Store, batch: IngestBatch, embedder: TextEmbedder | None,
              progress: Progress | None = None) -> IngestReport:
    """Load `batch` into an empty embedded database, much faster than `write_batch`.

    Raises:
        StoreError: the store is not the in-process embedded server, or is not empty.
        ValidationError: a link names a node missing from the batch; nothing is written.
    """
    if store.server is None:
        raise StoreError("--bulk loads through the embedded server's own API: it needs the "
                         "embedded database (--db), not a Neo4j or served one")
    held = _is_empty(store)
    if held:
        raise StoreError(f"--bulk is for a first load into an empty database, and this one holds "
                         f"{held} nodes; ingest without --bulk to merge into it")
    problems = validate_batch(store, batch)
    if problems:
        raise ValidationError(problems, "links to missing nodes")
    report = IngestReport(embedded=_embed_rows(batch, embedder))
    db = store.server.database(store.database)
    for rel in RELATIONSHIPS:
        db.schema.get_or_create_edge_type(rel)
    stamp = now_iso()
    rids: dict[str, dict[str, str]] = {}
    try:
        edge_count = sum(len(v) for v in batch.links.values())
        with db.graph_batch(expected_edge_count=max(edge_count, 1), bidirectional=True) as gb:
            for label in NODES:
                rows = batch.nodes.get(label, [])
                if not rows:
                    continue
                key = NODES[label].key
                props = [{k: v for k, v in r.items() if v is not None} | {"created_at": r.get("created_at", stamp)}
                         for r in rows]
                created = gb.create_vertices(label, props)
                rids[label] = {str(r[key]): rid for r, rid in zip(rows, created, strict=True)}
                report.written[label] = len(rows)
                if progress:
                    progress(len(rows))
            for rel, rows in batch.links.items():
                spec = RELATIONSHIPS[rel]
                src = [rids[spec.source][r["source"]] for r in rows]
                dst = [rids[spec.target][r["target"]] for r in rows]
                properties = [r["props"] for r in rows] if spec.properties else None
                gb.new_edges(src, rel, dst, properties)
                report.written[rel] = len(rows)
                if progress:
                    progress(len(rows))
    except Exception as e:
        _wipe(db)
        raise StoreError(f"bulk load failed and was undone (the database is empty again): {e}") from e
    return report
