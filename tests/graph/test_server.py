import os
import socket

import pytest

from kdcvg.config import StoreConfig
from kdcvg.errors import StoreError
from kdcvg.graph.server import EmbeddedServer
from kdcvg.graph.store import connect


def test_folder_in_use_names_the_holder(graph_server):
    with pytest.raises(StoreError) as info:
        EmbeddedServer(graph_server.root).start()
    message = str(info.value)
    assert f"database folder {graph_server.root} is in use by process {os.getpid()}" in message
    assert "kdcvg graph serve" in message


def test_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(StoreError, match=f"port {port} on 127.0.0.1 is taken.*--port"):
            EmbeddedServer(tmp_path / "db", bolt_port=port).start()
    # the failed start left no lock behind
    assert not (tmp_path / "db").exists() or EmbeddedServer(tmp_path / "db").lock.holder() is None


def test_server_down_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=f"connect to bolt://127.0.0.1:{port}: graph server unreachable"):
        connect(StoreConfig(neo4j_uri=f"bolt://127.0.0.1:{port}", password="x"))


def test_wrong_password_is_a_clear_error(graph_server):
    config = StoreConfig(neo4j_uri=graph_server.uri, user="root", password="wrong-password")
    with pytest.raises(StoreError, match="refused the user/password .*NEO4J_PASSWORD"):
        connect(config)


def test_not_a_bolt_uri():
    with pytest.raises(StoreError, match="is not a Bolt URI"):
        connect(StoreConfig(neo4j_uri="http://localhost:7474"))


def test_served_embedded_database_is_recognised_over_bolt(graph_server):
    store = connect(StoreConfig(neo4j_uri=graph_server.uri, user="root",
                                password=graph_server.password, database="ackb"))
    try:
        assert store.flavor == "embedded"
        assert store.cypher("RETURN 1 AS one") == [{"one": 1}]
    finally:
        store.close()


def _listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_only_bolt_listens_and_files_are_owner_only(tmp_path):
    """No HTTP API unless asked; the folder, config and data files are the owner's alone."""
    before = _listening_ports()
    server = EmbeddedServer(tmp_path / "db").start()
    try:
        assert _listening_ports() - before == {server.bolt_port}
        assert server.http_url is None
        store = connect(StoreConfig(neo4j_uri=server.uri, user="root", password=server.password,
                                    database="ackb"))
        store.write("ingest_merge_product", rows=[{"key": "p1", "props": {"name": "A"},
                                                   "created_at": "t"}])
        store.close()
        assert "password" not in (server.root / "kdcvg.lock").read_text()
    finally:
        server.stop()
    root = server.root
    assert root.stat().st_mode & 0o777 == 0o700
    for name in ("server-users.jsonl", "server-groups.json"):
        assert (root / "config" / name).stat().st_mode & 0o777 == 0o600
    data = [p for p in (root / "databases" / "ackb").iterdir() if p.is_file()]
    assert data, "the database wrote no files"
    for path in [root, *root.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def test_studio_opens_http_read_only_for_the_analyst(tmp_path):
    """`--studio`: the HTTP API answers on loopback, and the analyst may read, not write."""
    import base64
    import json
    import urllib.error
    import urllib.request

    with EmbeddedServer(tmp_path / "db", studio=True) as server:
        assert server.http_url is not None

        def post(auth: tuple[str, str], path: str, body: dict) -> int:
            token = base64.b64encode(":".join(auth).encode()).decode()
            request = urllib.request.Request(
                f"{server.http_url}/api/v1/{path}", method="POST", data=json.dumps(body).encode(),
                headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as e:
                return e.code

        def command(auth: tuple[str, str], sql: str) -> int:
            return post(auth, "command/ackb", {"language": "sql", "command": sql})

        assert command(server.analyst_auth, "SELECT 1") == 200
        assert command(server.analyst_auth, "CREATE VERTEX TYPE Evil") == 403
        assert command(server.auth, "CREATE VERTEX TYPE Product") == 200
        assert command(server.analyst_auth, "CREATE VERTEX Product SET id = 'evil'") == 403
        assert command(server.analyst_auth, "IMPORT DATABASE file:///etc/passwd") == 403
        for server_command in ("create database evil", "drop database ackb", "shutdown"):
            assert post(server.analyst_auth, "server", {"command": server_command}) == 403
        assert command(("root", "wrong"), "SELECT 1") in (401, 403)


def test_serve_prints_where_credentials_are_not_the_password(tmp_path):
    """`graph serve`: no secret on stdout; an owner-only file holds them; commands use it."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from typer.testing import CliRunner

    from kdcvg.cli import app
    from kdcvg.graph.server import CREDENTIALS_NAME, free_port

    db = tmp_path / "served"
    port = free_port()
    uri = f"bolt://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "kdcvg.cli", "graph", "serve", "--db", str(db),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.time() + 120
        while not any("readable by you only" in line for line in lines) and time.time() < deadline:
            lines.append(server.stdout.readline())
        credentials = db.resolve() / CREDENTIALS_NAME
        assert f"are in {credentials}, readable by you only" in "".join(lines)
        assert credentials.stat().st_mode & 0o777 == 0o600
        info = json.loads(credentials.read_text())
        for user in ("curator", "analyst"):
            assert info[user]["password"] not in "".join(lines)
        assert "password" not in (db / "kdcvg.lock").read_text()
        runner = CliRunner()
        # the analyst surface connects as the analyst: the server refuses its writes
        # (backticks hide the CREATE from the early text check: the server refuses it)
        sneaky = "WITH 1 AS `/*` CREATE (:Product {id: 'x'}) WITH 1 AS `*/` RETURN 1"
        refused = runner.invoke(app, ["graph", "cypher", sneaky, "--neo4j", uri, "--db", str(db)])
        assert refused.exit_code == 1
        assert "refused by the graph server" in refused.output
        stats = runner.invoke(app, ["graph", "stats", "--neo4j", uri, "--db", str(db), "--json"])
        assert stats.exit_code == 0, stats.output
    finally:
        server.send_signal(signal.SIGINT)
        out = server.communicate(timeout=60)[0]
    assert server.returncode == 0
    assert info["curator"]["password"] not in out
    assert not credentials.exists()
