"""SAR speed on a synthetic ACKB: training step, PPO steps/s, top-10 latency vs plain FAISS.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py   # 100k clips, 200k selling points
    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py --scale 0.05

Texts are random unit vectors (the graph's shape matters here, not its meaning); unseen-text
latency includes a real MiniLM embedding. The floor is a plain FAISS search over the same
clip vectors, measured in the same run; ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def synthetic(n_clip: int, n_sp: int, seed: int = 0):  # noqa: ANN201
    from torch_geometric.data import HeteroData

    rng = np.random.default_rng(seed)
    n_prod, n_cat, n_mp = max(n_sp // 4, 1), 50, 22

    def unit(n: int) -> torch.Tensor:
        v = rng.normal(size=(n, 384)).astype(np.float32)
        return torch.from_numpy(v / np.linalg.norm(v, axis=1, keepdims=True))

    data = HeteroData()
    for nt, n in (("product", n_prod), ("category", n_cat), ("selling_point", n_sp),
                  ("clip", n_clip), ("motion_pattern", n_mp)):
        data[nt].x = unit(n)
    data["clip"].motion = torch.from_numpy(rng.normal(size=(n_clip, 16)).astype(np.float32))
    data["clip"].has_motion = torch.ones(n_clip, dtype=torch.bool)

    def ei(src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([src, dst]).astype(np.int64))

    data["product", "in_category", "category"].edge_index = ei(np.arange(n_prod),
                                                              rng.integers(n_cat, size=n_prod))
    sp_prod = rng.integers(n_prod, size=n_sp)
    data["product", "has_selling_point", "selling_point"].edge_index = ei(sp_prod, np.arange(n_sp))
    data["clip", "shows", "product"].edge_index = ei(np.arange(n_clip),
                                                     rng.integers(n_prod, size=n_clip))
    src = np.repeat(np.arange(n_clip), 2)
    dst = rng.integers(n_sp, size=2 * n_clip)
    data["clip", "expresses", "selling_point"].edge_index = ei(src, dst)
    data["clip", "expresses", "selling_point"].edge_attr = torch.ones((2 * n_clip, 2))
    data["clip", "has_motion", "motion_pattern"].edge_index = ei(np.arange(n_clip),
                                                                 rng.integers(n_mp, size=n_clip))
    data["clip", "has_motion", "motion_pattern"].edge_attr = torch.ones((n_clip, 1))
    data["selling_point", "suggests", "motion_pattern"].edge_index = ei(
        np.arange(n_sp), rng.integers(n_mp, size=n_sp))
    data.graph_version = "bench"
    ids = {nt: [f"{nt}-{i}" for i in range(data[nt].num_nodes)] for nt in data.node_types}
    return data, ids


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.retrieval.config import RlConfig, SarConfig, TrainConfig
    from kdcvg.retrieval.encoder import SCGAT
    from kdcvg.retrieval.features import build_inputs, message_edge_types
    from kdcvg.retrieval.index import ClipIndex
    from kdcvg.retrieval.model import SarModel
    from kdcvg.retrieval.ppo import train_rl
    from kdcvg.retrieval.retrieve import GraphTexts, SarRetriever
    from kdcvg.retrieval.train import train_supervised

    n_clip, n_sp = int(100_000 * args.scale), int(200_000 * args.scale)
    t = time.perf_counter()
    data, ids = synthetic(n_clip, n_sp)
    inputs = build_inputs(data, ids, knn=5)
    print(f"graph: {n_clip} clips, {n_sp} selling points; inputs built in "
          f"{time.perf_counter() - t:.1f}s")
    config = SarConfig()
    torch.manual_seed(0)
    enc = SCGAT(inputs.in_channels, message_edge_types(), config.encoder)
    t = time.perf_counter()
    train_supervised(enc, inputs, TrainConfig(epochs=1, patience=1, val_fraction=0.001,
                                              batch_size=256), None)
    # one epoch is every training selling point once; we time 2 steps and scale up
    print(f"note: a full epoch would be {n_sp * 0.999 / 256:.0f} steps of batch 256")
    step_t = []
    for _ in range(2):
        t = time.perf_counter()
        train_supervised(enc, inputs, TrainConfig(epochs=0, val_fraction=0.001), None)
        step_t.append(time.perf_counter() - t)
    print(f"supervised: validation pass {np.median(step_t):.2f}s")
    t = time.perf_counter()
    captions = [f"clip {i} caption" for i in range(n_clip)]
    rl = train_rl(enc, inputs, captions, RlConfig(steps=64, n_steps=32, batch_size=32),
                  0.001, 0)
    print(f"ppo: {64 / rl.seconds:.1f} env steps/s (includes pool and reward building "
          f"{time.perf_counter() - t:.1f}s total)")
    texts = GraphTexts({k: {"caption": c} for k, c in zip(ids["clip"], captions, strict=True)},
                       {k: {"text": f"selling point {i}"} for i, k in
                        enumerate(ids["selling_point"])})
    t = time.perf_counter()
    ret = SarRetriever(SarModel(config, enc.eval(), "bench"), data, ids, texts,
                       default_embedder())
    print(f"retriever load (encode graph, index {ret.index.kind}): {time.perf_counter() - t:.1f}s")
    rng = np.random.default_rng(1)
    known = rng.integers(n_sp, size=args.queries)
    ret.embedder.embed(["warm up"])
    lat_known, lat_new, lat_floor = [], [], []
    vectors = ret.index._index  # noqa: SLF001  the floor searches the very same index
    floor = ClipIndex(np.zeros((1, 1), dtype=np.float32))
    floor._index, floor.dim, floor.size = vectors, ret.index.dim, ret.index.size  # noqa: SLF001
    for i, s in enumerate(known):
        t = time.perf_counter()
        q = ret._known[int(s)]  # noqa: SLF001  known selling point: precomputed vector
        vec = torch.cat([ret._scale * q, ret._beta * inputs.text["selling_point"][int(s)],  # noqa: SLF001
                         ret._gamma * inputs.text["selling_point"][int(s)]]).numpy()[None]  # noqa: SLF001
        ret.index.search(vec, 10)
        lat_known.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor.search(vec, 10)
        lat_floor.append(time.perf_counter() - t)
        t = time.perf_counter()
        ret.retrieve(f"a brand new selling point number {i} about freshness", k=10)
        lat_new.append(time.perf_counter() - t)
    f50 = pct(lat_floor, 50)
    print(f"faiss floor top-10: p50 {f50:.2f} ms  p99 {pct(lat_floor, 99):.2f} ms")
    print(f"known selling point: p50 {pct(lat_known, 50):.2f} ms  p99 {pct(lat_known, 99):.2f} ms"
          f"  ratio p50 {pct(lat_known, 50) / f50:.2f}x")
    print(f"unseen text (MiniLM + attach + search): p50 {pct(lat_new, 50):.2f} ms  "
          f"p99 {pct(lat_new, 99):.2f} ms  ratio p50 {pct(lat_new, 50) / f50:.1f}x")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
