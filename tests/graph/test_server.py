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
