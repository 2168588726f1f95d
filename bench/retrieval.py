"""SAR speed on a synthetic ACKB: training step, PPO steps/s, top-10 latency vs plain FAISS.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py   # 100k clips, 200k selling points
    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py --scale 0.05
    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py --epoch-steps 10  # time 10 steps only
    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py --sar-train     # a whole `sar train`
    HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval.py --sar-train --scale 4 --sar-epochs 4

Supervised training and PPO run on sampled neighbourhoods above 20k nodes
(`kdcvg.retrieval.sampling`); the epoch is a real full epoch unless `--epoch-steps` asks
to time only the first steps (then the epoch time is extrapolated and says so).

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


def rss_mib() -> float:
    """Resident memory now (ru_maxrss is the peak)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def sar_train(data, ids, captions: list[str], sp_texts: list[str],  # noqa: ANN001
              epochs: int | None) -> None:
    """What `kdcvg sar train` runs after the export, timed per epoch and stage."""
    from kdcvg.retrieval.pipeline import fit, make_config

    marks: list[tuple[str, int, float, float]] = [("start", 0, time.perf_counter(), rss_mib())]

    def progress(stage: str, done: int, total: int, line: str) -> None:
        marks.append((stage, done, time.perf_counter(), rss_mib()))
        print(f"  {stage} {done}/{total} {line} at {marks[-1][2] - marks[0][2]:.0f}s, "
              f"RSS {marks[-1][3]:.0f} MiB", flush=True)

    started = time.perf_counter()
    _, final = fit(data, ids, captions, make_config(epochs), progress=progress,
                   sp_texts=sp_texts)
    total = time.perf_counter() - started
    sup = final.reports[0]["metrics"]
    # between two epoch ends: the steps and a validation pass (the first epoch's time would
    # include building the inputs)
    seconds = [(b[2] - a[2]) for a, b in zip(marks, marks[1:], strict=False)
               if a[0] == b[0] == "supervised"]
    probe = int(sup["mixture_epochs"]) - 1
    for name, part in (("probe", seconds[:probe]), ("attention", seconds[probe:])):
        if part:
            print(f"supervised {name} phase: {len(part)} epochs, {np.mean(part):.1f}s per epoch "
                  f"(min {min(part):.1f}, max {max(part):.1f}; steps + a validation pass)")
    for report in final.reports:
        print(f"stage {report['stage']}: {report['seconds']:.0f}s")
    print(f"supervised: {sup['train_steps']:.0f} steps, attention step "
          f"{sup['attention_step_seconds']:.2f}s, probe step {sup['probe_step_seconds']:.2f}s, "
          f"val_mrr {sup['val_mrr']:.3f}")
    print(f"sar train (fit) total: {total:.0f}s = {total / 60:.1f} min; peak memory (max RSS) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1024, help="supervised batch size")
    parser.add_argument("--ppo-steps", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: see docs)")
    parser.add_argument("--epoch-steps", type=int, default=None,
                        help="time only this many supervised steps and extrapolate the epoch "
                             "(default: a real full epoch)")
    parser.add_argument("--sar-train", action="store_true",
                        help="time a whole `sar train` (`pipeline.fit`, default config: "
                             "supervised stage, fusion fit, PPO) with per-epoch time and "
                             "memory, instead of the stage-by-stage timings and latencies")
    parser.add_argument("--sar-epochs", type=int, default=None,
                        help="supervised epochs of --sar-train (default: sar train's); 4 runs "
                             "two probe and two attention epochs, whole ones")
    args = parser.parse_args()
    import tempfile
    from pathlib import Path

    import faiss

    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.retrieval.config import RlConfig, SarConfig, TrainConfig
    from kdcvg.retrieval.encoder import SCGAT
    from kdcvg.retrieval.features import build_inputs, message_edge_types
    from kdcvg.retrieval.model import SarModel
    from kdcvg.retrieval.ppo import train_rl
    from kdcvg.retrieval.retrieve import GraphTexts, SarRetriever
    from kdcvg.retrieval.train import split_selling_points, train_supervised

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)  # OpenMP spin-waits crawl on a loaded machine
    n_clip, n_sp = int(100_000 * args.scale), int(200_000 * args.scale)
    t = time.perf_counter()
    data, ids = synthetic(n_clip, n_sp)
    if args.sar_train:  # `fit` builds its own inputs: a second copy would count in the peak
        print(f"graph: {n_clip} clips, {n_sp} selling points", flush=True)
        captions = [f"clip {i} caption {i % 97} tone {i % 13}" for i in range(n_clip)]
        sar_train(data, ids, captions, [f"selling point {i}" for i in range(n_sp)],
                  args.sar_epochs)
        return
    inputs = build_inputs(data, ids, knn=5)
    print(f"graph: {n_clip} clips, {n_sp} selling points; inputs (kNN edges) built in "
          f"{time.perf_counter() - t:.1f}s")
    config = SarConfig()
    torch.manual_seed(0)
    enc = SCGAT(inputs.in_channels, message_edge_types(), config.encoder)
    # epoch 1 is the probe phase (score weights only), epoch 2 trains the attention too;
    # 4 validation passes: before, after each epoch, final
    tc = TrainConfig(epochs=2, patience=1, val_fraction=0.001, batch_size=args.batch,
                     max_steps=args.epoch_steps)
    sup = train_supervised(enc, inputs, tc, None)
    # only selling points with curated links train (about 63% of the synthetic ones)
    n_train = len(split_selling_points(inputs, tc.val_fraction, tc.seed)[0])
    n_steps = -(-n_train // args.batch)
    done = n_steps if args.epoch_steps is None else min(args.epoch_steps, n_steps)
    validation = (sup.seconds - done * (sup.metrics["probe_step_seconds"]
                                        + sup.metrics["attention_step_seconds"])) / 4
    for phase in ("probe", "attention"):
        step = sup.metrics[f"{phase}_step_seconds"]
        print(f"supervised {phase} phase: {done} of {n_steps} steps of {args.batch} selling "
              f"points at {step:.2f}s/step; full epoch = {n_steps} steps + a validation pass "
              f"({validation:.0f}s) = {n_steps * step + validation:.0f}s"
              + ("" if done == n_steps else " (extrapolated from the steps timed)"))
    print(f"supervised stage: {sup.seconds:.0f}s for both phases and 4 validation passes")
    captions = [f"clip {i} caption {i % 97} tone {i % 13}" for i in range(n_clip)]
    rc = RlConfig(steps=args.ppo_steps, n_steps=128, batch_size=64, max_pools=2048)
    rl = train_rl(enc, inputs, captions, rc, 0.001, 0)
    learn = rl.metrics["learn_seconds"]
    print(f"ppo: {args.ppo_steps} env steps in {learn:.1f}s = {args.ppo_steps / learn:.1f} steps/s"
          f" (stage total {rl.seconds:.1f}s incl. pools, CIDEr/reward tables, validation)")
    texts = GraphTexts({k: {"caption": c} for k, c in zip(ids["clip"], captions, strict=True)},
                       {k: {"text": f"selling point {i}"} for i, k in
                        enumerate(ids["selling_point"])})
    folder = Path(tempfile.mkdtemp(prefix="sar-bench-")) / "model"
    model = SarModel(config, enc.eval(), "bench")
    model.save_pretrained(folder)
    model = SarModel.from_pretrained(folder)
    t = time.perf_counter()
    ret = SarRetriever(model, data, ids, texts, default_embedder(), folder)
    print(f"retriever load, index {ret.index.kind} {ret.index_source}: "
          f"{time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    ret = SarRetriever(model, data, ids, texts, ret.embedder, folder)
    print(f"retriever load, index {ret.index_source} from disk: {time.perf_counter() - t:.1f}s")
    rng = np.random.default_rng(1)
    known = rng.integers(n_sp, size=args.queries)
    ret.embedder.embed(["warm up"])
    vectors = ret.index._index.reconstruct_n(0, ret.index.size)  # noqa: SLF001
    floor = (faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
             if ret.index.kind == "hnsw" else faiss.IndexFlatIP(vectors.shape[1]))
    if ret.index.kind == "hnsw":
        floor.hnsw.efSearch = 128
    floor.add(vectors)
    lat_known, lat_new, lat_floor = [], [], []
    for i, s in enumerate(known):
        text = f"selling point {int(s)}"
        t = time.perf_counter()
        res = ret.retrieve(text, k=10)
        lat_known.append(time.perf_counter() - t)
        assert res.known_selling_point == ids["selling_point"][int(s)]
        vec = np.ascontiguousarray(vectors[rng.integers(n_clip)][None])
        t = time.perf_counter()
        floor.search(vec, 10)
        lat_floor.append(time.perf_counter() - t)
        t = time.perf_counter()
        ret.retrieve(f"a brand new selling point number {i} about freshness", k=10)
        lat_new.append(time.perf_counter() - t)
    f50 = pct(lat_floor, 50)
    print(f"plain faiss ({ret.index.kind}) top-10 floor: p50 {f50:.2f} ms  "
          f"p99 {pct(lat_floor, 99):.2f} ms")
    print(f"known selling point (retrieve()): p50 {pct(lat_known, 50):.2f} ms  "
          f"p99 {pct(lat_known, 99):.2f} ms  ratio p50 {pct(lat_known, 50) / f50:.1f}x")
    print(f"unseen text (MiniLM + attach + search): p50 {pct(lat_new, 50):.2f} ms  "
          f"p99 {pct(lat_new, 99):.2f} ms  ratio p50 {pct(lat_new, 50) / f50:.1f}x")
    print(f"peak memory (max RSS): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
