"""Discovery of a running `kdcvg serve` (`kdcvg/remote.py`): only a live server of the
same store, found through owner-only files, is used. The forwarding itself, end to end
with a real server, is tested in `tests/serve/test_cli.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdcvg.config import StoreConfig
from kdcvg.remote import (
    DISCOVERY_NAME,
    TOKEN_NAME,
    find_server,
    remove_discovery,
    store_identity,
    write_discovery,
)


def _config(tmp_path: Path) -> StoreConfig:
    return StoreConfig(db=tmp_path / "store" / "ackb")


def _files(tmp_path: Path, pid: int, store: str) -> Path:
    home = tmp_path / "store"
    home.mkdir(exist_ok=True)
    fd = os.open(home / TOKEN_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"secret\n")
    os.close(fd)
    (home / DISCOVERY_NAME).write_text(json.dumps(
        {"url": "http://127.0.0.1:9", "pid": pid, "store": store}))
    os.chmod(home / DISCOVERY_NAME, 0o600)
    return home


def test_store_identity_names_the_folder_or_the_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_identity(StoreConfig(db=Path("a/ackb"))) == f"embedded:{tmp_path}/a/ackb"
    assert store_identity(StoreConfig(neo4j_uri="bolt://h:7687", database="x")) == \
        "neo4j:bolt://h:7687/x"


def test_no_discovery_file_means_no_server(tmp_path):
    assert find_server(_config(tmp_path)) is None


def test_a_dead_pid_is_not_a_server(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    _files(tmp_path, int(done.stdout), store_identity(_config(tmp_path)))
    assert find_server(_config(tmp_path)) is None


def test_another_store_or_a_readable_file_is_not_used(tmp_path, monkeypatch):
    home = _files(tmp_path, os.getpid(), "embedded:/somewhere/else")
    assert find_server(_config(tmp_path)) is None
    _files(tmp_path, os.getpid(), store_identity(_config(tmp_path)))
    os.chmod(home / DISCOVERY_NAME, 0o644)  # others could have written it: ignored
    assert find_server(_config(tmp_path)) is None


def test_a_live_pid_that_does_not_answer_is_not_used(tmp_path, monkeypatch):
    # this process is alive, but nothing listens on port 9: the health check fails
    _files(tmp_path, os.getpid(), store_identity(_config(tmp_path)))
    assert find_server(_config(tmp_path)) is None
    monkeypatch.setenv("KDCVG_NO_SERVER", "1")
    assert find_server(_config(tmp_path)) is None


def test_the_discovery_file_is_owner_only_and_removed_by_its_writer(tmp_path):
    path = write_discovery(tmp_path, "http://127.0.0.1:1234", "embedded:/x")
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:1234", "pid": os.getpid(),
                                            "store": "embedded:/x"}
    path.write_text(json.dumps({"pid": os.getpid() + 1}))  # another server's by now
    remove_discovery(tmp_path)
    assert path.exists()
    write_discovery(tmp_path, "http://127.0.0.1:1234", "embedded:/x")
    remove_discovery(tmp_path)
    assert not path.exists()


@pytest.mark.parametrize("value", ["", "0"])
def test_discovery_is_on_unless_switched_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("KDCVG_NO_SERVER", value)
    assert find_server(_config(tmp_path)) is None  # no file: still nothing, but no error
