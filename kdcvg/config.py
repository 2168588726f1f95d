"""Where kdcvg keeps things, and how the user's choices (flags, environment) resolve.

The store folder (`.kdcvg/` by default) holds the embedded database (`ackb/`),
keyframe sheets (`thumbs/`), trained SAR models (`sar/`) and MR-LoRAs (`loras/`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = Path(".kdcvg") / "ackb"


@dataclass(frozen=True)
class StoreConfig:
    """Which graph server to talk to.

    Args:
        db: embedded database folder (used when `neo4j_uri` is None).
        neo4j_uri: a Neo4j 5 server's Bolt URI; None selects the embedded server.
        user, password, database: Neo4j credentials and database name.
    """

    db: Path = DEFAULT_DB
    neo4j_uri: str | None = None
    user: str = "neo4j"
    password: str = ""
    database: str = "neo4j"

    @property
    def home(self) -> Path:
        """The store folder: models, LoRAs and keyframe sheets live beside the graph."""
        if self.neo4j_uri is None:
            return self.db.parent
        return Path(os.environ.get("KDCVG_HOME", ".kdcvg"))


def resolve_store(db: Path | None = None, neo4j_uri: str | None = None) -> StoreConfig:
    """Flags beat environment variables, which beat the defaults."""
    # an explicit --db wins over NEO4J_URI in the environment
    uri = neo4j_uri or (None if db is not None else os.environ.get("NEO4J_URI") or None)
    if uri is not None:
        return StoreConfig(
            db=DEFAULT_DB,
            neo4j_uri=uri,
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD", ""),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
    path = db or (Path(os.environ["KDCVG_DB"]) if os.environ.get("KDCVG_DB") else DEFAULT_DB)
    return StoreConfig(db=Path(path))
