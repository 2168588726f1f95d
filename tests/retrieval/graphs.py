"""Test graphs in the exporter's `HeteroData` format, and small random SC-GATs.

The demo catalogue's texts are embedded with the real MiniLM; clip motion descriptors
are one-hot codes of the ground-truth pattern (seeded noise added), so the inputs look
like an export. `random_heterodata` is a random graph of the same format.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kdcvg.demo import catalog as cat
from kdcvg.graph.motion_patterns import MOTION_PATTERNS
from kdcvg.graph.schema import RELATIONSHIPS
from kdcvg.retrieval.config import EncoderConfig
from kdcvg.retrieval.encoder import SCGAT, SCORE_INIT
from kdcvg.retrieval.features import message_edge_types

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


def random_heterodata(seed: int, selling_point_x: torch.Tensor | None = None
                      ) -> tuple[HeteroData, dict[str, list[str]]]:
    """A random graph in the exporter's format: random unit features and random links.

    Args:
        selling_point_x: (S, 384) selling-point features (default: S = 24 random rows),
            e.g. MiniLM embeddings, so that real text lands near them.
    """
    g = torch.Generator().manual_seed(seed)
    n = {"product": 6, "category": 3, "selling_point": 24, "clip": 40, "motion_pattern": 5}
    if selling_point_x is not None:
        n["selling_point"] = int(selling_point_x.shape[0])
    ids = {nt: [f"{nt}-{i}" for i in range(k)] for nt, k in n.items()}
    data = HeteroData()
    for nt, k in n.items():
        data[nt].x = torch.nn.functional.normalize(torch.randn(k, 384, generator=g), dim=1)
    if selling_point_x is not None:
        data["selling_point"].x = selling_point_x.float()
    data["clip"].motion = torch.randn(n["clip"], MOTION_DIM, generator=g)
    data["clip"].has_motion = torch.rand(n["clip"], generator=g) > 0.2

    def pairs(src: str, dst: str, count: int) -> torch.Tensor:
        ei = torch.stack([torch.randint(0, n[src], (count,), generator=g),
                          torch.randint(0, n[dst], (count,), generator=g)])
        return torch.unique(ei, dim=1)

    def one_each(src: str, dst: str) -> torch.Tensor:  # every src row to one dst row
        return torch.stack([torch.arange(n[src]), torch.randint(0, n[dst], (n[src],),
                                                                generator=g)])

    edges = {"IN_CATEGORY": one_each("product", "category"),
             "HAS_SELLING_POINT": one_each("selling_point", "product").flip(0),
             "SHOWS": one_each("clip", "product"),
             "EXPRESSES": pairs("clip", "selling_point", 3 * n["selling_point"]),
             "HAS_MOTION": pairs("clip", "motion_pattern", n["clip"]),
             "SUGGESTS": pairs("selling_point", "motion_pattern", n["selling_point"])}
    for rel, ei in edges.items():
        data[RELATIONSHIPS[rel].pyg].edge_index = ei
    links = edges["EXPRESSES"].shape[1]
    data[RELATIONSHIPS["EXPRESSES"].pyg].edge_attr = torch.stack(
        [torch.rand(links, generator=g), (torch.rand(links, generator=g) > 0.3).float()], dim=1)
    data[RELATIONSHIPS["HAS_MOTION"].pyg].edge_attr = torch.rand(
        edges["HAS_MOTION"].shape[1], 1, generator=g)
    data.graph_version = f"random-{seed}"
    data.validate()
    return data, ids


def random_encoder(in_channels: dict[str, int], seed: int) -> SCGAT:
    """A small SC-GAT with random weights, every term of its score switched on."""
    torch.manual_seed(seed)
    model = SCGAT(in_channels, message_edge_types(),
                  EncoderConfig(hidden=32, out=16, heads=2, dropout=0.0)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("gat_gate", *SCORE_INIT):
            getattr(model, name).fill_(0.5 + 2.5 * float(torch.rand(1, generator=g)))
    return model


def load_demo(store: object, embedder: object) -> None:
    """Write the demo catalogue and its clips (curated links, motion) into `store`."""
    from kdcvg.demo.build import catalogue_with_clips_batch
    from kdcvg.graph.ingest import write_batch

    write_batch(store, catalogue_with_clips_batch(), embedder)  # type: ignore[arg-type]
