"""An ad always comes out: scenes that fall back when a selling point has no reference.

`FallbackReferences` wraps any `ReferenceSource`. A scene whose selling point has
no reference clip at all (`NoReferenceError`, or an empty scene) falls back to a
photo of the product (a clip of kind `still` that SHOWS it; the compose renderer
animates it with a camera move), each photo once per ad, and when there is no
photo left to a designed text scene: the selling point as a headline over the
brand's colours (from the product's photos when there are any, else the
product's accent) with a gentle camera move. Every
scene also carries the motion patterns its selling point SUGGESTS, which choose a
still's camera move. In strict mode nothing falls back: the source's error stands.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from kdcvg.errors import NoReferenceError
from kdcvg.generation.references import ReferenceSource
from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

PALETTE_SIZE = 3  # colours taken from the product's photos
PALETTE_SAMPLE = 96  # photos are scaled to this side before their colours are counted


def brand_palette(paths: Sequence[str | os.PathLike[str]],
                  colours: int = PALETTE_SIZE) -> tuple[tuple[int, int, int], ...]:
    """The most common saturated colours of the photos at `paths`, most common first.

    Near-white, near-black and grey pixels (studio backdrops, shadows) are left out,
    unless the photos hold nothing else (a black or white product): then only the
    near-white and near-black ones. Files that are missing or do not decode are
    skipped. Empty when nothing is left.
    """
    from PIL import Image, UnidentifiedImageError

    pixels = []
    for path in paths:
        try:
            with Image.open(path) as img:
                small = img.convert("RGB").resize((PALETTE_SAMPLE, PALETTE_SAMPLE))
        except (OSError, UnidentifiedImageError, ValueError):
            continue
        pixels.append(np.asarray(small, dtype=np.int16).reshape(-1, 3))
    if not pixels:
        return ()
    rgb = np.concatenate(pixels)
    plain = (rgb.max(axis=1) > 50) & (rgb.min(axis=1) < 225)
    saturated = plain & (rgb.max(axis=1) - rgb.min(axis=1) > 40)
    rgb = rgb[saturated] if saturated.any() else rgb[plain]
    if not len(rgb):
        return ()
    bins = (rgb // 32).astype(np.int32)  # 8 levels per channel
    codes = bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2]
    counts = np.bincount(codes, minlength=512)
    out: list[tuple[int, int, int]] = []
    for code in np.argsort(-counts, kind="stable")[:colours]:
        if counts[code] == 0:
            break
        mean = rgb[codes == code].mean(axis=0)
        out.append((int(mean[0]), int(mean[1]), int(mean[2])))
    return tuple(out)


class FallbackReferences:
    """A reference source whose scenes fall back to stills, then text; see the module doc.

    Args:
        source: the source tried first (curated links, SAR).
        store: the open store (photos and suggested motion are read from it).
        strict: no fallback: a selling point without references is an error.
    """

    def __init__(self, source: ReferenceSource, store: Any, strict: bool = False) -> None:
        self.source = source
        self.store = store
        self.strict = strict
        self.name = source.name
        self.used: set[str] = set()  # photos this ad has shown

    def for_ad(self) -> FallbackReferences:
        """The same source with no photo used yet: one per ad."""
        return FallbackReferences(self.source, self.store, self.strict)

    def describe(self) -> dict[str, Any]:
        how = "none (--strict)" if self.strict else "product photos, then a designed text scene"
        return self.source.describe() | {"fallback": how}

    def scene(self, product: ProductInfo, selling_point: str, k: int) -> Scene:
        """The source's scene, or a fallback scene when it has no reference.

        Raises:
            GenerationError: as the source does; `NoReferenceError` in strict mode.
        """
        try:
            scene = self.source.scene(product, selling_point, k)
        except NoReferenceError as e:
            if self.strict:
                raise
            sp_id, text, reason = e.selling_point_id, e.text or selling_point, str(e)
        else:
            if scene.references:
                return replace(scene, suggested=self.suggested(scene.selling_point_id))
            if self.strict:
                raise NoReferenceError(f"selling point {selling_point!r} of product "
                                       f"{product.id!r}: {self.source.name} retrieved no reference")
            sp_id, text = scene.selling_point_id, scene.text
            reason = f"{self.source.name} retrieved no reference for {selling_point!r}"
        return self.fallback_scene(product, sp_id, text, reason, k)

    def suggested(self, selling_point_id: str | None) -> tuple[tuple[str, float], ...]:
        """The motion patterns the selling point SUGGESTS, curated first, then strongest."""
        if not selling_point_id:
            return ()
        rows = self.store.query("generate_suggested_motion", selling_point=selling_point_id)
        return tuple((str(r["name"]), float(r["score"])) for r in rows)

    def fallback_scene(
        self, product: ProductInfo, sp_id: str | None, text: str, reason: str, k: int
    ) -> Scene:
        """A photo of the product not yet shown in this ad, or a designed text scene."""
        suggested = self.suggested(sp_id)
        rows = self.store.query("generate_product_stills", product=product.id)
        photos = [r for r in rows if os.path.isfile(str(r["uri"]))]
        fresh = [r for r in photos if str(r["clip"]) not in self.used]
        if fresh:
            # the photo a selling point gets does not depend on the scenes before it
            start = int(hashlib.sha256(f"{sp_id}:{text}".encode()).hexdigest(), 16) % len(fresh)
            chosen = (fresh[start:] + fresh[:start])[:k]
            self.used.add(str(chosen[0]["clip"]))
            references = tuple(Reference(clip_id=str(r["clip"]), uri=str(r["uri"]),
                                         caption=str(r["caption"] or ""), score=0.0)
                               for r in chosen)
            return Scene(text, sp_id, references, suggested, "still",
                         f"{reason}; used a photo of the product")
        if photos:
            why = f"all {len(photos)} photos of the product are shown in earlier scenes"
        elif rows:
            why = f"none of the product's {len(rows)} photo files exists"
        else:
            why = "the product has no photos"
        return Scene(text, sp_id, (), suggested, "text", f"{reason}; {why}: a designed text scene",
                     brand_palette([str(r["uri"]) for r in photos]))


def source_for(name: str, store: GraphReader, strict: bool = False) -> FallbackReferences:
    """The reference source `name` (sar, curated, auto) wrapped in the fallbacks.

    `kdcvg generate ad|batch` and `kdcvg serve`'s generation jobs both use it.
    """
    from kdcvg.generation.references import reference_source

    if name in ("curated", "auto"):
        from kdcvg.graph.embeddings import default_embedder

        source = reference_source(name, store, embedder_factory=default_embedder)
    else:
        source = reference_source(name, store)
    return FallbackReferences(source, store, strict=strict)
