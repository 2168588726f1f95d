"""Shared fixtures: a real embedded graph server per test session, a fresh database per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Output must not depend on the terminal running the suite: one fixed width, no colour.
os.environ["COLUMNS"] = "100"
os.environ["NO_COLOR"] = "1"
os.environ.pop("FORCE_COLOR", None)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_CLIPS = SHARED / "data" / "clips"

_database_numbers = itertools.count()


def shared_clip(name: str) -> Path:
    """A real clip from ../shared/data/clips, or a skip that says why."""
    path = SHARED_CLIPS / name
    if not path.exists():
        pytest.skip(f"real footage {path} is absent (../shared is beside the checkout in this "
                    "project's CI only)")
    return path


@pytest.fixture(scope="session")
def graph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One embedded ArcadeDB for the whole session (its JVM can start once per process)."""
    from kdcvg.graph.server import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("ackb-server")).start()
    yield server
    server.stop()


@pytest.fixture
def store(graph_server: object) -> Iterator[object]:
    """A fresh, schema-initialised store on its own database of the session's server."""
    import neo4j

    from kdcvg.graph.store import Store

    name = f"t{next(_database_numbers)}"
    graph_server.database(name)  # type: ignore[attr-defined]
    driver = neo4j.GraphDatabase.driver(graph_server.uri, auth=graph_server.auth)  # type: ignore[attr-defined]
    s = Store(driver, name, "embedded", server=graph_server)  # type: ignore[arg-type]
    s.init_schema()
    yield s
    s.close()


@pytest.fixture(scope="session")
def embedder() -> object:
    """The real MiniLM embedder from the installed package."""
    from kdcvg.graph.embeddings import default_embedder

    return default_embedder()
