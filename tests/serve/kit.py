"""Real material for the serve tests: a trained store, `kdcvg serve` in a subprocess, and
an application served by uvicorn in a thread (`serving`).

The store is a database of the session's embedded graph server (`graph_server`),
holding the demo catalogue with its clips (`tests.retrieval.graphs.load_demo`) and
the generation tests' product with real clip files (`tests.generation.adkit`), with
SAR trained on it briefly. The server runs as `python -m kdcvg.cli serve --neo4j URI
--port 0`, exactly as a user starts it; tests find it through its discovery file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class TrainedStore:
    """A database with the demo graph and a trained SAR model, and how to reach it."""

    store: Any  # kdcvg.graph.store.Store, for assertions
    home: Path
    env: dict[str, str]  # NEO4J_* and KDCVG_HOME for commands
    args: list[str]  # --neo4j URI


def trained_store(graph_server: Any, embedder: Any, folder: Path) -> TrainedStore:
    """Build the store (about half a minute: the SAR training is short)."""
    import neo4j

    from kdcvg.graph.store import Store
    from kdcvg.retrieval.pipeline import train_sar
    from tests.generation.adkit import build_ackb
    from tests.retrieval.graphs import load_demo

    name = f"serve{uuid.uuid4().hex[:8]}"
    graph_server.database(name)
    driver = neo4j.GraphDatabase.driver(graph_server.uri, auth=graph_server.auth)
    store = Store(driver, name, "embedded", server=graph_server, home=folder / "home")
    store.init_schema()
    load_demo(store, embedder)
    (folder / "clips").mkdir()
    build_ackb(store, folder / "clips")
    train_sar(store, store.home, epochs=8, ppo_steps=64, seed=0)
    user, password = graph_server.auth
    env = {"NEO4J_USER": user, "NEO4J_PASSWORD": password, "NEO4J_DATABASE": name,
           "KDCVG_HOME": str(store.home)}
    return TrainedStore(store, store.home, env, ["--neo4j", graph_server.uri])


@dataclass
class ServerProcess:
    """`kdcvg serve` running in a subprocess."""

    proc: subprocess.Popen[str]
    url: str
    token: str
    home: Path
    log: Path
    stopped: list[int] = field(default_factory=list)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 120) -> int:
        """Send `signum` and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(trained: TrainedStore, log: Path, extra: list[str] | None = None,
                 timeout: float = 240) -> ServerProcess:
    """Start `kdcvg serve` on `trained` and wait until it answers its health check."""
    import httpx

    env = {**os.environ, **trained.env, "PYTHONPATH": str(REPO), "KDCVG_JVM_HEAP": "512m"}
    env.pop("KDCVG_NO_SERVER", None)
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "kdcvg.cli", "serve", "--port", "0",
                             *trained.args, *(extra or [])],
                            cwd=str(log.parent), env=env, stdout=out, stderr=subprocess.STDOUT,
                            text=True)
    discovery = trained.home / "serve.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kdcvg serve exited with {proc.returncode}:\n"
                                 f"{log.read_text(errors='replace')}")
        try:
            info = json.loads(discovery.read_text())
            if info["pid"] == proc.pid:
                token = (trained.home / "serve.token").read_text().strip()
                headers = {"Authorization": f"Bearer {token}"}
                if httpx.get(info["url"] + "/api/health", headers=headers,
                             timeout=5).status_code == 200:
                    return ServerProcess(proc, info["url"], token, trained.home, log)
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"kdcvg serve did not come up in {timeout} s:\n"
                         f"{log.read_text(errors='replace')}")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn on a free loopback port in a thread; its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
