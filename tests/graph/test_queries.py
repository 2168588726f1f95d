"""Every named query runs on the embedded server and passes Neo4j's own Cypher linter."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kdcvg.errors import QueryError
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.queries import cypher_dir, list_queries, load_query
from kdcvg.graph.records import read_batch

ROOT = Path(__file__).resolve().parents[2]
LINTER = ROOT / "tools" / "cypher-lint"

# A sample value for every parameter name used in cypher/: a new parameter needs one here.
SAMPLES = {
    "product": "p-cold-brew", "selling_point": "sp-cold-brew-1", "clip": "clip-cascade",
    "limit": 5, "k": 3, "rows": [], "keys": ["p-cold-brew"], "label": "Product", "key": "id",
    "ids": ["clip-cascade"], "clips": ["clip-cascade"], "selling_points": ["sp-cold-brew-1"],
    "text": "nitro foam", "embedding": [0.0] * 384, "pattern": "pour", "category": "beverages",
    "content_hash": "0" * 64, "uri": "clips/cascade.mp4", "keep": ["pour"],
    "patterns": ["pour", "zoom_in"],
}


def test_every_query_file_has_a_header():
    for query in list_queries():
        assert query.description, f"{query.path} needs a '// returns ...' header line"
        assert "params:" in query.text, f"{query.path} needs a '// params: ...' header line"


# The tool's own queries, by name prefix: never on the analyst surface.
INTERNAL_PREFIXES = ("ingest_", "bulk_", "export_", "schema_", "sar_", "mkr_", "generate_", "clip_")


def test_every_query_file_says_its_surface():
    """Each file (Neo4j variants too) has one `// surface:` header line; only reads are analyst's."""
    for path in sorted(cypher_dir().glob("*.cypher")):
        header = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("//"):
                break
            header.append(line)
        surfaces = [line for line in header if line.startswith("// surface:")]
        assert len(surfaces) == 1, f"{path} needs one '// surface: analyst|internal' header line"
        assert surfaces[0] in ("// surface: analyst", "// surface: internal"), path
        name = path.name.split(".")[0]
        if name.startswith(INTERNAL_PREFIXES) or "bulk" in name:
            assert surfaces[0] == "// surface: internal", f"{path} is the tool's own query"
    analyst = {q.name for q in list_queries() if q.surface == "analyst"}
    assert analyst == {"clips_for_selling_point", "coverage_gaps", "label_counts",
                       "motion_patterns_by_category", "products", "relationship_counts",
                       "selling_points_of_product", "similar_products"}


def test_a_file_without_a_surface_is_internal(tmp_path, monkeypatch):
    (tmp_path / "bare.cypher").write_text("// Returns 1.\n// params: none\nRETURN 1\n")
    (tmp_path / "odd.cypher").write_text("// Returns 1.\n// params: none\n// surface: public\nRETURN 1\n")
    monkeypatch.setenv("KDCVG_CYPHER_DIR", str(tmp_path))
    load_query.cache_clear()
    try:
        assert load_query("bare").surface == "internal"
        with pytest.raises(QueryError, match="surface 'public' is not one of analyst, internal"):
            load_query("odd")
    finally:
        load_query.cache_clear()


@pytest.fixture(scope="module")
def example_store(graph_server, embedder):
    """One database holding examples/ackb.jsonl, shared by the query tests (they roll back)."""
    import neo4j

    from kdcvg.graph.store import Store

    graph_server.database("queries")
    driver = neo4j.GraphDatabase.driver(graph_server.uri, auth=graph_server.auth)
    store = Store(driver, "queries", "embedded", server=graph_server)
    store.init_schema()
    write_batch(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    yield store
    store.close()


@pytest.mark.parametrize("name", [q.name for q in list_queries()])
def test_query_runs_on_the_embedded_server(example_store, name):
    store = example_store
    query = load_query(name)
    missing = [p for p in query.params if p not in SAMPLES]
    assert not missing, f"add sample values for {missing} to SAMPLES"
    params = {p: SAMPLES[p] for p in query.params}
    with pytest.raises(_Rollback):
        with store.transaction() as tx:  # writes are undone: this test only checks they run
            for statement in query.statements:
                tx.run_text(statement, **params)
            raise _Rollback


class _Rollback(Exception):
    pass


def test_every_query_file_passes_the_neo4j_linter():
    if not (LINTER / "node_modules").exists() or shutil.which("node") is None:
        pytest.skip("the Cypher linter is installed by `make test` (npm install in tools/cypher-lint)")
    files = sorted(str(p) for p in cypher_dir().glob("*.cypher"))
    result = subprocess.run(["node", str(LINTER / "lint.mjs"), *files], capture_output=True,
                            text=True, check=True, timeout=120)
    found = {f: d for f, d in json.loads(result.stdout).items() if d}
    assert found == {}


def test_the_linter_catches_a_semantic_error(tmp_path):
    if not (LINTER / "node_modules").exists() or shutil.which("node") is None:
        pytest.skip("the Cypher linter is installed by `make test` (npm install in tools/cypher-lint)")
    bad = tmp_path / "bad.cypher"
    bad.write_text("MATCH (n) RETURN count(count(n)) AS x, $p\n")
    result = subprocess.run(["node", str(LINTER / "lint.mjs"), str(bad)], capture_output=True,
                            text=True, check=True, timeout=120)
    assert json.loads(result.stdout)[str(bad)] == [
        {"line": 1, "column": 24, "severity": "error",
         "message": "Can't use aggregate functions inside of aggregate functions."}]
