"""How much SAR has to learn from, and whether a new model is worth keeping.

`sar train` says how many clips, stills and curated links it found before it
trains; it refuses, naming the commands that add supervision, when too few
selling points have curated links; after training it warns when the validation
recall is near zero, and it does not replace a saved model that validated better
unless told to (`--force`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdcvg.errors import RetrievalError
from kdcvg.graph.store import GraphReader

NEAR_ZERO_RECALL = 0.05  # validation recall below which a model is said to retrieve nothing
RECALL_PREFIX = "val_recall@"


@dataclass(frozen=True)
class Supervision:
    """What the graph offers SAR's training."""

    clips: int
    stills: int
    curated_links: int
    linked_points: int

    def line(self) -> str:
        return (f"found {self.clips} clips ({self.stills} stills), {self.curated_links} curated "
                f"EXPRESSES links on {self.linked_points} selling points")


def count_supervision(store: GraphReader) -> Supervision:
    """Clips, stills and curated links in the store (one named query)."""
    rows = store.query("sar_supervision_counts")
    r = rows[0] if rows else {}
    return Supervision(int(r.get("clips") or 0), int(r.get("stills") or 0),
                       int(r.get("curated_links") or 0), int(r.get("linked_points") or 0))


def require(found: Supervision, min_linked: int) -> None:
    """Refuse to train on fewer than `min_linked` linked selling points, saying how to add some.

    Raises:
        RetrievalError: too few selling points have curated links.
    """
    if found.linked_points >= min_linked:
        return
    raise RetrievalError(
        f"{found.line()}; SAR training needs at least {min_linked} selling points with "
        "curated links: curate some with `kdcvg graph link --clip ID --selling-point ID`, or ingest "
        "clips or product photos whose sidecars name selling points with `kdcvg clips "
        "ingest`; `kdcvg generate` works without SAR meanwhile")


def validation_recall(reports: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The supervised stage's validation recall@k as (name, value), if it reported one."""
    for report in reports:
        for key, value in (report.get("metrics") or {}).items():
            if key.startswith(RECALL_PREFIX):
                return key.removeprefix("val_"), float(value)
    return None


def _validation(reports: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(recall@k, MRR) of the supervised stage: how a model is compared with another."""
    recall = validation_recall(reports)
    if recall is None:
        return None
    for report in reports:
        mrr = (report.get("metrics") or {}).get("val_mrr")
        if mrr is not None:
            return recall[1], float(mrr)
    return recall[1], 0.0


def recall_warning(reports: list[dict[str, Any]]) -> str | None:
    """A warning when the validation recall is near zero (None otherwise)."""
    recall = validation_recall(reports)
    if recall is None or recall[1] >= NEAR_ZERO_RECALL:
        return None
    return (f"warning: validation {recall[0]} is {recall[1]:.3f}: the model retrieves almost "
            "nothing it was not shown; curate more links (`kdcvg graph link`) before relying "
            "on `--references sar`")


def keep_new(old: list[dict[str, Any]] | None, new: list[dict[str, Any]]) -> str | None:
    """Why the new model must not replace the saved one (None: it may).

    A saved model that validated better (higher recall@k, then higher MRR) is kept.
    """
    if old is None:
        return None
    before, after = _validation(old), _validation(new)
    if before is None or after is None or after >= before:
        return None
    name = (validation_recall(new) or ("recall", 0.0))[0]
    return (f"the new model validated worse ({name} {after[0]:.3f}, MRR {after[1]:.3f}) than "
            f"the saved model ({before[0]:.3f}, MRR {before[1]:.3f}); the saved model is kept "
            "(--force replaces it)")
