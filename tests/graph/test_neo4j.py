"""The same store code against a real Neo4j 5 server: run with NEO4J_URI set (see README)."""

import json
import os
from pathlib import Path

import pytest

from kdcvg.config import resolve_store
from kdcvg.graph.export import export_graph
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.queries import list_queries, load_query
from kdcvg.graph.records import read_batch
from kdcvg.graph.store import open_store
from tests.graph.test_queries import SAMPLES, _Rollback

pytestmark = [
    pytest.mark.neo4j,
    pytest.mark.skipif(not os.environ.get("NEO4J_URI"),
                       reason="NEO4J_URI is not set: the Neo4j server tests need a Neo4j 5 server"),
]
ROOT = Path(__file__).resolve().parents[2]
PREFIX = "kdcvg-test-"


@pytest.fixture
def neo4j_store(tmp_path, embedder):
    """The example graph with every key prefixed, removed again afterwards."""
    lines = []
    for line in (ROOT / "examples" / "ackb.jsonl").read_text().splitlines():
        record = json.loads(line)
        for field in ("id", "product", "from", "to", "name", "category"):
            if field in record and not (record["type"] == "product" and field == "name"):
                record[field] = PREFIX + record[field]
        lines.append(json.dumps(record))
    path = tmp_path / "prefixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with open_store(resolve_store(neo4j_uri=os.environ["NEO4J_URI"])) as store:
        write_batch(store, read_batch(path), embedder)
        yield store
        with store.transaction() as tx:
            tx.run_text("MATCH (n) WHERE coalesce(n.id, n.name) STARTS WITH $prefix DETACH DELETE n",
                        prefix=PREFIX)


def test_schema_and_named_queries_on_neo4j(neo4j_store):
    assert neo4j_store.flavor == "neo4j"
    indexes = {r["name"] for r in neo4j_store.cypher("SHOW INDEXES YIELD name RETURN name")}
    assert {"selling_point_embedding", "clip_embedding"} <= indexes
    rows = neo4j_store.query("selling_points_of_product", product=PREFIX + "p-cold-brew")
    assert [r["id"] for r in rows] == [PREFIX + "sp-cold-brew-1", PREFIX + "sp-cold-brew-2"]
    for query in list_queries():  # every named query runs on Neo4j (writes rolled back)
        variant = load_query(query.name, "neo4j")
        params = {p: SAMPLES[p] for p in variant.params}
        with pytest.raises(_Rollback), neo4j_store.transaction() as tx:
            for statement in variant.statements:
                tx.run_text(statement, **params)
            raise _Rollback


def test_read_only_cypher_and_export_on_neo4j(neo4j_store):
    from kdcvg.errors import QueryError

    with pytest.raises(QueryError, match="read-only"):
        neo4j_store.cypher("MATCH (n) DETACH DELETE n")
    data, ids = export_graph(neo4j_store)
    assert PREFIX + "clip-cascade" in ids["clip"]
