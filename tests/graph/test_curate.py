from pathlib import Path

import pytest

from kdcvg.errors import ValidationError
from kdcvg.graph.curate import add_selling_point, link_clip, selling_point_id
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import read_batch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def filled(store, embedder):
    write_batch(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    return store


def test_near_duplicate_is_refused_with_the_existing_one_named(filled, embedder):
    with pytest.raises(ValidationError) as info:
        add_selling_point(filled, embedder, "p-cold-brew", "Velvety nitro foam cascades as you pour")
    assert "near-duplicate of 'sp-cold-brew-1'" in info.value.problems[0]
    assert "--force" in info.value.problems[0]
    assert len(filled.query("selling_points_of_product", product="p-cold-brew")) == 2


def test_force_adds_a_near_duplicate_and_new_text_is_added(filled, embedder):
    added = add_selling_point(filled, embedder, "p-cold-brew", "Velvety nitro foam cascades as you pour",
                              force=True)
    assert added.nearest == "sp-cold-brew-1" and added.similarity > 0.92
    other = add_selling_point(filled, embedder, "p-cold-brew", "Recyclable aluminium can")
    assert other.id == selling_point_id("p-cold-brew", "Recyclable aluminium can")
    ids = [r["id"] for r in filled.query("selling_points_of_product", product="p-cold-brew")]
    assert added.id in ids and other.id in ids


def test_unknown_product_and_empty_text_are_refused(filled, embedder):
    with pytest.raises(ValidationError, match="product: 'p-nope' does not exist"):
        add_selling_point(filled, embedder, "p-nope", "Great taste")
    with pytest.raises(ValidationError, match="text: is empty"):
        add_selling_point(filled, embedder, "p-cold-brew", "  ")


def test_link_is_curated_and_unknown_ids_are_refused(filled):
    link_clip(filled, "clip-cascade", "sp-cold-brew-2", weight=0.7)
    rows = filled.query("clips_for_selling_point", selling_point="sp-cold-brew-2")
    assert rows == [{"clip": "clip-cascade", "caption": "Cold brew poured into a tall glass, foam cascading",
                     "uri": "clips/cascade.mp4", "weight": 0.7, "source": "curated"}]
    with pytest.raises(ValidationError, match="from: clip 'clip-nope' does not exist"):
        link_clip(filled, "clip-nope", "sp-cold-brew-2")
