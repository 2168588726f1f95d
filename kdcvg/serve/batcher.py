"""Micro-batching for `POST /api/retrieve`: requests that queue up are answered together.

One worker thread runs every retrieval, one batch at a time (torch and MiniLM are not
run by two threads at once, as the lock this replaces ensured). A request handler
submits its query with the retriever snapshot it got from `Service.retriever()` and
waits. The worker takes the oldest request, then every request queued behind it,
waiting until `wait_s` after the oldest one arrived for more, up to `max_batch`, and
answers them with one `SarRetriever.retrieve_many` per snapshot (one snapshot but
right after a rebuild). A batch costs far less than its requests one by one: one
MiniLM forward for all new texts and one matrix product against the clip index,
where each request alone paid a forward and a scan. `max_batch=1` answers one
request at a time, as before.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdcvg.errors import BusyError

if TYPE_CHECKING:
    from kdcvg.retrieval.retrieve import SarQuery, SarResult, SarRetriever

__all__ = ["BATCH_WAIT_MS", "MAX_BATCH", "Answer", "RetrieveBatcher"]

MAX_BATCH = 32  # requests answered by one retrieval at most
BATCH_WAIT_MS = 2.0  # how long after the oldest queued request the worker waits for more


@dataclass(frozen=True)
class Answer:
    """A request's result, the time its batch's retrieval took and that batch's size."""

    result: SarResult
    retrieve_ms: float
    batch: int


@dataclass
class _Request:
    retriever: SarRetriever
    query: SarQuery
    future: Future[Answer] = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class RetrieveBatcher:
    """The retrieval worker of `kdcvg serve`; its thread starts on the first request.

    Args:
        max_batch: requests answered by one retrieval at most (1: one at a time).
        wait_ms: milliseconds after the oldest queued request arrived that the worker
            waits for more before it runs a batch that is not full.

    Attributes:
        batches, requests, largest: batches run, requests answered in them, the
            largest batch (`/api/health` shows them).
    """

    def __init__(self, max_batch: int = MAX_BATCH, wait_ms: float = BATCH_WAIT_MS) -> None:
        if max_batch < 1 or not wait_ms >= 0:
            raise ValueError(f"max_batch must be at least 1 and wait_ms at least 0, got "
                             f"{max_batch} and {wait_ms}")
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000
        self.batches = self.requests = self.largest = 0
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders submissions against `stop`'s end marker
        self._thread: threading.Thread | None = None
        self._stopped = False

    def retrieve(self, retriever: SarRetriever, query: SarQuery) -> Answer:
        """`retriever.retrieve(query)`, answered in a batch with whatever else is queued.

        Raises:
            RetrievalError: the query's own error, as `SarRetriever.retrieve` raises it.
            BusyError: the server is stopping.
        """
        request = _Request(retriever, query)
        with self._lock:
            if self._stopped:
                raise BusyError("the server is stopping; send the request again once it is "
                                "back")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kdcvg-retrieve",
                                                daemon=True)
                self._thread.start()
            self._queue.put(request)
        return request.future.result()

    def stop(self) -> None:
        """Answer the requests already queued, then end the worker thread."""
        with self._lock:
            self._stopped = True
            thread = self._thread
            self._queue.put(None)  # after every request accepted: the worker answers them first
        if thread is not None:
            thread.join()

    def stats(self) -> dict[str, Any]:
        return {"max_batch": self.max_batch, "wait_ms": self.wait_s * 1000,
                "batches": self.batches, "requests": self.requests, "largest": self.largest}

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, end = [first], False
            deadline = first.arrived + self.wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:  # past the deadline: only what is queued already
                    more = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    end = True
                    break
                batch.append(more)
            self._answer(batch)
            if end:
                return

    def _answer(self, batch: list[_Request]) -> None:
        """One `retrieve_many` per retriever snapshot in `batch`; each future gets its own."""
        self.batches += 1
        self.requests += len(batch)
        self.largest = max(self.largest, len(batch))
        groups: dict[int, list[_Request]] = {}
        for request in batch:
            groups.setdefault(id(request.retriever), []).append(request)
        for group in groups.values():
            started = time.perf_counter()
            try:
                results = group[0].retriever.retrieve_many([r.query for r in group])
            except Exception as e:  # a bug, not a bad query: each request reports it
                for r in group:
                    r.future.set_exception(e)
                continue
            took = (time.perf_counter() - started) * 1000
            for r, result in zip(group, results, strict=True):
                if isinstance(result, Exception):
                    r.future.set_exception(result)
                else:
                    r.future.set_result(Answer(result, took, len(batch)))
