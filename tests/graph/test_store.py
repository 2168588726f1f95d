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


# Access modes and routing: what a Neo4j cluster relies on, checked against the real
# driver's session API over Bolt to the embedded ArcadeDB (which answers routing
# requests too). A Neo4j cluster itself cannot be installed here; see docs/scale.md.

def _spy_sessions(monkeypatch) -> list[str]:
    """Record every session and transaction the driver opens, by API; the calls go through."""
    import neo4j

    calls: list[str] = []
    for name in ("execute_read", "execute_write", "begin_transaction", "run"):
        original = getattr(neo4j.Session, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(neo4j.Session, name, spy)
    original_session = neo4j.Driver.session

    def session(self, **config):
        calls.append(f"session {'shared' if config.get('bookmark_manager') else 'own'} bookmarks")
        return original_session(self, **config)

    monkeypatch.setattr(neo4j.Driver, "session", session)
    return calls


def test_reads_are_managed_read_transactions_and_writes_managed_write_ones(store, monkeypatch):
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import IngestBatch

    calls = _spy_sessions(monkeypatch)
    surfaces = {
        "query": lambda: store.query("label_counts"),
        "cypher": lambda: store.cypher("MATCH (p:Product) RETURN count(p) AS n"),
        "analyst_query": lambda: store.analyst_query("coverage_gaps"),
        "stats": store.stats,
        "write": lambda: store.write("ingest_merge_product",
                                     rows=[{"key": "p1", "props": {"name": "A"}, "created_at": "t"}]),
        "init_schema": store.init_schema,
    }
    used = {}
    for name, call in surfaces.items():
        calls.clear()
        call()
        used[name] = sorted(set(calls) - {"session shared bookmarks"})
        assert "session own bookmarks" not in calls  # reads see this store's earlier writes
    batch = IngestBatch()
    batch.add_node("Product", {"id": "p2", "name": "B"})
    batch.add_link("IN_CATEGORY", "p2", "Drinks")
    batch.add_node("Category", {"name": "Drinks"})
    calls.clear()
    write_batch(store, batch, embedder=None)
    used["write_batch"] = sorted(set(calls) - {"session shared bookmarks"})
    assert "session own bookmarks" not in calls and "session shared bookmarks" in calls
    assert used == {"query": ["execute_read"], "cypher": ["execute_read"],
                    "analyst_query": ["execute_read"], "stats": ["execute_read"],
                    "write": ["execute_write"], "init_schema": ["execute_write"],
                    "write_batch": ["execute_read", "execute_write"]}  # reads to validate
    assert calls.count("execute_write") == 1  # the whole batch in one transaction
    assert {r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id")} == {"p1", "p2"}


def test_a_transient_conflict_is_retried_from_the_start(store):
    store.write("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A", "n": 0},
                                               "created_at": "t"}])
    attempts = []
    with store.driver.session(database=store.database) as session:
        other = session.begin_transaction()  # another curator's, open meanwhile

        def work(tx):
            attempts.append(len(attempts) + 1)
            tx.run_text("MATCH (p:Product {id: 'p1'}) SET p.n = p.n + 10")
            if len(attempts) == 1:  # the other curator changes the same node, commits first
                other.run("MATCH (p:Product {id: 'p1'}) SET p.n = p.n + 1").consume()
                other.commit()
            return len(attempts)

        # ArcadeDB refuses the first commit (Neo.TransientError.Transaction.DeadlockDetected:
        # concurrent change to the same record); the driver rolls back and runs `work` again
        assert store.run_write(work) == 2
    assert store.cypher("MATCH (p:Product {id: 'p1'}) RETURN p.n AS n") == [{"n": 11}]


def test_a_failed_write_leaves_the_graph_as_it_was(store):
    def work(tx):
        tx.run_named("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A"},
                                                    "created_at": "t"}])
        tx.run_text("CREATE (:Product {id: 'p1', name: 'dup'})")  # violates the constraint

    from kdcvg.errors import StoreError

    with pytest.raises(StoreError, match="^write: constraint violated"):
        store.run_write(work)
    assert store.cypher("MATCH (p:Product) RETURN count(p) AS n") == [{"n": 0}]


def test_routing_uris_reach_the_server(graph_server, store):
    from kdcvg.config import StoreConfig
    from kdcvg.graph.store import open_store

    port = graph_server.uri.rsplit(":", 1)[1]
    for uri in (f"neo4j://127.0.0.1:{port}", f"neo4j://localhost:{port}?policy=eu"):
        config = StoreConfig(neo4j_uri=uri, user="root", password=graph_server.password,
                             database=store.database)
        with open_store(config) as routed:
            routed.write("ingest_merge_product", rows=[{"key": "p-routed", "props": {"name": "R"},
                                                        "created_at": "t"}])
            assert routed.query("label_counts")[0]["label"] == "Product"
            assert routed.cypher("MATCH (p:Product) RETURN p.id AS id") == [{"id": "p-routed"}]


@pytest.mark.parametrize("uri", [
    "bolt://db.example.com:7687", "bolt+s://db.example.com", "bolt+ssc://10.0.0.5:7687",
    "neo4j://core1.example.com:7687", "neo4j+s://abcd1234.databases.neo4j.io",
    "neo4j+ssc://[::1]:7687", "neo4j://lb.example.com:7687?policy=europe&region=west",
])
def test_bolt_and_routing_uris_are_accepted(uri):
    from kdcvg.graph.store import check_uri

    check_uri(uri)  # accepted: connecting is the driver's part


@pytest.mark.parametrize(("uri", "message"), [
    ("http://localhost:7474", "http://localhost:7474 is not a Bolt URI; expected "
     "bolt://host:7687, or neo4j+s://host:7687 for a cluster or Aura (schemes: bolt, bolt+s, "
     "bolt+ssc, neo4j, neo4j+s, neo4j+ssc)"),
    ("neo4j:/db.example.com", "neo4j:/db.example.com is not a Bolt URI; expected "
     "bolt://host:7687, or neo4j+s://host:7687 for a cluster or Aura (schemes: bolt, bolt+s, "
     "bolt+ssc, neo4j, neo4j+s, neo4j+ssc)"),
    ("neo4j://", "neo4j:// names no host; expected neo4j://host:7687"),
    ("bolt://db:seven", "bolt://db:seven: the port is not a number from 1 to 65535"),
    ("bolt://db:70000", "bolt://db:70000: the port is not a number from 1 to 65535"),
    ("neo4j+s://neo4j:s3cret@db:7687", "neo4j+s://***@db:7687 holds a user name or password; "
     "give them in NEO4J_USER and NEO4J_PASSWORD instead"),
    ("bolt://db:7687/ackb", "bolt://db:7687/ackb: a Bolt URI has no path or fragment; name the "
     "database in NEO4J_DATABASE"),
    ("bolt://db:7687?policy=eu", "bolt://db:7687?policy=eu: a routing context (?policy=eu) "
     "needs a routing scheme (neo4j://, neo4j+s://), not bolt://"),
])
def test_bad_uris_are_refused_in_one_line(uri, message):
    from kdcvg.config import StoreConfig
    from kdcvg.errors import StoreError
    from kdcvg.graph.store import connect

    with pytest.raises(StoreError) as refused:
        connect(StoreConfig(neo4j_uri=uri, password="s3cret"))
    assert str(refused.value) == message
    assert "s3cret" not in str(refused.value)


def test_tls_schemes_on_a_server_without_tls_say_so(graph_server):
    from kdcvg.config import StoreConfig
    from kdcvg.errors import StoreError
    from kdcvg.graph.store import connect

    port = graph_server.uri.rsplit(":", 1)[1]
    for scheme in ("neo4j+s", "bolt+s", "neo4j+ssc"):  # the embedded server speaks no TLS
        with pytest.raises(StoreError) as no_tls:
            connect(StoreConfig(neo4j_uri=f"{scheme}://127.0.0.1:{port}", user="root",
                                password=graph_server.password))
        line = str(no_tls.value)
        assert line.startswith(f"connect to {scheme}://127.0.0.1:{port}: graph server unreachable (")
        assert line.endswith(f"); {scheme}:// asks for TLS: does the server accept it? (plain "
                             f"{scheme.partition('+')[0]}:// connects without)")
        assert "\n" not in line
