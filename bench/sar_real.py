"""SAR on real ads (pitt-dev): the numbers of docs/sar.md, "Real ads (pitt-dev)".

The set (`--data`, default `../shared/data/pitt-dev`, described by its README) is read
generically, as any set of that layout would be:
- `clips.jsonl` (`id`, `uri`, `caption`, `category`): one clip per ad, each showing one
  product of its own (`product-<clip id>`; the set names no product, so the product's
  name is the ad's category) in that category;
- `selling_points.jsonl` (`id`, `text`, `clip_id`): a curated selling point of the clip's
  product, linked to it by a curated EXPRESSES (weight 1);
- `queries.jsonl` (`id`, `text`) and `qrels.trec` (graded): the evaluation files
  `kdcvg sar eval` reads. Queries are never in the graph.
`--limit N` keeps N ads (seeded), their selling points, the queries whose exact
(top-grade) ads are all kept, and the judgements on kept ads.

The curator file is written to a temporary folder and goes in through the real CLI path:
`kdcvg graph ingest` into a temporary embedded database, then per seed
`kdcvg sar train --seed S` (timed under `/usr/bin/time -v`: wall time and peak memory),
the trained models copied aside. Every seed's SAR (after the RL stage), `sar-supervised`
(before it), `dense`, `bm25` and `hybrid` runs are the ones `kdcvg sar eval --baselines`
scores (`evaluate.store_runs`).

Held-out queries, k folds: no query is used for training, so every score is held-out.
The queries are split into `--folds` seeded folds and each measure is averaged per fold;
the table gives the mean over folds and seeds and the spread (standard deviation) of the
fold means. A method that tunes anything on queries must tune on k-1 folds and be scored
on the remaining one. The paired sign-flip test (`sar_quality.paired_p`) compares SAR
with the best baseline (highest mean nDCG@10 of dense, bm25 and hybrid) and with the
stage before RL, over (seed, query) pairs, for each measure.

What user feedback adds (issue 17, section 3) is `bench/sar_feedback.py`, on the same set.

Run: HF_HUB_OFFLINE=1 .venv/bin/python bench/sar_real.py [--data DIR] [--seeds 0,1,2]
     [--folds 5] [--limit N] [--rl ppo|reinforce|none] [--steps 512] [--epochs 60]
     [--sampled]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT.parent / "shared" / "data" / "pitt-dev"
FILES = ("clips.jsonl", "selling_points.jsonl", "queries.jsonl", "qrels.trec")
REPORTED = ("nDCG@10", "R(rel=2)@10", "RR(rel=2)")
BASELINES = ("dense", "bm25", "hybrid")
METHODS = ("sar", "sar-supervised", *BASELINES)


def check_set(data: Path, bench: str, files: tuple[str, ...] = FILES) -> None:
    """Exit with a clear line when the set is not there (../shared is beside the checkout)."""
    missing = [f for f in files if not (data / f).is_file()]
    if missing:
        sys.exit(f"{bench}: the pitt-dev set is not at {data} (missing {', '.join(missing)}); "
                 "pass --data DIR (it lives in ../shared/data/pitt-dev beside the repository, "
                 "never in it)")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def read_set(data: Path, limit: int | None) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Clips, selling points, queries and qrels of the set; `limit` ads kept (seeded)."""
    from kdcvg.retrieval.evaluate import read_qrels

    clips, sps = read_jsonl(data / "clips.jsonl"), read_jsonl(data / "selling_points.jsonl")
    queries, qrels = read_jsonl(data / "queries.jsonl"), read_qrels(data / "qrels.trec")
    if limit is None or limit >= len(clips):
        return clips, sps, queries, qrels
    keep = set(np.random.default_rng(0).choice(sorted(c["id"] for c in clips), limit,
                                               replace=False).tolist())
    top = max(g for judged in qrels.values() for g in judged.values())
    qrels = {q: {c: g for c, g in judged.items() if c in keep} for q, judged in qrels.items()
             if all(c in keep for c, g in judged.items() if g == top)
             and any(g == top for g in judged.values())}
    return ([c for c in clips if c["id"] in keep], [s for s in sps if s["clip_id"] in keep],
            [q for q in queries if q["id"] in qrels], qrels)


def curator_records(clips: list[dict], sps: list[dict]) -> list[dict]:
    """The set as `kdcvg graph ingest` records (README, "Curators: ingest and edit")."""
    product = {c["id"]: f"product-{c['id']}" for c in clips}
    out: list[dict] = [{"type": "category", "name": name}
                       for name in sorted({c["category"] for c in clips})]
    out += [{"type": "product", "id": product[c["id"]], "name": c["category"],
             "category": c["category"]} for c in clips]
    out += [{"type": "clip", "id": c["id"], "uri": c["uri"], "caption": c["caption"],
             "product": product[c["id"]]} for c in clips]
    out += [{"type": "selling_point", "id": s["id"], "product": product[s["clip_id"]],
             "text": s["text"]} for s in sps]
    out += [{"type": "link", "rel": "EXPRESSES", "from": s["clip_id"], "to": s["id"],
             "weight": 1.0} for s in sps]
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def kdcvg(*args: str, timed: bool = False) -> dict[str, float]:
    """Run `kdcvg ARGS` in a subprocess; exit with its stderr if it fails.

    With `timed`, under `/usr/bin/time -v`: wall seconds, CPU seconds (user + system) and
    peak RSS (MiB) of the command.
    """
    cmd = [sys.executable, "-m", "kdcvg.cli", *args]
    if timed:
        cmd = ["/usr/bin/time", "-v", *cmd]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"sar_real: `kdcvg {' '.join(args)}` failed (exit {done.returncode}):\n"
                 f"{done.stderr[-3000:]}")
    out = {"wall_s": wall}
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if rss:
        out["peak_rss_mib"] = int(rss.group(1)) / 1024
    cpu = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr)
    if cpu:  # on a shared machine CPU seconds say more than wall time
        out["cpu_s"] = sum(map(float, cpu))
    print(done.stdout.strip(), flush=True)
    return out


def train_sampled(db: Path, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """`sar train` in this process with both stages on the large-graph path
    (`sample_above=0`); wall and CPU seconds (peak memory is the bench's own)."""
    import resource
    from dataclasses import replace

    from kdcvg.config import resolve_store
    from kdcvg.graph.store import open_store
    from kdcvg.retrieval.pipeline import make_config, train_sar

    config = make_config(args.epochs, args.steps, seed, args.rl)
    config = replace(config, train=replace(config.train, sample_above=0),
                     rl=replace(config.rl, sample_above=0))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with open_store(resolve_store(db=db)) as store:
        train_sar(store, db.parent, config=config, force=True)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": time.perf_counter() - started,
            "cpu_s": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime}


def per_query(run: dict, qrels: dict) -> dict[str, dict[str, float]]:
    """Measure -> query -> value, as `evaluate.measure` averages them (strict measures over
    the queries that have a top-grade clip)."""
    import ir_measures

    from kdcvg.retrieval.evaluate import EXACT_GRADE

    exact = {q: judged for q, judged in qrels.items()
             if any(g >= EXACT_GRADE for g in judged.values())}
    out: dict[str, dict[str, float]] = {}
    for name in REPORTED:
        judged = exact if f"(rel={EXACT_GRADE})" in name else qrels
        values = {r.query_id: r.value for r in ir_measures.iter_calc(
            [ir_measures.parse_measure(name)], judged, run)}
        out[name] = {q: values.get(q, 0.0) for q in judged}
    return out


def evaluate_seeds(db: Path, homes: dict[int, Path], queries: list[dict], qrels: dict
                   ) -> dict[int, dict[str, dict[str, dict[str, float]]]]:
    """Seed -> method -> measure -> query -> value, each seed's models on the same graph."""
    from kdcvg.config import resolve_store
    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.graph.store import ANALYST, open_store
    from kdcvg.retrieval import evaluate as ev

    emb = default_embedder()
    qs = [ev.EvalQuery(q["id"], q["text"]) for q in queries]
    out = {}
    with open_store(resolve_store(db=db), role=ANALYST) as store:
        for seed, home in homes.items():
            runs = ev.store_runs(store, home, qs, qrels, embedder=emb)
            out[seed] = {m: per_query(run, qrels) for m, run in runs.items()}
            # the per-query values must average to what `sar eval` reports
            agg = ev.measure(runs, qrels)
            for m, values in out[seed].items():
                for name in REPORTED:
                    mean = float(np.mean(list(values[name].values())))
                    assert abs(mean - agg[m][name]) < 1e-9, (m, name, mean, agg[m][name])
    return out


def main() -> None:
    from sar_quality import paired_p

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the pitt-dev folder")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--folds", type=int, default=5, help="held-out query folds")
    parser.add_argument("--limit", type=int, default=None, help="keep N ads (quick run)")
    parser.add_argument("--rl", default="ppo")
    parser.add_argument("--steps", type=int, default=512, help="RL environment steps")
    parser.add_argument("--epochs", type=int, default=None, help="supervised epochs (max)")
    parser.add_argument("--sampled", action="store_true",
                        help="train in-process on the large-graph path (sample_above=0: "
                        "fanout-10 sampled neighbourhoods, sampled validation), to compare "
                        "its quality with the default exact path")
    args = parser.parse_args()
    check_set(args.data, "sar_real")
    seeds = [int(s) for s in args.seeds.split(",")]
    clips, sps, queries, qrels = read_set(args.data, args.limit)
    print(f"set: {len(clips)} clips, {len(sps)} selling points, {len(queries)} queries, "
          f"{sum(map(len, qrels.values()))} judgements", flush=True)
    with tempfile.TemporaryDirectory(prefix="sar-real-") as tmp:
        db = Path(tmp) / "store" / "ackb"
        ackb = write_jsonl(Path(tmp) / "ackb.jsonl", curator_records(clips, sps))
        ingest = kdcvg("graph", "ingest", str(ackb), "--db", str(db), timed=True)
        print(f"ingest: {ingest['wall_s']:.0f} s", flush=True)
        homes, cost = {}, {}
        for seed in seeds:
            extra = ["--epochs", str(args.epochs)] if args.epochs else []
            cost[seed] = (train_sampled(db, seed, args) if args.sampled else
                          kdcvg("sar", "train", "--db", str(db), "--seed", str(seed), "--rl",
                                args.rl, "--ppo-steps", str(args.steps), *extra, timed=True))
            homes[seed] = Path(tmp) / f"seed-{seed}"
            shutil.copytree(db.parent / "sar", homes[seed] / "sar")
            print(f"seed {seed}: sar train {train_cost(cost[seed])}", flush=True)
        values = evaluate_seeds(db, homes, queries, qrels)
    report(values, qrels, seeds, args.folds, cost, paired_p)


def report(values: dict, qrels: dict, seeds: list[int], folds: int, cost: dict,
           paired_p: Any) -> None:
    """Print the table (mean over seeds and folds, spread of fold means) and the tests."""
    fold_means: dict[str, dict[str, list[float]]] = {m: {n: [] for n in REPORTED}
                                                     for m in METHODS}
    for seed in seeds:
        order = sorted(qrels)
        np.random.default_rng(100 + seed).shuffle(order)
        for f in range(folds):
            held = order[f::folds]
            for m in METHODS:
                for name in REPORTED:
                    per = values[seed][m][name]
                    fold_means[m][name].append(float(np.mean([per[q] for q in held
                                                              if q in per])))
    mean = {m: {n: float(np.mean(v)) for n, v in per.items()} for m, per in fold_means.items()}
    print(f"\n| method ({len(seeds)} seeds x {folds} held-out query folds) | "
          + " | ".join(REPORTED) + " |")
    print("|---|" + "---|" * len(REPORTED))
    for m in METHODS:
        print(f"| {m} | " + " | ".join(f"{mean[m][n]:.3f} ± {np.std(fold_means[m][n]):.3f}"
                                       for n in REPORTED) + " |")
    best = max(BASELINES, key=lambda b: mean[b]["nDCG@10"])
    for other in (best, "sar-supervised"):
        print(f"\nSAR vs {other} (paired over (seed, query) pairs):")
        for name in REPORTED:
            pairs = [(values[s]["sar"][name][q], values[s][other][name][q])
                     for s in seeds for q in values[s]["sar"][name]]
            a, b = np.array(pairs).T
            print(f"  {name}: {mean['sar'][name]:.3f} vs {mean[other][name]:.3f} "
                  f"(ratio {mean['sar'][name] / max(mean[other][name], 1e-12):.3f}), better on "
                  f"{int((a > b).sum())}, worse on {int((a < b).sum())} of {len(a)}, "
                  f"paired p = {paired_p(a, b):.4f}")
    for seed in seeds:
        print(f"seed {seed}: " + "  ".join(
            f"{m} nDCG@10={np.mean(list(values[seed][m]['nDCG@10'].values())):.4f}"
            for m in METHODS)
            + f"  | sar train {train_cost(cost[seed])}")


def train_cost(cost: dict[str, float]) -> str:
    nan = float("nan")
    return (f"{cost['wall_s']:.0f} s wall, {cost.get('cpu_s', nan):.0f} s CPU, peak RSS "
            f"{cost.get('peak_rss_mib', nan):.0f} MiB")


if __name__ == "__main__":
    from kdcvg.graph.server import exit_process

    main()
    exit_process(0)  # the evaluation started the embedded server's JVM
