"""Test graphs in the exporter's `HeteroData` format, built from the demo catalogue.

Texts are embedded with the real MiniLM; clip motion descriptors are one-hot codes
of the ground-truth pattern (seeded noise added), so the inputs look like an export.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kdcvg.demo import catalog as cat
from kdcvg.graph.motion_patterns import MOTION_PATTERNS
from kdcvg.graph.schema import RELATIONSHIPS

MOTION_DIM = 16


def demo_texts() -> dict[str, dict[str, str]]:
    """Node key -> text per node type (what the store holds as text properties)."""
    return {
        "product": {p.id: p.description for p in cat.PRODUCTS},
        "category": {c: c for c in cat.CATEGORIES},
        "selling_point": {s.id: s.text for s in cat.SELLING_POINTS},
        "clip": {c.id: c.caption for c in cat.DEMO_CLIPS},
        "motion_pattern": {m.name: m.description for m in MOTION_PATTERNS},
    }


def demo_heterodata(embedder: object, curated: bool = True, seed: int = 0
                    ) -> tuple[HeteroData, dict[str, list[str]]]:
    """The demo ACKB as an export would give it.

    Args:
        embedder: has `embed(list[str]) -> (N, 384)`.
        curated: False marks every EXPRESSES link as non-curated.
    """
    texts = demo_texts()
    ids = {nt: list(t) for nt, t in texts.items()}
    row = {nt: {k: i for i, k in enumerate(v)} for nt, v in ids.items()}
    data = HeteroData()
    for nt, t in texts.items():
        data[nt].x = torch.from_numpy(embedder.embed(list(t.values())))  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    patterns = [m.name for m in MOTION_PATTERNS]
    motion = np.zeros((len(cat.DEMO_CLIPS), MOTION_DIM), dtype=np.float32)
    for i, c in enumerate(cat.DEMO_CLIPS):
        motion[i, patterns.index(c.motion) % MOTION_DIM] = 1.0
    motion += rng.normal(0, 0.05, motion.shape).astype(np.float32)
    data["clip"].motion = torch.from_numpy(motion)
    data["clip"].has_motion = torch.ones(len(cat.DEMO_CLIPS), dtype=torch.bool)

    def put(rel: str, pairs: list[tuple[str, str]], attr: list[list[float]] | None = None) -> None:
        spec = RELATIONSHIPS[rel]
        s, _, d = spec.pyg
        ei = torch.tensor([[row[s][a] for a, _ in pairs], [row[d][b] for _, b in pairs]],
                          dtype=torch.long).view(2, -1)
        data[spec.pyg].edge_index = ei
        if attr is not None:
            data[spec.pyg].edge_attr = torch.tensor(attr, dtype=torch.float32).view(len(pairs), -1)

    put("IN_CATEGORY", [(p.id, p.category) for p in cat.PRODUCTS])
    put("HAS_SELLING_POINT", [(s.product, s.id) for s in cat.SELLING_POINTS])
    put("SHOWS", [(c.id, c.product) for c in cat.DEMO_CLIPS])
    links = [(c.id, sp, w) for c in cat.DEMO_CLIPS for sp, w in c.expresses]
    put("EXPRESSES", [(c, s) for c, s, _ in links],
        [[w, 1.0 if curated else 0.0] for _, _, w in links])
    motion_links = [(c.id, m) for c in cat.DEMO_CLIPS for m in (c.motion, *c.creative)]
    put("HAS_MOTION", motion_links, [[1.0]] * len(motion_links))
    put("SUGGESTS", list(cat.SUGGESTS))
    data.graph_version = f"test-{len(links)}"
    data.validate()
    return data, ids
