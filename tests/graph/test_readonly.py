"""The analyst surface cannot change the graph or its schema, nor read a file: the server refuses.

Every attempt below is driven through the CLI (`graph cypher`, `graph query`) on a real
embedded database, and again straight into `Store.run_read` (the guarded path, no text
check in front) as the analyst. After them all, a content hash of every node, relationship,
index and constraint is unchanged, and a secret marker in a local file was never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.config import StoreConfig
from kdcvg.errors import QueryError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "KDCVG-SECRET-MARKER-7f3a"
runner = CliRunner()

# The text check's message: a friendly early refusal, never the guard.
TEXT_CHECK = "error: ad-hoc Cypher is read-only:"
# What the server answers (its refusal: rights, LOAD CSV off; or its parser's), as
# `Store.run_read` words it.
SERVER = "cypher: "


def attempts(secret_file: Path, users_file: Path) -> list[str]:
    """Writes, schema changes and file reads, most of them dressed up to slip past a text check."""
    files = [f"file://{secret_file}", str(secret_file), f"file://{users_file}", "file:///etc/passwd"]
    return [
        # the issue's repros
        "UNWIND [1] AS `//` CALL { MATCH (s:SellingPoint) DETACH DELETE s } IN TRANSACTIONS RETURN 1",
        "// x\rCREATE INDEX evil FOR (p:Product) ON (p.brand)",
        "// x\rDROP CONSTRAINT product_id",
        "LOAD/**/CSV FROM 'file:///etc/passwd' AS row RETURN row",
        # plain writes
        "CREATE (:Product {id: 'evil'})",
        "create (:Product {id: 'evil'})",
        "MERGE (:Product {id: 'evil'})",
        "MATCH (p:Product) SET p.name = 'evil' RETURN p.id",
        "MATCH (p:Product) SET p += {name: 'evil'} RETURN p.id",
        "MATCH (p:Product) REMOVE p.brand RETURN p.id",
        "MATCH (p:Product) SET p:Evil RETURN p.id",
        "MATCH (n) DETACH DELETE n",
        "MATCH ()-[r:IN_CATEGORY]->() DELETE r",
        "MATCH (a:Product), (b:MotionPattern) MERGE (a)-[:SUGGESTS]->(b)",
        "FOREACH (i IN range(1, 3) | CREATE (:Product {id: 'evil' + i}))",
        "CALL { CREATE (:Product {id: 'evil'}) } RETURN 1",
        "UNWIND [1] AS x CALL { CREATE (:Product {id: 'evil'}) } IN TRANSACTIONS RETURN 1",
        "PROFILE CREATE (:Product {id: 'evil'})",
        # schema
        "CREATE INDEX evil FOR (p:Product) ON (p.brand)",
        "CREATE/**/INDEX evil FOR (p:Product) ON (p.name)",
        "CREATE CONSTRAINT evil FOR (p:Product) REQUIRE p.name IS UNIQUE",
        "DROP CONSTRAINT clip_id",
        "DROP INDEX `Product[id]`",
        # comments, backticks and strings that hide a clause from a text check
        "WITH 1 AS `/*` CREATE (:Product {id: 'evil'}) WITH 1 AS `*/` RETURN 1",
        "RETURN 1 AS `//`\nUNION MATCH (n) DETACH DELETE n RETURN 1 AS `//`",
        "RETURN '\\\\' AS a, 1 AS `'` CREATE (:Product {id: 'evil'}) RETURN 1",
        "MATCH (p:Product) WITH p, '//' AS c SET p.name = c RETURN p.id",
        # unicode tricks
        "// x\u2028CREATE (:Product {id: 'evil'})",
        "// x\u0085CREATE (:Product {id: 'evil'})",
        "CRE\u200bATE (:Product {id: 'evil'})",
        "\uff23\uff32\uff25\uff21\uff34\uff25 (:Product {id: 'evil'})",
        "MATCH (n) DETACH\u00a0DELETE n",
        "MATCH (n) DETACH\u3000DELETE n",
        # procedures that write
        "CALL apoc.merge.node(['Product'], {id: 'evil'}) YIELD node RETURN node",
        "CALL apoc.do.when(true, 'CREATE (:Product {id: \"evil\"})', '', {}) YIELD value RETURN value",
        "MATCH (a:Product) WITH collect(a) AS ps CALL apoc.refactor.mergeNodes(ps, {}) "
        "YIELD node RETURN node",
        "CALL db.migrateLegacyTemporals()",
        # several statements
        "MATCH (n) RETURN count(n); MATCH (n) DETACH DELETE n",
        "CREATE (:Product {id: 'evil'}); RETURN 1",
        # file and network reads
        *[f"LOAD CSV FROM '{f}' AS row RETURN row" for f in files],
        f"LOAD CSV WITH HEADERS FROM 'file://{secret_file}' AS row RETURN row.name",
        f"load csv from 'file://{secret_file}' as row return row",
        "LOAD CSV FROM 'http://127.0.0.1:9/x.csv' AS row RETURN row",
        "LOAD CSV FROM 'https://example.com/x.csv' AS row RETURN row",
    ]


# Internal queries run as analyst queries: refused before the server starts.
INTERNAL_QUERIES = [
    ["bulk_wipe_batch", "-p", "limit=1000"],
    ["clip_prune_auto_motion", "-p", "clip=clip-cascade", "-p", "keep=[]"],
    ["ingest_merge_product", "-p", 'rows=[]'],  # (a map in -p is refused by the parser itself)
    ["schema_constraints"],
    ["export_nodes"],
]


def graph_digest(store: object) -> str:
    """A content hash of every node, relationship, index and constraint (read as the curator)."""
    def rows(text: str) -> list[dict]:
        with store.transaction() as tx:  # type: ignore[attr-defined]
            return tx.run_text(text)

    nodes = rows("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    links = rows("MATCH (a)-[r]->(b) RETURN type(r) AS type, coalesce(a.id, a.name) AS a, "
                 "coalesce(b.id, b.name) AS b, properties(r) AS props")
    indexes = rows("SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint "
                   "RETURN name, type, labelsOrTypes, properties, owningConstraint")
    content = [sorted(json.dumps(r, sort_keys=True, default=str) for r in part)
               for part in (nodes, links, indexes)]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def digest_of(db: Path) -> str:
    from kdcvg.graph.store import open_store

    with open_store(StoreConfig(db=db), init=False) as store:
        return graph_digest(store)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("readonly") / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"),
                                 str(ROOT / "examples" / "products.csv"), "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "secret.csv"
    path.write_text(f"name,value\n{SECRET},1\n")
    return path


def test_there_are_at_least_40_attempts(tmp_path):
    assert len(attempts(tmp_path, tmp_path)) + len(INTERNAL_QUERIES) >= 40


def _refused_by(result, text) -> str:
    """Which refused an attempt the CLI ran: "text check" or "server" (asserting it was refused)."""
    assert result.exit_code == 1, (text, result.output)
    assert result.output.startswith("error: "), (text, result.output)
    assert SECRET not in result.output and "PBKDF2" not in result.output
    assert "root:" not in result.output and "Traceback" not in result.output
    if result.output.startswith(TEXT_CHECK):
        return "text check"
    assert result.output.startswith(f"error: {SERVER}"), (text, result.output)
    return "server"


def test_cli_refuses_the_issue_repros_on_the_folder(db, secret_file):
    """`--db D`: the command starts the embedded server itself and connects as the analyst."""
    before = digest_of(db)
    for text in attempts(secret_file, db / "config" / "server-users.jsonl")[:4]:
        result = runner.invoke(app, ["graph", "cypher", text, "--db", str(db)])
        assert _refused_by(result, text) == "server"
    for args in INTERNAL_QUERIES:
        result = runner.invoke(app, ["graph", "query", *args, "--db", str(db)])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith(f"error: query {args[0]} is internal to kdcvg, "
                                        "not an analyst query; analyst queries: "), result.output
    assert digest_of(db) == before


def test_cli_refuses_every_attempt_on_a_served_folder(db, secret_file):
    """Through `--neo4j` on the served folder: the analyst's credentials come from its file."""
    from kdcvg.graph.server import EmbeddedServer

    before = digest_of(db)
    by = {"text check": 0, "server": 0}
    texts = attempts(secret_file, db / "config" / "server-users.jsonl")
    with EmbeddedServer(db) as server:
        server.lock.record(server.uri)
        server.write_credentials()
        for text in texts:
            result = runner.invoke(app, ["graph", "cypher", text, "--neo4j", server.uri,
                                         "--db", str(db), "--json"])
            by[_refused_by(result, text)] += 1
        ok = runner.invoke(app, ["graph", "query", "products", "--neo4j", server.uri,
                                 "--db", str(db), "--json"])
        assert ok.exit_code == 0, ok.output
        assert [r["id"] for r in json.loads(ok.output)] == ["p-cold-brew", "p-glow", "p-sparkle"]
    assert digest_of(db) == before
    print(f"refusals: {by}")  # shown with -s: how many the text check caught first
    assert by["server"] > 0 and sum(by.values()) == len(texts)


@pytest.fixture
def analyst(store, embedder):
    """The `store` fixture's database holding the examples, and the same data as the analyst."""
    import neo4j

    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import read_batch
    from kdcvg.graph.store import Store

    for name in ("ackb.jsonl", "products.csv"):
        write_batch(store, read_batch(ROOT / "examples" / name), embedder)
    server = store.server
    driver = neo4j.GraphDatabase.driver(server.uri, auth=server.analyst_auth)
    reader = Store(driver, store.database, "embedded", analyst_driver=driver)
    yield reader
    reader.close()


def test_the_server_refuses_every_attempt_without_the_text_check(store, analyst, secret_file):
    """The guarded path alone (no text check in front): the server refuses each attempt."""
    before = graph_digest(store)
    users_file = store.server.root / "config" / "server-users.jsonl"
    texts = attempts(secret_file, users_file)
    for text in texts:
        with pytest.raises(QueryError) as info:
            analyst.run_read(text)
        message = str(info.value)
        assert message.startswith(SERVER), (text, message)
        assert SECRET not in message and "PBKDF2" not in message
    # the internal queries' own text, run as the analyst, is refused by the server too
    from kdcvg.graph.queries import load_query

    with pytest.raises(QueryError, match="refused by the graph server"):
        analyst.run_read(load_query("bulk_wipe_batch").text, {"limit": 1000})
    assert graph_digest(store) == before
    assert len(texts) >= 40


def test_the_store_fixture_reads_through_the_analyst_user(store):
    """Even a store opened with root credentials sends ad-hoc Cypher as the analyst."""
    rows = store.run_read("RETURN 1 AS one")
    assert rows == [{"one": 1}]
    with pytest.raises(QueryError, match="refused by the graph server.*not allowed to create"):
        store.run_read("CREATE (:Product {id: 'evil'})")
    assert store.query("label_counts") == []


def test_analyst_reads_still_work(analyst):
    rows = analyst.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id")
    assert [r["id"] for r in rows] == ["p-cold-brew", "p-glow", "p-sparkle"]
    assert analyst.analyst_query("products")[0] == {
        "id": "p-cold-brew", "name": "Nitro Cold Brew", "brand": "Northbean", "category": "beverages"}
    assert analyst.stats()["nodes"]["Product"]["nodes"] == 3


def test_internal_queries_keep_working_for_the_tool(store, embedder):
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import read_batch

    write_batch(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    assert store.query("generate_product", product="p-cold-brew")[0]["name"] == "Nitro Cold Brew"
    with pytest.raises(QueryError, match="query sar_clip_texts is internal to kdcvg"):
        store.analyst_query("sar_clip_texts")


@pytest.mark.neo4j
@pytest.mark.skipif(not os.environ.get("NEO4J_URI"),
                    reason="NEO4J_URI is not set: the Neo4j server tests need a Neo4j 5 server")
def test_neo4j_refuses_every_attempt_on_the_analyst_surface(secret_file, tmp_path):
    """On Neo4j: READ transactions and the plan check refuse each attempt; nothing changes."""
    from kdcvg.config import resolve_store
    from kdcvg.graph.store import ANALYST, open_store

    config = resolve_store(neo4j_uri=os.environ["NEO4J_URI"])
    with open_store(config, role=ANALYST) as analyst:
        before = analyst.run_read("MATCH (n) RETURN count(n) AS n")
        for text in attempts(secret_file, tmp_path / "none"):
            with pytest.raises(QueryError) as info:
                analyst.run_read(text)
            assert SECRET not in str(info.value)
        assert analyst.run_read("MATCH (n) RETURN count(n) AS n") == before
