"""Curated references from the graph, free-text matching, and the source registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.backends import get_generator
from kdcvg.generation.references import CuratedReferences, load_product, reference_source
from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR, build_ackb


@pytest.fixture
def ackb(store, tmp_path: Path):  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    return store


def test_product_and_curated_references_best_first(ackb) -> None:  # type: ignore[no-untyped-def]
    product = load_product(ackb, PRODUCT)
    assert (product.name, product.brand) == ("AquaPure Bottle", "AquaPure")
    scene = CuratedReferences(ackb).scene(product, SP_POUR, k=3)
    assert scene.text == "Pours smoothly without spilling" and scene.selling_point_id == SP_POUR
    assert [(r.clip_id, r.score) for r in scene.references] == [("c-pan", 0.9),
                                                                ("c-pan-alt", 0.4)]
    assert CuratedReferences(ackb).scene(product, SP_POUR, k=1).references[0].clip_id == "c-pan"
    cold = CuratedReferences(ackb).scene(product, SP_COLD, k=3)
    assert [r.clip_id for r in cold.references] == ["c-still"]  # the auto link is left out
    assert cold.references[0].motion_patterns == (("zoom_in", 0.9),)


def test_free_text_borrows_the_closest_selling_point(ackb, embedder) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import IngestBatch

    batch = IngestBatch()  # embed the selling points so that free text can match them
    for sp, text in ((SP_POUR, "Pours smoothly without spilling"),
                     (SP_COLD, "Keeps water cold for 24 hours")):
        batch.add_node("SellingPoint", {"id": sp, "text": text, "product": PRODUCT})
    write_batch(ackb, batch, embedder)
    source = CuratedReferences(ackb, embedder_factory=lambda: embedder)
    product = load_product(ackb, PRODUCT)
    scene = source.scene(product, "Your drink stays icy cold all day", k=3)
    assert scene.selling_point_id == SP_COLD
    assert scene.text == "Your drink stays icy cold all day"
    with pytest.raises(GenerationError, match="'Quantum blockchain synergy' is neither a selling "
                       "point id of product 'p-aqua' nor close to one"):
        source.scene(product, "Quantum blockchain synergy", k=3)


def test_unknown_product(ackb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GenerationError) as e:
        load_product(ackb, "p-none")
    assert str(e.value).startswith("unknown product 'p-none': no Product node has this id")


def test_unknown_source_and_backend() -> None:
    with pytest.raises(GenerationError, match="unknown reference source 'magic'; known: auto, curated, "
                       "sar"):
        reference_source("magic", None)
    with pytest.raises(GenerationError, match="unknown backend 'x'; known backends: compose, "
                       "diffusers"):
        get_generator("x")
    assert get_generator("compose").name == "compose"


def test_auto_falls_back_to_curated_and_says_why(tmp_path) -> None:
    from types import SimpleNamespace

    from kdcvg.generation.references import auto_references

    store = SimpleNamespace(home=tmp_path)  # no SAR model under tmp_path/sar
    source = auto_references(store)
    described = source.describe()
    assert described["source"] == "curated"
    assert described["note"].startswith("auto: SAR unavailable (--references sar: no trained SAR model")


def test_references_carry_their_patterns_distortions(ackb) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import IngestBatch
    from kdcvg.retrieval.scenes import Reference, with_distortions

    product = load_product(ackb, PRODUCT)
    assert CuratedReferences(ackb).scene(product, SP_COLD, k=3).references[0].distortions == ()
    batch = IngestBatch()
    batch.add_node("MotionPattern", {"name": "zoom_in", "kind": "camera",
                                     "distortions": ["blurry close-up", "warped logo"]})
    batch.add_node("MotionPattern", {"name": "pour", "kind": "object",
                                     "distortions": ["liquid floating upward", "warped logo"]})
    write_batch(ackb, batch, embedder=None)
    cold = CuratedReferences(ackb).scene(product, SP_COLD, k=3)
    assert cold.references[0].distortions == ("blurry close-up", "warped logo")
    # strongest pattern first, no repeats; unknown patterns and clips without any add nothing
    refs = with_distortions(ackb, [
        Reference("a", "/a.mp4", "", 1.0, (("pour", 0.9), ("zoom_in", 0.5), ("nowhere", 0.4))),
        Reference("b", "/b.mp4", "", 0.5),
    ])
    assert [r.distortions for r in refs] == [
        ("liquid floating upward", "warped logo", "blurry close-up"), ()]


def test_unknown_product_points_to_the_query_that_lists_products(store) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.errors import GenerationError
    from kdcvg.generation.references import load_product

    with pytest.raises(GenerationError) as e:
        load_product(store, "p-none")
    assert str(e.value) == ("unknown product 'p-none': no Product node has this id (list "
                            "products with `kdcvg graph query products` or ingest it first)")
