"""SAR quality against its baselines, in one run: the numbers of docs/sar.md.

On an evaluation set (`--set`, default `examples/sar`: the demo catalogue, built as an
export would give it, no server; `examples/sar/large`: its `ackb.jsonl` is ingested into a
temporary embedded database and exported, the path `kdcvg graph ingest` + `sar train`
take), per seed:
1. shipped set: SAR is trained on the whole graph and the set's `queries.jsonl` is
   scored against `qrels.trec`;
2. held-out selling points: k folds over the selling points; a fold's selling points
   lose all their EXPRESSES links (`--drop-suggests`: their SUGGESTS too), SAR is
   retrained on the rest, and the fold's queries are scored;
3. unseen text: the same folds, but a fold's selling points are removed from the
   graph altogether (nodes and every relationship), so its queries are text the
   graph has never held.
Methods: SAR (after the RL stage), SC-GAT before it, dense MiniLM, BM25 and their
reciprocal rank fusion (hybrid). Printed:
nDCG@10 per seed and the mean, SAR's ratio to the best baseline, and a paired
permutation test of SAR against the stage before RL over (seed, query) pairs.

Run: HF_HUB_OFFLINE=1 .venv/bin/python bench/sar_quality.py [--seeds 0,1,2] [--folds 5]
     [--set examples/sar/large] [--rl ppo|reinforce|none] [--steps 512] [--train JSON]
     [--rl-config JSON]
(about 4 minutes per seed on one core on the demo set)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "examples" / "sar"
EXPRESSES = ("clip", "expresses", "selling_point")
SUGGESTS = ("selling_point", "suggests", "motion_pattern")


def config(args: argparse.Namespace, seed: int) -> Any:
    from kdcvg.retrieval.pipeline import make_config

    c = make_config(seed=seed, ppo_steps=args.steps, rl=args.rl)
    return replace(c, train=replace(c.train, **json.loads(args.train)),
                   rl=replace(c.rl, **json.loads(args.rl_config)))


def demo_set(emb: Any) -> tuple[Any, dict, Any]:
    from tests.retrieval.conftest import catalogue_texts
    from tests.retrieval.graphs import demo_heterodata

    return (*demo_heterodata(emb), catalogue_texts())


def ingested_set(ackb: Path, emb: Any) -> tuple[Any, dict, Any]:
    """The graph of a curator file, as `kdcvg graph ingest` writes and export reads it."""
    import tempfile

    from kdcvg.config import resolve_store
    from kdcvg.graph.export import export_graph
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import read_batch
    from kdcvg.graph.store import open_store
    from kdcvg.retrieval.retrieve import GraphTexts

    with tempfile.TemporaryDirectory() as tmp, \
            open_store(resolve_store(db=Path(tmp) / "ackb")) as store:
        write_batch(store, read_batch(ackb), emb)
        data, ids = export_graph(store)
        return data, ids, GraphTexts.from_store(store)


def paired_p(a: np.ndarray, b: np.ndarray, rounds: int = 20_000) -> float:
    """Two-sided p of a paired sign-flip permutation test on the mean of a - b."""
    d = a - b
    flips = np.random.default_rng(0).choice([-1.0, 1.0], size=(rounds, len(d)))
    return float(np.mean(np.abs((flips * d).mean(axis=1)) >= abs(d.mean()) - 1e-12))


def per_query(run: dict, qrels: dict) -> dict[str, float]:
    import ir_measures

    return {r.query_id: r.value
            for r in ir_measures.iter_calc([ir_measures.parse_measure("nDCG@10")], qrels, run)}


def runs(data: Any, ids: dict, texts: Any, fitted: tuple, queries: list, emb: Any) -> dict:
    from kdcvg.retrieval import evaluate as ev
    from kdcvg.retrieval.retrieve import SarRetriever

    supervised, final = fitted
    clips = ids["clip"]
    docs = [" ".join([str(texts.clips[k].get("caption") or ""),
                      *texts.clips[k].get("selling_points", [])]) for k in clips]
    out = {"sar": ev.sar_run(SarRetriever(final, data, ids, texts, emb), queries),
           "supervised": ev.sar_run(SarRetriever(supervised, data, ids, texts, emb), queries),
           "dense": ev.dense_run(queries, emb.embed([q.text for q in queries]),
                                 data["clip"].x.numpy(), clips),
           "bm25": ev.bm25_run(queries, docs, clips)}
    return out | {"hybrid": ev.hybrid_run([out["dense"], out["bm25"]])}


def without(data: Any, texts: Any, held_rows: Any, held_text: set, drop_suggests: bool
            ) -> tuple[Any, Any]:
    """The graph and texts with the held-out selling points' links removed."""
    import torch

    from kdcvg.retrieval.retrieve import GraphTexts

    fold = data.clone()
    keep = ~torch.isin(data[EXPRESSES].edge_index[1], held_rows)
    fold[EXPRESSES].edge_index = data[EXPRESSES].edge_index[:, keep]
    fold[EXPRESSES].edge_attr = data[EXPRESSES].edge_attr[keep]
    if drop_suggests:
        fold[SUGGESTS].edge_index = data[SUGGESTS].edge_index[
            :, ~torch.isin(data[SUGGESTS].edge_index[0], held_rows)]
    clips = {k: {**v, "selling_points": [t for t in v["selling_points"] if t not in held_text]}
             for k, v in texts.clips.items()}
    return fold, GraphTexts(clips, texts.selling_points)


def removed(data: Any, ids: dict, texts: Any, held_rows: Any, held: set) -> tuple[Any, dict, Any]:
    """The graph, ids and texts without the held-out selling points at all."""
    import torch

    from kdcvg.retrieval.retrieve import GraphTexts

    keep = torch.ones(data["selling_point"].num_nodes, dtype=torch.bool)
    keep[held_rows] = False
    fold = data.subgraph({"selling_point": keep})
    fold_ids = {**ids, "selling_point": [k for k, ok in zip(ids["selling_point"], keep.tolist(),
                                                             strict=True) if ok]}
    held_text = {texts.selling_points[s]["text"] for s in held}
    clips = {k: {**v, "selling_points": [t for t in v["selling_points"] if t not in held_text]}
             for k, v in texts.clips.items()}
    sps = {k: v for k, v in texts.selling_points.items() if k not in held}
    return fold, fold_ids, GraphTexts(clips, sps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", default=str(EXAMPLES), type=Path,
                        help="folder with queries.jsonl and qrels.trec (and ackb.jsonl)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--folds", type=int, default=5, help="0: shipped set only")
    parser.add_argument("--rl", default="ppo")
    parser.add_argument("--steps", type=int, default=512, help="RL environment steps")
    parser.add_argument("--train", default="{}", help="TrainConfig overrides, JSON")
    parser.add_argument("--rl-config", default="{}", help="RlConfig overrides, JSON")
    parser.add_argument("--drop-suggests", action="store_true")
    args = parser.parse_args()
    import torch

    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.retrieval import evaluate as ev
    from kdcvg.retrieval.pipeline import fit

    emb = default_embedder()
    ackb = args.set / "ackb.jsonl"
    data, ids, texts = ingested_set(ackb, emb) if ackb.exists() else demo_set(emb)
    captions = texts.captions(ids["clip"])
    queries = ev.read_queries(args.set / "queries.jsonl")
    qrels = ev.read_qrels(args.set / "qrels.trec")
    rows = [json.loads(line) for line in (args.set / "queries.jsonl").read_text().splitlines()]
    sp_of = {r["id"]: r["selling_point"] for r in rows}
    sp_row = {k: i for i, k in enumerate(ids["selling_point"])}
    table: dict[str, dict[int, dict[str, float]]] = {"shipped": {}, "held-out": {},
                                                      "unseen": {}}
    # per (seed, query) nDCG@10 of SAR and of the stage before RL, for the paired test
    paired: dict[str, list[tuple[float, float]]] = {name: [] for name in table}

    def record(name: str, seed: int, per_method: dict) -> None:
        m = ev.measure(per_method, qrels)
        table[name][seed] = {k: v["nDCG@10"] for k, v in m.items()}
        sar, sup = (per_query(per_method[k], qrels) for k in ("sar", "supervised"))
        paired[name] += [(sar[q], sup[q]) for q in sar]

    for seed in [int(s) for s in args.seeds.split(",")]:
        fitted = fit(data, ids, captions, config(args, seed),
                     sp_texts=texts.texts(ids["selling_point"]))
        record("shipped", seed, runs(data, ids, texts, fitted, queries, emb))
        if args.folds:
            sps = sorted(set(sp_of.values()))
            np.random.default_rng(100 + seed).shuffle(sps)
            merged: dict[str, dict[str, dict]] = {"held-out": {}, "unseen": {}}
            for f in range(args.folds):
                held = set(sps[f::args.folds])
                held_text = {texts.selling_points[s]["text"] for s in held}
                held_rows = torch.tensor([sp_row[s] for s in held])
                qs = [q for q in queries if sp_of[q.id] in held]
                fold, fold_texts = without(data, texts, held_rows, held_text, args.drop_suggests)
                gone, gone_ids, gone_texts = removed(data, ids, texts, held_rows, held)
                for name, (g, g_ids, g_texts) in {"held-out": (fold, ids, fold_texts),
                                                  "unseen": (gone, gone_ids, gone_texts)}.items():
                    g.graph_version = f"{name}{f}"
                    fitted = fit(g, g_ids, captions, config(args, seed),
                                 sp_texts=g_texts.texts(g_ids["selling_point"]))
                    for method, run in runs(g, g_ids, g_texts, fitted, qs, emb).items():
                        merged[name].setdefault(method, {}).update(run)
            for name, per_method in merged.items():
                record(name, seed, per_method)
        print(f"seed {seed}: " + "  ".join(
            f"{name} " + " ".join(f"{k}={v:.4f}" for k, v in per[seed].items())
            for name, per in table.items() if seed in per), flush=True)
    for name, per in table.items():
        if not per:
            continue
        mean = {k: float(np.mean([p[k] for p in per.values()])) for k in next(iter(per.values()))}
        best = max(mean["dense"], mean["bm25"], mean["hybrid"])
        sar, sup = np.array(paired[name]).T
        print(f"{name} mean nDCG@10: " + "  ".join(f"{k}={v:.4f}" for k, v in mean.items())
              + f"  | SAR / best baseline = {mean['sar'] / best:.3f}"
              f"  SAR / before RL = {mean['sar'] / mean['supervised']:.3f}"
              f" (better on {int((sar > sup).sum())}, worse on {int((sar < sup).sum())} of "
              f"{len(sar)} seed-queries, paired p = {paired_p(sar, sup):.3f})")


if __name__ == "__main__":
    from kdcvg.graph.server import exit_process

    main()
    exit_process(0)  # an ingested set started the embedded server's JVM
