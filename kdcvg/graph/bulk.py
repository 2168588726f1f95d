"""First load into an empty embedded database through ArcadeDB's own batch API.

`UNWIND ... MERGE` over Bolt pays for a key lookup per row and a Bolt round trip
per chunk; ArcadeDB's `GraphBatch` appends vertices and edges directly, here
without a write-ahead log and in large commits. It commits in its own
transactions, so all-or-nothing is kept another way: the database must be empty
before, everything is validated before the first write, and a failure wipes what
was loaded, leaving the database empty again. A process killed mid-load cannot
wipe: the marker file it leaves makes the next open refuse the folder, which the
user deletes and loads again (it held nothing before). Ctrl-C and SIGTERM unwind
like a failure (see `kdcvg.interrupts`): the load is wiped and the marker removed.
"""

from __future__ import annotations

from kdcvg.errors import StoreError, ValidationError
from kdcvg.graph.ingest import IngestReport, Progress, TextEmbedder, _embed_rows, validate_batch
from kdcvg.graph.records import IngestBatch, now_iso
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.server import BULK_MARKER
from kdcvg.graph.store import Store


def _node_count(store: Store) -> int:
    return sum(r["nodes"] for r in store.query("label_counts"))


def _wipe(store: Store) -> None:
    """Delete every node and relationship (the database was empty before the load)."""
    while store.write("bulk_wipe_batch", limit=10_000)[0]["deleted"]:
        pass


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
    held = _node_count(store)
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
    marker = store.server.root / BULK_MARKER
    try:
        marker.write_text("a --bulk load started here and did not finish\n")
    except OSError as e:
        raise StoreError(f"--bulk cannot write its marker {marker} ({e.strerror}); "
                         "nothing was loaded") from e
    try:
        edge_count = sum(len(v) for v in batch.links.values())
        with db.graph_batch(expected_edge_count=max(edge_count, 1), bidirectional=True,
                            use_wal=False, commit_every=50_000, batch_size=100_000) as gb:
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
    except BaseException as e:  # a failure, or Ctrl-C / SIGTERM (`kdcvg.interrupts`)
        try:
            _wipe(store)
        except Exception as wipe_error:  # the marker stays: the next open refuses the folder
            raise StoreError(f"bulk load failed ({_first_line(e)}) and could not be undone "
                             f"({_first_line(wipe_error)}); delete {store.server.root} and load "
                             "again") from e
        marker.unlink(missing_ok=True)
        if not isinstance(e, Exception):
            raise
        raise StoreError("bulk load failed and was undone (the database is empty again): "
                         f"{_first_line(e)}") from e
    marker.unlink(missing_ok=True)
    return report


def _first_line(error: BaseException) -> str:
    """An error's message in one line: Java exceptions come with their whole stack."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
