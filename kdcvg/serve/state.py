"""The warm state of `kdcvg serve`: one open store, the SAR retriever, the write token.

Routes (`api.py`, `web.py`) reach it as `request.app.state.service`. Everything a
request needs that is slow to build (the database connection, MiniLM, the model and
its index) is built once here and rebuilt only when the graph or the model changed.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from kdcvg.graph.server import make_owner_only_folder

if TYPE_CHECKING:
    from kdcvg.graph.store import Store
    from kdcvg.retrieval.retrieve import SarRetriever

TOKEN_NAME = "serve.token"  # under the store folder, owner-only
ADS_NAME = "ads"  # under the store folder: one batch output folder per generation job


def load_or_create_token(home: Path) -> str:
    """The write token of the store at `home`: read it, or create it on first start.

    The file is created owner-only with O_EXCL, so no other user can read it and two
    servers starting at once cannot end up with different tokens.
    """
    import os

    make_owner_only_folder(home)
    path = home / TOKEN_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


class Service:
    """What stays warm between requests.

    Args:
        store: the open store (curator connection; its analyst surface for reads).
        token: the write token (`load_or_create_token`).
        public: bound to an interface other than loopback: every request needs the token.
    """

    def __init__(self, store: Store, token: str, public: bool = False) -> None:
        self.store = store
        self.home = store.home
        self.ads_root = store.home / ADS_NAME
        self.token = token
        self.public = public
        self._lock = threading.Lock()
        self._retriever: SarRetriever | None = None
        self._writes = 0  # bumped by every write made through this server
        self._built_for: tuple[int, int] | None = None

    def token_matches(self, presented: str | None) -> bool:
        """Whether `presented` is the write token (compared in constant time)."""
        return presented is not None and secrets.compare_digest(presented, self.token)

    def note_write(self) -> None:
        """Record a write made through this server: the next retrieval sees the new graph."""
        with self._lock:
            self._writes += 1

    def _model_stamp(self) -> int:
        from kdcvg.retrieval.model import model_dir

        weights = model_dir(self.home, "model")
        try:
            return max(p.stat().st_mtime_ns for p in weights.iterdir())
        except (OSError, ValueError):
            return 0

    def retriever(self) -> SarRetriever:
        """The SAR retriever for the current graph and model, rebuilt when either changed.

        Raises:
            RetrievalError: no trained model, or one stale for this graph.
        """
        from kdcvg.retrieval.retrieve import SarRetriever

        with self._lock:
            key = (self._writes, self._model_stamp())
            if self._retriever is None or key != self._built_for:
                embedder = self._retriever.embedder if self._retriever is not None else None
                self._retriever = SarRetriever.load(self.store, self.home, embedder=embedder)
                self._built_for = key
            return self._retriever
