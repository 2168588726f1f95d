import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kdcvg.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """An embedded database filled through the CLI once for this module."""
    path = tmp_path_factory.mktemp("cli") / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"),
                                 str(ROOT / "examples" / "products.csv"), "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "merged 1 Product, 1 Category, 2 SellingPoint" in result.output
    return path


def test_stats_json(db):
    result = runner.invoke(app, ["graph", "stats", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["nodes"]["Product"] == {"nodes": 3, "with_embedding": 3}
    assert stats["relationships"]["IN_CATEGORY"] == 3


def test_named_query_table_and_json(db):
    result = runner.invoke(app, ["graph", "query", "coverage_gaps", "--db", str(db), "--json"])
    assert json.loads(result.output) == [
        {"product": "p-cold-brew", "selling_point": "sp-cold-brew-2",
         "text": "Zero sugar, all the caffeine you need"}]
    table = runner.invoke(app, ["graph", "query", "selling_points_of_product", "-p", "product=p-cold-brew",
                                "--db", str(db)])
    assert "sp-cold-brew-1" in table.output and "Velvety nitro foam" in table.output


def test_query_without_its_parameter_says_which(db):
    result = runner.invoke(app, ["graph", "query", "selling_points_of_product", "--db", str(db)])
    assert result.exit_code == 1
    assert "error: query selling_points_of_product needs --param for: product" in result.output


def test_cypher_refuses_writes_with_one_line(db):
    result = runner.invoke(app, ["graph", "cypher", "MATCH (n) DETACH DELETE n", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ad-hoc Cypher is read-only: DETACH is refused")
    assert "Traceback" not in result.output


def test_bad_file_is_reported_and_nothing_is_written(db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "product", "id": "p-x", "name": "X"}\n'
                   '{"type": "link", "rel": "SHOWS", "from": "clip-none", "to": "p-x"}\n')
    result = runner.invoke(app, ["graph", "ingest", str(bad), "--db", str(db)])
    assert result.exit_code == 1
    assert f"{bad}:2: from: clip 'clip-none' does not exist in this file or in the graph" in result.output
    stats = json.loads(runner.invoke(app, ["graph", "stats", "--db", str(db), "--json"]).output)
    assert stats["nodes"]["Product"]["nodes"] == 3


def test_dry_run_table(db):
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"), "--db", str(db),
                                 "--dry-run", "--json"])
    report = json.loads(result.output)[str(ROOT / "examples" / "ackb.jsonl")]
    assert sum(report["created"].values()) == 0 and report["unchanged"]["SellingPoint"] == 2


def test_dry_run_on_a_missing_folder_reports_everything_new_and_leaves_no_trace(tmp_path):
    db = tmp_path / "not-yet" / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"), "--db", str(db),
                                 "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[str(ROOT / "examples" / "ackb.jsonl")]
    assert report["created"]["SellingPoint"] == 2 and sum(report["unchanged"].values()) == 0
    assert not (tmp_path / "not-yet").exists()


def test_export_writes_heterodata_and_ids(db, tmp_path):
    result = runner.invoke(app, ["graph", "export", str(tmp_path / "g.pt"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.pt").exists()
    assert json.loads((tmp_path / "g.ids.json").read_text())["product"] == ["p-cold-brew", "p-glow", "p-sparkle"]


def test_missing_file_is_refused_by_typer(tmp_path):
    result = runner.invoke(app, ["graph", "ingest", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, kdcvg.cli; heavy = [m for m in ('torch', 'torch_geometric', 'diffusers', "
            "'stable_baselines3', 'neo4j', 'jpype') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_shares_a_database_with_other_commands(tmp_path):
    """`graph serve` holds the folder; other commands reach it over Bolt with its credentials."""
    import os
    import signal
    import time

    from kdcvg.graph.server import free_port

    db = tmp_path / "served"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "kdcvg.cli", "graph", "serve", "--db", str(db),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.time() + 120
        line = ""
        while "serving" not in line and time.time() < deadline:
            line = server.stdout.readline()
        assert f"on bolt://127.0.0.1:{port}" in line
        uri = f"bolt://127.0.0.1:{port}"
        # the folder is held: opening it directly names the holder and the URI to use
        direct = runner.invoke(app, ["graph", "stats", "--db", str(db)])
        assert direct.exit_code == 1 and f"connect to it with --neo4j {uri}" in direct.output
        ingest = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"),
                                     "--neo4j", uri, "--db", str(db)])
        assert ingest.exit_code == 0, ingest.output
        stats = runner.invoke(app, ["graph", "stats", "--neo4j", uri, "--db", str(db), "--json"])
        assert json.loads(stats.output)["nodes"]["Clip"]["nodes"] == 1
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
        assert "stopping" in server.stdout.read()


def test_json_output_is_always_valid_json(capsys):
    from kdcvg.graph.cli import print_rows

    print_rows([{"w": float("nan"), "v": [1.0, float("inf")], "m": {"x": -float("inf")},
                 "ok": 0.5}], True)
    out, err = capsys.readouterr()
    assert json.loads(out) == [{"w": None, "v": [1.0, None], "m": {"x": None}, "ok": 0.5}]
    assert "NaN" not in out and "Infinity" not in out
    assert err == ("note: 3 non-finite number(s) (NaN or Infinity) printed as null: JSON has "
                   "no such numbers\n")


def test_params_share_the_option_parser():
    from kdcvg.graph.cli import _parse_params

    assert _parse_params(["product=p1", "limit=5", "ids=[\"a\", \"b\"]"]) == {
        "product": "p1", "limit": 5, "ids": ["a", "b"]}
    for bad, message in [("limit=NaN", "NaN is not a JSON number"),
                         ("ids=" + "[" * 5000, "nested too deeply"),
                         ("x={\"a\": 1}", "got dict")]:
        with pytest.raises(typer.BadParameter, match=message):
            _parse_params([bad])


def test_commands_take_a_routing_uri(graph_server, monkeypatch):
    """`neo4j://` (a cluster's routing scheme) for curators and analysts alike; the embedded
    ArcadeDB answers the driver's routing request with itself."""
    graph_server.database("routed")
    monkeypatch.setenv("NEO4J_USER", "root")
    monkeypatch.setenv("NEO4J_PASSWORD", graph_server.password)
    monkeypatch.setenv("NEO4J_DATABASE", "routed")
    uri = graph_server.uri.replace("bolt://", "neo4j://")
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"),
                                 str(ROOT / "examples" / "products.csv"), "--neo4j", uri])
    assert result.exit_code == 0, result.output
    assert "merged 1 Product, 1 Category, 2 SellingPoint" in result.output
    stats = runner.invoke(app, ["graph", "stats", "--json", "--neo4j", uri])
    assert json.loads(stats.output)["nodes"]["Product"] == {"nodes": 3, "with_embedding": 3}
    gaps = runner.invoke(app, ["graph", "query", "coverage_gaps", "--json", "--neo4j", uri])
    assert [r["selling_point"] for r in json.loads(gaps.output)] == ["sp-cold-brew-2"]


def test_a_malformed_server_uri_is_one_line():
    result = runner.invoke(app, ["graph", "stats", "--neo4j", "bolt://db:7687?policy=eu"])
    assert result.exit_code == 1
    assert result.output == ("error: bolt://db:7687?policy=eu: a routing context (?policy=eu) "
                             "needs a routing scheme (neo4j://, neo4j+s://), not bolt://\n")
