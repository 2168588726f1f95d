"""SAR as the generation front end's reference source (`--references sar`)."""

from __future__ import annotations

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.references import load_product
from kdcvg.graph.motion_patterns import MOTION_PATTERNS
from kdcvg.retrieval.pipeline import train_sar
from kdcvg.retrieval.source import SarReferences

from .graphs import load_demo


def test_sar_references_need_a_trained_model(store, tmp_path):
    store.home = tmp_path
    with pytest.raises(GenerationError, match="--references sar: no trained SAR model in"):
        SarReferences(store)


def test_scenes_come_from_the_trained_retriever(store, embedder, tmp_path):
    load_demo(store, embedder)
    store.home = tmp_path
    train_sar(store, tmp_path, epochs=4, ppo_steps=0, rl="none")
    source = SarReferences(store)
    product = load_product(store, "edge-knife")

    by_id = source.scene(product, "sp-edge-knife-1", 3)
    assert by_id.selling_point_id == "sp-edge-knife-1"
    assert by_id.text == "Razor-sharp Japanese steel slices tomatoes paper thin."
    assert len(by_id.references) == 3
    assert [r.score for r in by_id.references] == sorted((r.score for r in by_id.references), reverse=True)
    # the graph's distortions of each reference's motion patterns, read here for MKR
    recorded = {m.name: m.distortions for m in MOTION_PATTERNS}
    for ref in by_id.references:
        assert ref.motion_patterns
        assert ref.distortions == tuple(dict.fromkeys(
            d for name, _ in ref.motion_patterns for d in recorded[name]))

    free = source.scene(product, "cuts paper-thin slices", 2)
    assert free.selling_point_id is None and free.text == "cuts paper-thin slices"
    assert free.references[0].clip_id.startswith("clip-")
    assert source.describe()["graph_version"] == source.retriever.graph_version
