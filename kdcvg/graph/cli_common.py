"""Options every graph-touching command shares, and the store they select."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer

from kdcvg.config import StoreConfig, resolve_store
from kdcvg.graph.server import EMBEDDED_USER, LOCK_NAME

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
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _served_credentials(config: StoreConfig, db: Path | None) -> StoreConfig:
    """Reuse `kdcvg graph serve`'s credentials when the URI is the one it advertises."""
    if config.neo4j_uri is None or os.environ.get("NEO4J_PASSWORD"):
        return config
    if urlparse(config.neo4j_uri).hostname not in ("127.0.0.1", "localhost"):
        return config
    folder = db or resolve_store().db
    try:
        info = json.loads((folder / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return config
    if info.get("uri") != config.neo4j_uri or "password" not in info:
        return config
    return replace(config, user=EMBEDDED_USER, password=info["password"],
                   database=info.get("database", config.database))


def store_config(db: Path | None, neo4j: str | None) -> StoreConfig:
    return _served_credentials(resolve_store(db, neo4j), db)


@contextmanager
def store_from_options(db: Path | None, neo4j: str | None) -> Iterator[object]:
    """Open the store the options select (starting the embedded server when needed)."""
    from kdcvg.graph.store import open_store

    with open_store(store_config(db, neo4j)) as store:
        yield store


def process_wall_ms() -> float:
    """Milliseconds since this process started: the wall time a command's user waited."""
    import time

    import psutil

    return (time.time() - psutil.Process().create_time()) * 1000
