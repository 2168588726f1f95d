from pathlib import Path

import pytest

from kdcvg.errors import KdcvgError, ValidationError
from kdcvg.graph.ingest import diff_batch, write_batch
from kdcvg.graph.records import IngestBatch, read_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def counts(store):
    s = store.stats()
    return {k: v["nodes"] for k, v in s["nodes"].items()} | s["relationships"]


def test_write_then_reingest_changes_nothing(store, embedder):
    batch = read_batch(EXAMPLES / "ackb.jsonl")
    report = write_batch(store, batch, embedder)
    assert report.written["SellingPoint"] == 2 and report.embedded == 7
    before = counts(store)
    assert before["Clip"] == 1 and before["EXPRESSES"] == 1
    created = store.cypher("MATCH (c:Clip) RETURN c.created_at AS t")[0]["t"]

    again = diff_batch(store, read_batch(EXAMPLES / "ackb.jsonl"))
    assert sum(again.created.values()) == 0 and sum(again.changed.values()) == 0
    write_batch(store, read_batch(EXAMPLES / "ackb.jsonl"), embedder)
    assert counts(store) == before
    assert store.cypher("MATCH (c:Clip) RETURN c.created_at AS t")[0]["t"] == created


def test_embeddings_are_stored_unit_norm(store, embedder):
    write_batch(store, read_batch(EXAMPLES / "ackb.jsonl"), embedder)
    row = store.cypher("MATCH (s:SellingPoint {id: $id}) RETURN s.embedding AS e", {"id": "sp-cold-brew-1"})[0]
    assert len(row["e"]) == 384
    assert abs(sum(x * x for x in row["e"]) - 1.0) < 1e-4


def test_dry_run_reports_changes_and_writes_nothing(store, embedder):
    write_batch(store, read_batch(EXAMPLES / "ackb.jsonl"), embedder)
    batch = IngestBatch()
    batch.add_node("Product", {"id": "p-cold-brew", "name": "Nitro Cold Brew 2"})
    batch.add_node("Product", {"id": "p-new", "name": "New"})
    report = diff_batch(store, batch)
    assert (report.created["Product"], report.changed["Product"], report.unchanged["Product"]) == (1, 1, 0)
    assert store.cypher("MATCH (p:Product {id: 'p-cold-brew'}) RETURN p.name AS n")[0]["n"] == "Nitro Cold Brew"
    assert counts(store)["Product"] == 1


def test_link_to_missing_node_writes_nothing(store, embedder):
    batch = IngestBatch()
    batch.add_node("Product", {"id": "p1", "name": "A"})
    batch.add_link("SHOWS", "clip-x", "p1", where="f.jsonl:2")
    with pytest.raises(ValidationError) as info:
        write_batch(store, batch, embedder)
    assert info.value.problems == ["f.jsonl:2: from: clip 'clip-x' does not exist in this file or in the graph"]
    assert counts(store)["Product"] == 0


def test_failure_mid_transaction_rolls_back_the_whole_batch(store):
    batch = IngestBatch()
    for i in range(3):
        batch.add_node("Product", {"id": f"p{i}", "name": f"P{i}"})
    # a map is not a valid property value: the clip merge fails after the products were merged
    batch.add_node("Clip", {"id": "c1", "uri": "a.mp4", "caption": "c", "bad": {"nested": 1}})
    with pytest.raises(KdcvgError, match="InvalidPropertyType"):
        write_batch(store, batch, embedder=None)
    assert counts(store)["Product"] == 0 and counts(store)["Clip"] == 0


def test_duplicate_id_across_files_is_a_merge_not_an_error(store, embedder, tmp_path):
    write_batch(store, read_batch(EXAMPLES / "ackb.jsonl"), embedder)
    more = tmp_path / "more.jsonl"
    more.write_text('{"type": "selling_point", "id": "sp-cold-brew-3", "product": "p-cold-brew", '
                    '"text": "Brewed for 20 hours"}\n')
    write_batch(store, read_batch(more), embedder)
    rows = store.query("selling_points_of_product", product="p-cold-brew")
    assert [r["id"] for r in rows] == ["sp-cold-brew-1", "sp-cold-brew-2", "sp-cold-brew-3"]


def test_motion_pattern_distortions_round_trip(store, embedder, tmp_path):
    path = tmp_path / "patterns.jsonl"
    path.write_text('{"type": "motion_pattern", "name": "pour", "kind": "object", '
                    '"distortions": ["liquid floating upward", "splash outside the glass"]}\n'
                    '{"type": "motion_pattern", "name": "spin", "kind": "object"}\n')
    write_batch(store, read_batch(path), embedder)
    rows = store.query("mkr_distortions", patterns=["pour", "spin", "nowhere"])
    assert sorted((r["pattern"], list(r["distortions"])) for r in rows) == [
        ("pour", ["liquid floating upward", "splash outside the glass"]), ("spin", [])]
    again = diff_batch(store, read_batch(path))
    assert again.unchanged["MotionPattern"] == 2
