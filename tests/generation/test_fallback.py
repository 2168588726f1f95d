"""An ad always comes out: scenes without references fall back to photos, then text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kdcvg.errors import NoReferenceError
from kdcvg.generation.base import AdJob
from kdcvg.generation.fallback import brand_palette
from kdcvg.generation.pipeline import generate_ad
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import IngestBatch
from kdcvg.media import video
from tests.generation.adkit import PRODUCT, SP_EMPTY, SP_POUR, build_ackb, texture

SMALL = (360, 640)


@pytest.fixture
def ackb(store, tmp_path):  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    return store


def _photo(path: Path, colour: tuple[int, int, int]) -> Path:
    """A product photo: a coloured product on a pale, detailed backdrop (a plain white one
    gives flow nothing to track outside the product, and a pan reads as an object sliding)."""
    from PIL import Image

    img = (texture(480, 640, seed=9) // 5 + 200).astype(np.uint8)
    img[100:380, 220:420] = colour
    img[120:360, 240:400] = (texture(240, 160, seed=5) // 4 + np.asarray(colour) * 3 // 4)
    Image.fromarray(img).save(path)
    return path


def _add_photo(store: object, folder: Path, colour: tuple[int, int, int] = (200, 30, 40)
               ) -> Path:
    photo = _photo(folder / "photo.png", colour)
    batch = IngestBatch()
    batch.add_node("Clip", {"id": "still-1", "uri": str(photo), "caption": "the bottle",
                            "kind": "still"})
    batch.add_link("SHOWS", "still-1", PRODUCT)
    batch.add_node("MotionPattern", {"name": "pan_left", "kind": "camera"})
    batch.add_link("SUGGESTS", SP_EMPTY, "pan_left", {"source": "curated"})
    write_batch(store, batch, embedder=None)  # type: ignore[arg-type]
    return photo


def test_palette_takes_the_product_colour_not_the_backdrop(tmp_path: Path) -> None:
    palette = brand_palette([_photo(tmp_path / "a.png", (200, 30, 40)), tmp_path / "missing.png"])
    assert palette and np.abs(np.asarray(palette[0]) - (200, 30, 40)).max() < 60
    assert brand_palette([tmp_path / "missing.png"]) == ()


def test_a_selling_point_without_references_becomes_a_designed_text_scene(
    ackb, tmp_path: Path
) -> None:
    out = tmp_path / "ad.mp4"
    record = generate_ad(ackb, AdJob(PRODUCT, (SP_POUR, SP_EMPTY), seed=1), out, size=SMALL)

    assert len(list(video.iter_frames(out))) == 180
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar == json.loads(json.dumps(record))
    [fallback] = sidecar["fallbacks"]
    assert (fallback["index"], fallback["selling_point_id"], fallback["fallback"]) == (
        1, SP_EMPTY, "text")
    assert "has no curated reference clip" in fallback["reason"]
    assert fallback["reason"].endswith("the product has no photos: a designed text scene")
    scene = sidecar["scenes"][1]
    assert scene["fallback"] == "text" and scene["references"] == []
    assert sidecar["scenes"][0]["fallback"] is None
    meta = sidecar["backend"]["metadata"]["scenes"][1]
    assert meta["clip_id"] is None and meta["mode"] in ("zoom_in", "pan_right", "zoom_out",
                                                        "pan_left", "tilt_up", "tilt_down")
    # the gentle move is measured like a still's camera move
    fidelity = sidecar["metrics"]["motion_fidelity_scenes"][1]
    assert fidelity["target"] == meta["mode"] and fidelity["fidelity"] is not None
    assert sidecar["references"]["fallback"] == "product photos, then a designed text scene"


def test_a_product_photo_comes_before_text_and_moves_as_the_selling_point_suggests(
    ackb, tmp_path: Path
) -> None:
    _add_photo(ackb, tmp_path)
    out = tmp_path / "ad.mp4"
    record = generate_ad(ackb, AdJob(PRODUCT, (SP_EMPTY, SP_EMPTY), seed=2), out, size=SMALL)

    first, second = record["scenes"]
    assert first["fallback"] == "still" and first["references"][0]["clip_id"] == "still-1"
    assert first["suggested_motion"] == [["pan_left", 1.0]]
    assert first["references"][0]["thumbnail"].startswith("data:image/jpeg;base64,")
    # the only photo is shown once; the next scene is a designed one in its colours
    assert second["fallback"] == "text" and "photos of the product are shown" in \
        second["fallback_reason"]
    assert np.abs(np.asarray(second["palette"][0]) - (200, 30, 40)).max() < 60
    meta = record["backend"]["metadata"]["scenes"]
    assert meta[0]["mode"] == "pan_left" and meta[1]["mode"] == "pan_left"
    fid = record["metrics"]["motion_fidelity_scenes"][0]
    assert fid["target"] == "pan_left" and fid["fidelity"] > 0.5


def test_strict_refuses_the_fallback(ackb, tmp_path: Path) -> None:
    with pytest.raises(NoReferenceError, match="has no curated reference clip"):
        generate_ad(ackb, AdJob(PRODUCT, (SP_EMPTY,)), tmp_path / "ad.mp4", size=SMALL,
                    strict=True)
    assert list(tmp_path.glob("ad*")) == []
