"""One job of a batch, shared by the runners: the parsed row and what the manifest keeps.

`batch.py` parses job files and keeps the manifest; it hands `BatchJob`s to a runner
(in process, `spawn` workers, or Ray tasks in `ray_batch.py`), and every runner reports
a finished ad as `result_fields` of its sidecar record. Kept apart so that the Ray
runner needs nothing of the orchestrator that calls it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdcvg.generation.base import AdJob
from kdcvg.validation import safe_child


@dataclass(frozen=True)
class BatchJob:
    """One valid row of a job file."""

    row: int
    id: str
    job: AdJob
    size: tuple[int, int] | None = None

    def video(self, folder: Path) -> Path:
        """`<folder>/<id>.mp4`, checked to stay inside `folder`."""
        return safe_child(folder, f"{self.id}.mp4")

    @property
    def spec(self) -> str:
        """A hash of everything that shapes the output: a changed row is rendered again."""
        text = json.dumps({"job": [self.job.product_id, list(self.job.selling_points),
                                   self.job.format, self.job.duration_s, self.job.seed,
                                   self.job.backend, dict(self.job.options)],
                           "size": self.size}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def result_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps of a finished ad's sidecar record: metrics and seconds."""
    return {"metrics": {k: record["metrics"].get(k) for k in
                        ("dynamic_degree", "motion_smoothness", "temporal_consistency",
                         "motion_fidelity", "clip_score")},
            "seconds": record["timings"]["total_s"]}
