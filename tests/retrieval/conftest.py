"""Fixtures of the SAR tests: the demo catalogue as a HeteroData and a model trained on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graphs import demo_heterodata  # noqa: E402

from kdcvg.demo import catalog as cat  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sar"


def catalogue_texts() -> Any:
    from kdcvg.retrieval.retrieve import GraphTexts

    linked: dict[str, list[str]] = {}
    sp_text = {s.id: s.text for s in cat.SELLING_POINTS}
    for c in cat.DEMO_CLIPS:
        linked[c.id] = [sp_text[s] for s, _ in c.expresses]
    return GraphTexts(
        {c.id: {"clip": c.id, "caption": c.caption, "uri": f"clips/{c.id}.mp4",
                "product": c.product, "selling_points": linked[c.id],
                "motion": [{"name": c.motion, "score": 1.0}]} for c in cat.DEMO_CLIPS},
        {s.id: {"selling_point": s.id, "text": s.text, "product": s.product}
         for s in cat.SELLING_POINTS})


@pytest.fixture(scope="session")
def demo_graph(embedder: Any) -> tuple[Any, dict[str, list[str]]]:
    return demo_heterodata(embedder)


@pytest.fixture(scope="session")
def demo_inputs(demo_graph: Any) -> Any:
    from kdcvg.retrieval.features import build_inputs

    return build_inputs(*demo_graph, knn=5)


@pytest.fixture(scope="session")
def trained(demo_graph: Any) -> tuple[Any, Any]:
    """(supervised, after PPO) models on the demo catalogue, seed 0, a short PPO stage."""
    from kdcvg.retrieval.pipeline import fit, make_config

    data, ids = demo_graph
    texts = catalogue_texts()
    return fit(data, ids, texts.captions(ids["clip"]), make_config(seed=0, ppo_steps=256),
               sp_texts=texts.texts(ids["selling_point"]))


@pytest.fixture
def cli_env(store: Any, graph_server: Any, tmp_path: Any, monkeypatch: Any) -> list[str]:
    """Point the CLI at the fixture's database through --neo4j and its credentials."""
    user, password = graph_server.auth
    monkeypatch.setenv("NEO4J_USER", user)
    monkeypatch.setenv("NEO4J_PASSWORD", password)
    monkeypatch.setenv("NEO4J_DATABASE", store.database)
    monkeypatch.setenv("KDCVG_HOME", str(tmp_path / "home"))
    return ["--neo4j", graph_server.uri]
