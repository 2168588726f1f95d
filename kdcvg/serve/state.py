"""The warm state of `kdcvg serve`: one open store, the SAR retriever, the write token.

Routes (`api.py`, `web.py`) reach it as `request.app.state.service`. Everything a
request needs that is slow to build (the database connection, MiniLM, the model and
its index) is built once here and rebuilt only when the graph or the model changed:
a write through this server (`note_write`), new model files or feedback under
`<home>/sar/`, or, on a Neo4j store that other processes may write, changed node or
relationship counts (checked at most every `outside_check_s` seconds).
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.graph.server import make_owner_only_folder
from kdcvg.remote import TOKEN_NAME, store_identity
from kdcvg.serve.batcher import BATCH_WAIT_MS, MAX_BATCH, RetrieveBatcher

if TYPE_CHECKING:
    from kdcvg.config import StoreConfig
    from kdcvg.graph.store import Store
    from kdcvg.retrieval.retrieve import SarRetriever
    from kdcvg.serve.jobs import JobQueue

__all__ = ["ADS_NAME", "TOKEN_NAME", "Service", "load_or_create_token"]

ADS_NAME = "ads"  # under the store folder: one batch output folder per generation job
OUTSIDE_CHECK_S = 5.0  # how often a Neo4j store is asked whether others changed it


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
        config: how the store was selected (names it in `/api/health` and `serve.json`);
            None: a store made by hand (tests), named by its database.
        outside_check_s: on a Neo4j store, seconds between checks for writes made by
            other processes (an embedded store's folder lock keeps them out).
        max_batch, batch_wait_ms: how `/api/retrieve` requests are gathered into one
            retrieval (`kdcvg.serve.batcher`; 1 answers them one at a time).

    Attributes:
        identity: the store's name across processes (`kdcvg.remote.store_identity`).
        jobs: the generation job queue (`kdcvg.serve.jobs.JobQueue`), made on first use.
        batcher: the retrieval worker that answers `/api/retrieve` in micro-batches.
    """

    def __init__(self, store: Store, token: str, public: bool = False,
                 config: StoreConfig | None = None,
                 outside_check_s: float = OUTSIDE_CHECK_S, max_batch: int = MAX_BATCH,
                 batch_wait_ms: float = BATCH_WAIT_MS) -> None:
        self.store = store
        self.home = store.home
        self.ads_root = store.home / ADS_NAME
        self.token = token
        self.public = public
        self.identity = (store_identity(config) if config is not None
                         else f"{store.flavor}:{store.database}")
        self._watch_outside = config is not None and config.neo4j_uri is not None
        self.outside_check_s = outside_check_s
        self._lock = threading.Lock()
        self._retriever: SarRetriever | None = None
        self._writes = 0  # bumped by every write made through this server
        self._built_for: tuple[Any, ...] | None = None
        self._outside: tuple[Any, ...] = ()
        self._outside_at = 0.0
        self._jobs: JobQueue | None = None
        self.batcher = RetrieveBatcher(max_batch, batch_wait_ms)
        self._rebuild = threading.Lock()  # one retriever rebuild at a time

    def token_matches(self, presented: str | None) -> bool:
        """Whether `presented` is the write token (compared in constant time)."""
        return presented is not None and secrets.compare_digest(presented.encode(),
                                                                self.token.encode())

    def note_write(self) -> None:
        """Record a write made through this server: the next retrieval sees the new graph."""
        with self._lock:
            self._writes += 1

    @property
    def jobs(self) -> JobQueue:
        """The generation job queue; its worker thread starts on first use."""
        from kdcvg.serve.jobs import JobQueue

        with self._lock:
            if self._jobs is None:
                self._jobs = JobQueue(self.store, self.ads_root)
            return self._jobs

    def close(self) -> None:
        """Stop the retrieval worker (queued requests are answered first) and the job queue:
        the running job finishes its current ad, the rest stay queued."""
        self.batcher.stop()
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.stop()

    def _files_stamp(self) -> tuple[int, ...]:
        """Modification times of the model's config and weights and of the feedback file."""
        from kdcvg.retrieval.feedback import FEEDBACK_NAME
        from kdcvg.retrieval.model import CONFIG_NAME, WEIGHTS_NAME, model_dir, sar_dir

        folder = model_dir(self.home, "model")
        stamps = []
        for path in (folder / CONFIG_NAME, folder / WEIGHTS_NAME, sar_dir(self.home) / FEEDBACK_NAME):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def _outside_stamp(self) -> tuple[Any, ...]:
        """Node and relationship counts of a Neo4j store, asked at most every few seconds."""
        if not self._watch_outside:
            return ()
        now = time.monotonic()
        if now - self._outside_at >= self.outside_check_s:
            self._outside_at = now  # one request asks; the others use the last answer
            counts = [(r["label"], r["nodes"]) for r in self.store.query("label_counts")]
            counts += [(r["type"], r["relationships"])
                       for r in self.store.query("relationship_counts")]
            self._outside, self._outside_at = tuple(counts), now
        return self._outside

    def retriever(self) -> SarRetriever:
        """The SAR retriever for the current graph and model, rebuilt when either changed.

        One request rebuilds at a time, and the writes are never held up by it: the first
        request after a change rebuilds (so a client that writes, then reads, sees its
        write), while requests arriving during that rebuild are answered from the last
        snapshot. Writes made during a rebuild are picked up by the next request.

        Raises:
            RetrievalError: no trained model, or one stale for this graph.
        """
        from kdcvg.retrieval.retrieve import SarRetriever

        current = self._retriever
        if current is not None and self._built_for == self._key():
            return current
        if current is None:
            self._rebuild.acquire()  # nothing to answer from yet: wait for the first build
        elif not self._rebuild.acquire(blocking=False):
            return current  # another request is rebuilding: the last snapshot answers
        try:
            key = self._key()  # read before loading: a write during the load shows next time
            if self._retriever is not None and self._built_for == key:
                return self._retriever
            embedder = self._retriever.embedder if self._retriever is not None else None
            built = SarRetriever.load(self.store, self.home, embedder=embedder)
            with self._lock:
                self._retriever, self._built_for = built, key
            return built
        finally:
            self._rebuild.release()

    def _key(self) -> tuple[Any, ...]:
        """What the retriever was built from: writes seen, model and feedback files, counts."""
        with self._lock:
            writes = self._writes
        return (writes, self._files_stamp(), self._outside_stamp())
