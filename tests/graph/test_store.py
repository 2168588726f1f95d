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
