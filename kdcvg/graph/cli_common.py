"""Options every graph-touching command shares, and the store they select."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlparse

import typer

from kdcvg.config import StoreConfig, resolve_store
from kdcvg.graph.server import CURATOR, read_credentials

if TYPE_CHECKING:
    from kdcvg.graph.store import Store
    from kdcvg.remote import Server

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Embedded database folder [default: ./.kdcvg/ackb, or $KDCVG_DB].",
                 show_default=False),
]
Neo4jOption = Annotated[
    str | None,
    typer.Option("--neo4j", help="Bolt URI of a Neo4j 5 server, or of `kdcvg graph serve` "
                 "(bolt://host:7687) [default: $NEO4J_URI]; credentials from $NEO4J_USER, "
                 "$NEO4J_PASSWORD, $NEO4J_DATABASE.", show_default=False),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, max=64, help="Analysis processes.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _served_credentials(config: StoreConfig, db: Path | None, role: str = CURATOR) -> StoreConfig:
    """Reuse `kdcvg graph serve`'s credentials when the URI is the one it advertises.

    They are read from the served folder's owner-only credentials file: the curator's
    (root) for commands that write, the read-only analyst's for the analyst surface.
    """
    if config.neo4j_uri is None or os.environ.get("NEO4J_PASSWORD"):
        return config
    if urlparse(config.neo4j_uri).hostname not in ("127.0.0.1", "localhost"):
        return config
    info = read_credentials(db or resolve_store().db)
    if info is None or info.get("uri") != config.neo4j_uri:
        return config
    user = info.get(role)
    if not isinstance(user, dict) or "user" not in user or "password" not in user:
        return config
    return replace(config, user=str(user["user"]), password=str(user["password"]),
                   database=str(info.get("database", config.database)))


def store_config(db: Path | None, neo4j: str | None, role: str = CURATOR) -> StoreConfig:
    return _served_credentials(resolve_store(db, neo4j), db, role)


@contextmanager
def store_from_options(db: Path | None, neo4j: str | None, role: str = CURATOR) -> Iterator[Store]:
    """Open the store the options select (starting the embedded server when needed).

    `role=ANALYST` (the analyst commands) connects as the read-only analyst user.
    """
    from kdcvg.graph.store import open_store

    with open_store(store_config(db, neo4j, role), role=role) as store:
        yield store


def running_server(db: Path | None, neo4j: str | None) -> Server | None:
    """The `kdcvg serve` of the store the options select, when one runs (said on stderr).

    Commands that can run on the server send their work there; see `kdcvg.remote`.
    """
    from kdcvg.remote import find_server

    server = find_server(store_config(db, neo4j))
    if server is not None:
        server.note()
    return server


def process_wall_ms() -> float:
    """Milliseconds since this process started: the wall time a command's user waited."""
    import time

    import psutil

    started: float = psutil.Process().create_time()
    return (time.time() - started) * 1000
