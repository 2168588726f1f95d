"""What retrieval hands to generation: the product, the reference clips and the scene.

`ProductInfo`, `Reference` and `Scene` are plain frozen data. They live here, in
the lowest layer that makes them (the SAR retriever ranks `Reference`s and
`SarReferences` builds `Scene`s), so that generation, one layer up, imports
them and retrieval never imports generation. `with_distortions` is the graph
read both reference sources (curated links and SAR) finish with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader


@dataclass(frozen=True)
class ProductInfo:
    id: str
    name: str
    brand: str = ""
    description: str = ""
    category: str = ""


@dataclass(frozen=True)
class Reference:
    """A clip retrieved for a selling point, best first in a scene.

    Args:
        clip_id: the Clip node id.
        uri: local path of the clip's video file.
        caption: the clip's caption.
        score: retrieval score (higher is better).
        motion_patterns: (pattern name, score) pairs, strongest first.
        motion: the clip's motion descriptor, when it has one.
        distortions: what generators typically get wrong in the clip's motion patterns
            (`MotionPattern.distortions`, strongest pattern first, no repeats); MKR adds
            them to the negative prompt.
    """

    clip_id: str
    uri: str
    caption: str
    score: float
    motion_patterns: tuple[tuple[str, float], ...] = ()
    motion: tuple[float, ...] | None = None
    distortions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scene:
    """One selling point of the ad and the references retrieved for it.

    Args:
        text: the selling point as the viewer reads it.
        selling_point_id: its SellingPoint id (None for free text).
        references: best first.
        suggested: (motion pattern, score) pairs the selling point SUGGESTS, curated
            links first, then strongest; a still is animated with the camera move they name.
        fallback: None when the references were retrieved for the selling point; "still"
            (the product's photos) or "text" (a designed text scene) when nothing was.
        fallback_reason: why the scene fell back.
        palette: brand colours (RGB) of a designed text scene, from the product's photos.
    """

    text: str
    selling_point_id: str | None
    references: tuple[Reference, ...]
    suggested: tuple[tuple[str, float], ...] = ()
    fallback: str | None = None
    fallback_reason: str = ""
    palette: tuple[tuple[int, int, int], ...] = ()


def with_distortions(store: GraphReader, references: Sequence[Reference]) -> tuple[Reference, ...]:
    """The references with `distortions` filled from their motion patterns in the graph.

    One `mkr_distortions` query for all of them. A reference's distortions follow its
    patterns' order (strongest first), each pattern's in the order recorded, without repeats.
    """
    names = sorted({name for r in references for name, _ in r.motion_patterns})
    if not names:
        return tuple(references)
    recorded = {str(row["pattern"]): [str(d) for d in row["distortions"] or []]
                for row in store.query("mkr_distortions", patterns=names)}
    return tuple(
        replace(r, distortions=tuple(dict.fromkeys(
            d for name, _ in r.motion_patterns for d in recorded.get(name, []))))
        for r in references
    )
