import pytest

from kdcvg.errors import QueryError


def test_adhoc_cypher_refuses_writes_and_runs_reads(store):
    store.write("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A"}, "created_at": "t"}])
    for text in ["MATCH (n) DETACH DELETE n", "CREATE (:Product {id: 'x'})",
                 "MATCH (p:Product) SET p.name = 'B'", "merge (n:Product {id: 'y'})"]:
        with pytest.raises(QueryError, match="read-only"):
            store.cypher(text)
    # keywords inside strings are not writes
    rows = store.cypher("MATCH (p:Product) WHERE p.name <> 'CREATE' RETURN p.id AS id")
    assert rows == [{"id": "p1"}]


def test_adhoc_cypher_never_commits(store):
    store.cypher("MATCH (p:Product) RETURN count(p) AS n")
    assert store.query("label_counts") == []


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.run_named("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A"}, "created_at": "t"}])
            raise RuntimeError("stop")
    assert store.stats()["nodes"]["Product"]["nodes"] == 0


def test_syntax_errors_and_unknown_queries_are_query_errors(store):
    with pytest.raises(QueryError, match="Cypher syntax error"):
        store.cypher("MATCH (n RETURN n")
    with pytest.raises(QueryError, match="no named query 'nope'.*known queries: .*coverage_gaps"):
        store.query("nope")
    with pytest.raises(QueryError, match="not valid"):
        store.query("../etc/passwd")


def test_uniqueness_constraint_holds(store):
    from kdcvg.errors import StoreError

    store.write("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A"}, "created_at": "t"}])
    with pytest.raises(StoreError, match="constraint"):
        with store.transaction() as tx:
            tx.run_text("CREATE (:Product {id: 'p1', name: 'dup'})")


def test_init_schema_is_idempotent(store):
    store.init_schema()
    store.init_schema()
    names = {r["name"] for r in store.cypher("SHOW INDEXES YIELD name RETURN name")}
    assert {"Product[id]", "Clip[id]", "SellingPoint[id]"} <= names


def test_internal_named_queries_are_not_analyst_queries(store):
    with pytest.raises(QueryError, match="query bulk_wipe_batch is internal to kdcvg, not an analyst "
                                         "query; analyst queries: .*coverage_gaps.*products"):
        store.analyst_query("bulk_wipe_batch", limit=1000)
    assert store.analyst_query("coverage_gaps") == []


def test_the_text_check_is_only_a_message(store, monkeypatch):
    """With the early text check matching nothing, the server still refuses the write."""
    import re

    import kdcvg.graph.store as store_module

    monkeypatch.setattr(store_module, "_WRITE_CLAUSE", re.compile(r"(?!)"))
    with pytest.raises(QueryError, match="^cypher: refused by the graph server .*not allowed to "
                                         "create records on type 'Product'"):
        store.cypher("CREATE (:Product {id: 'x'})")
    assert store.stats()["nodes"]["Product"]["nodes"] == 0


def test_neo4j_plan_check_refuses_writes_and_file_reads():
    """The Neo4j guard reads the server's own plan (a stand-in transaction returns it here)."""
    from types import SimpleNamespace

    from kdcvg.graph.store import _check_neo4j_plan

    def tx(query_type, *operators):
        plan = {"operatorType": "ProduceResults@neo4j", "args": {},
                "children": [{"operatorType": op, "args": {"Details": details}, "children": []}
                             for op, details in operators]}
        summary = SimpleNamespace(query_type=query_type, plan=plan)
        return SimpleNamespace(run=lambda text, params: SimpleNamespace(consume=lambda: summary))

    _check_neo4j_plan(tx("r", ("NodeByLabelScan@neo4j", "p:Product")), "MATCH", {}, "cypher")
    _check_neo4j_plan(tx("r", ("ProcedureCall@neo4j", "db.labels() :: (label :: STRING)")),
                      "CALL", {}, "cypher")
    with pytest.raises(QueryError, match="plans this query as type 'rw'"):
        _check_neo4j_plan(tx("rw"), "CREATE", {}, "cypher")
    with pytest.raises(QueryError, match="LOAD CSV reads files or URLs"):
        _check_neo4j_plan(tx("r", ("LoadCSV@neo4j", "line")), "LOAD CSV", {}, "cypher")
    with pytest.raises(QueryError, match="procedure 'apoc.load.json' is not one of"):
        _check_neo4j_plan(tx("r", ("ProcedureCall@neo4j", "apoc.load.json($url)")), "CALL", {}, "cypher")
