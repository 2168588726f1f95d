"""Micro-batched retrieval (`kdcvg/serve/batcher.py`): concurrent `/api/retrieve` requests
on a real trained store, through uvicorn, each answered as `SarRetriever.retrieve` alone."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from kdcvg.errors import BusyError, RetrievalError
from kdcvg.retrieval.retrieve import SarQuery
from kdcvg.serve.app import create_app
from kdcvg.serve.state import Service
from tests.retrieval.graphs import load_demo
from tests.serve.kit import serving

KNOWN = "Razor-sharp Japanese steel slices tomatoes paper thin."
QUERIES = [{"text": KNOWN, "k": 3},
           {"text": "earbuds that block out traffic noise", "product": "pulse-earbuds", "k": 5},
           {"text": "crunchy", "product": "no-such-product"},
           {"text": "Chips tumble into a bowl with a loud crunch", "product": "crunch-chips"},
           *({"text": f"keeps drinks cold for {h} hours"} for h in range(2, 14))]


@pytest.fixture
def trained(store: Any, embedder: Any, tmp_path: Path) -> Any:
    from kdcvg.retrieval.pipeline import train_sar

    store.home = tmp_path / "home"
    load_demo(store, embedder)
    train_sar(store, store.home, epochs=4, ppo_steps=0, rl="none")
    return store


def _alone(service: Service, q: dict[str, Any]) -> dict[str, Any]:
    """What `retrieve` answers for `q` on its own: clips and scores, or the error."""
    try:
        r = service.retriever().retrieve(q["text"], q.get("product"), None, q.get("k", 10))
    except RetrievalError as e:
        return {"error": str(e)}
    return {"query": r.query, "clips": [h.clip_id for h in r.hits],
            "scores": [h.score for h in r.hits]}


def _together(url: str, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`queries` posted at once, one client thread each; their answers, in order."""
    answers: list[dict[str, Any]] = [{} for _ in queries]
    start = threading.Barrier(len(queries))

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            r = http.post("/api/retrieve", json=queries[i]).json()
            answers[i] = (r if "error" in r else
                          {"query": r["query"], "clips": [h["clip_id"] for h in r["hits"]],
                           "scores": [h["score"] for h in r["hits"]]})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.parametrize("max_batch", [32, 1])
def test_concurrent_requests_get_their_own_answers(trained: Any, max_batch: int) -> None:
    # a long wait so that the requests of one burst reliably share a batch here
    service = Service(trained, "token", max_batch=max_batch, batch_wait_ms=200)
    with serving(create_app(service)) as url:
        got = _together(url, QUERIES)
        stats = httpx.get(url + "/api/health").json()["retrieval"]
    try:
        for q, answer in zip(QUERIES, got, strict=True):
            alone = _alone(service, q)
            assert answer.keys() == alone.keys(), (q, answer)
            if "error" in alone:
                assert answer == alone
            else:
                assert (answer["query"], answer["clips"]) == (alone["query"], alone["clips"])
                assert answer["scores"] == pytest.approx(alone["scores"], abs=1e-5)
        assert len({tuple(a.get("clips", ())) for a in got}) > 5  # distinct answers
        assert stats["requests"] == len(QUERIES)
        if max_batch == 1:
            assert stats["largest"] == 1 and stats["batches"] == len(QUERIES)
        else:
            assert stats["largest"] > 1 and stats["batches"] < len(QUERIES)
    finally:
        service.close()


def test_close_answers_nothing_more_and_ends_the_worker(trained: Any) -> None:
    service = Service(trained, "token")
    retriever = service.retriever()
    assert service.batcher.retrieve(retriever, SarQuery(KNOWN, k=2)).result.hits
    worker = service.batcher._thread
    assert worker is not None and worker.is_alive()
    service.close()
    assert not worker.is_alive()
    with pytest.raises(BusyError, match="the server is stopping"):
        service.batcher.retrieve(retriever, SarQuery(KNOWN))


def test_batching_options_are_checked() -> None:
    from kdcvg.serve.batcher import RetrieveBatcher

    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        RetrieveBatcher(0)
