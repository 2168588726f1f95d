"""What user ratings add to SAR on real ads (issue 17, section 3), on pitt-dev.

pitt-dev's `effectiveness.jsonl` (`clip`, `ratings`: up to five annotators' 1-5 answers to
"how effective is this ad?") stands in for the ratings a producer collects on finished
ads. The ratings go in through the real CLI, one whole-clip row per rating
(`kdcvg sar feedback ratings.jsonl`), into the temporary database, before any training;
queries are never fed. Then per seed:
- `kdcvg sar train --rl none`: the supervised stage (`sar/supervised`, no feedback term);
- per weight w of `--feedback-weights`: `kdcvg sar train --from-supervised --feedback-weight w`,
  the RL stage alone, refining that same supervised model with the mixed reward;
- the feature alternative, no RL: the supervised scores plus theta x the clips' feedback
  prior (`kdcvg.retrieval.prior`), theta in `ppo.FeedbackTerm` units (the unit
  `ppo.linked_prior_unit`, as `sar train` uses it), chosen per query
  fold on the other k-1 folds as the largest theta of `THETAS` whose nDCG@10 there is
  at least 98% of the supervised stage's, and scored on the held-out fold.

Measures on the held-out queries (`qrels.trec`): nDCG@10 and the mean effectiveness of
the top-5 references, each ad's effectiveness being the mean of its ratings (all raters;
1-5 scale). The fed ratings are the same ratings the measure averages, so that measure
is in-sample on the ratings (it rewards repeating them, noise included). With
`--held-out-raters N` each ad's last N ratings are kept out of the feedback and a second
column averages only those: raters the system never heard from, about the same ads.

Run: HF_HUB_OFFLINE=1 .venv/bin/python bench/sar_feedback.py [--data DIR] [--seeds 0]
     [--folds 5] [--limit N] [--rl ppo] [--steps 512] [--epochs 30]
     [--feedback-weights 0,0.25,0.5,0.75,1] [--held-out-raters N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sar_real import (
    DATA,
    FILES,
    check_set,
    curator_records,
    kdcvg,
    per_query,
    read_jsonl,
    read_set,
    train_cost,
    write_jsonl,
)

THETAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
TOP = 5
NDCG_KEEP = 0.98  # the feature's theta keeps at least this share of nDCG@10 on the k-1 folds


def split_ratings(eff: list[dict], keep: set[str], held_out: int
                  ) -> tuple[list[dict], dict[str, float], dict[str, float]]:
    """Feedback rows to feed, and each ad's mean rating over all raters and held-out raters."""
    rows: list[dict] = []
    truth_all: dict[str, float] = {}
    truth_held: dict[str, float] = {}
    for e in eff:
        if e["clip"] not in keep or not e["ratings"]:
            continue
        r = list(e["ratings"])
        n = held_out if len(r) > held_out else 0
        truth_all[e["clip"]] = float(np.mean(r))
        if n:
            truth_held[e["clip"]] = float(np.mean(r[len(r) - n:]))
        rows += [{"clip": e["clip"], "rating": v} for v in r[:len(r) - n]]
    return rows, truth_all, truth_held


def top_rating(run: dict[str, dict[str, float]], truth: dict[str, float]) -> dict[str, float]:
    """Query -> mean effectiveness of its top-5 clips (those with a known rating)."""
    out = {}
    for q, scored in run.items():
        best = sorted(scored.items(), key=lambda kv: -kv[1])[:TOP]
        vals = [truth[c] for c, _ in best if c in truth]
        if vals:
            out[q] = float(np.mean(vals))
    return out


def ratings(args: Any, seeds: list[int], clips: list[dict], sps: list[dict],
            queries: list[dict], qrels: dict) -> None:
    weights = [float(w) for w in args.feedback_weights.split(",")]
    eff = read_jsonl(args.data / "effectiveness.jsonl")
    fed, truth_all, truth_held = split_ratings(eff, {c["id"] for c in clips}, args.held_out_raters)
    print(f"set: {len(clips)} clips, {len(queries)} queries; feedback: {len(fed)} ratings of "
          f"{len({r['clip'] for r in fed})} ads (held-out raters: {args.held_out_raters})",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="sar-feedback-") as tmp:
        db = Path(tmp) / "store" / "ackb"
        ackb = write_jsonl(Path(tmp) / "ackb.jsonl", curator_records(clips, sps))
        kdcvg("graph", "ingest", str(ackb), "--db", str(db))
        kdcvg("sar", "feedback", str(write_jsonl(Path(tmp) / "ratings.jsonl", fed)), "--db", str(db))
        homes: dict[tuple[int, str], Path] = {}
        for seed in seeds:
            extra = ["--epochs", str(args.epochs)] if args.epochs else []
            cost = kdcvg("sar", "train", "--db", str(db), "--seed", str(seed), "--rl", "none",
                         "--force", *extra, timed=True)
            print(f"seed {seed}: supervised sar train {train_cost(cost)}", flush=True)
            homes[(seed, "supervised")] = _keep(db, Path(tmp) / f"s{seed}-sup")
            for w in weights:
                cost = kdcvg("sar", "train", "--db", str(db), "--seed", str(seed), "--rl", args.rl,
                             "--from-supervised", "--feedback-weight", str(w), "--force",
                             "--ppo-steps", str(args.steps), "--json", timed=True)
                homes[(seed, f"rl w={w:g}")] = _keep(db, Path(tmp) / f"s{seed}-w{w:g}")
                print(f"seed {seed}: RL w={w:g} {train_cost(cost)}", flush=True)
        per = evaluate(db, homes, seeds, weights, queries, qrels, truth_all, truth_held)
    report(per, seeds, weights, qrels, args.folds, bool(truth_held))


def _keep(db: Path, to: Path) -> Path:
    shutil.copytree(db.parent / "sar", to / "sar")
    return to


def evaluate(db: Path, homes: dict, seeds: list[int], weights: list[float], queries: list[dict],
             qrels: dict, truth_all: dict, truth_held: dict) -> dict:
    """(seed, method) -> {"nDCG@10": per query, "rating": per query, "held": per query, ...}."""
    from dataclasses import replace

    from kdcvg.config import resolve_store
    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.graph.store import ANALYST, open_store
    from kdcvg.retrieval import evaluate as ev
    from kdcvg.retrieval.ppo import linked_prior_unit
    from kdcvg.retrieval.prior import stored_prior
    from kdcvg.retrieval.retrieve import SarRetriever

    emb = default_embedder()
    qs = [ev.EvalQuery(q["id"], q["text"]) for q in queries]
    out: dict = {}

    def measures(run: dict) -> dict:
        return {"nDCG@10": per_query(run, qrels)["nDCG@10"], "rating": top_rating(run, truth_all),
                "held": top_rating(run, truth_held)}

    with open_store(resolve_store(db=db), role=ANALYST) as store:
        for seed in seeds:
            home = homes[(seed, "supervised")]
            sup = SarRetriever.load(store, home, "supervised", emb)
            out[(seed, "supervised")] = measures(ev.sar_run(sup, qs))
            for w in weights:
                r = SarRetriever.load(store, homes[(seed, f"rl w={w:g}")], "model", emb)
                out[(seed, f"rl w={w:g}")] = measures(ev.sar_run(r, qs))
                rl = next(x["metrics"] for x in r.model.reports if x["stage"] != "supervised")
                out[(seed, f"rl w={w:g}")]["info"] = {
                    k: rl.get(k) for k in ("prior_weight", "rl_kept", "relevance_before",
                                           "relevance_after", "feedback_before", "feedback_after")}
            # the feature: the supervised model's own ranking (fused score included) with
            # the feedback term at theta x unit, every theta, through `SarRetriever.rank`
            keys = sup.inputs.keys["clip"]
            prior = stored_prior(home / "sar", keys, sup.model.config.rl.prior_shrink)
            unit = linked_prior_unit(sup.model.encoder, sup.inputs, sup.model.config.rl, prior)
            supervised_model = sup.model
            for theta in THETAS:
                sup.model = replace(supervised_model, prior_weight=theta * unit)
                out[(seed, f"feature theta={theta:g}")] = measures(ev.sar_run(sup, qs))
            sup.model = supervised_model
            out[(seed, "unit")] = unit
    return out


def _fold_mean(per: dict[str, float], held: list[str]) -> float:
    vals = [per[q] for q in held if q in per]
    return float(np.mean(vals)) if vals else float("nan")


def report(per: dict, seeds: list[int], weights: list[float], qrels: dict, folds: int,
           has_held: bool) -> None:
    """Mean over seeds and held-out query folds; the feature's theta chosen on k-1 folds."""
    names = ["nDCG@10", "rating"] + (["held"] if has_held else [])
    rows: dict[str, dict[str, list[float]]] = {}
    chosen: list[float] = []
    methods = ["supervised", *[f"rl w={w:g}" for w in weights],
               *[f"feature theta={t:g}" for t in THETAS]]
    for seed in seeds:
        order = sorted(qrels)
        np.random.default_rng(100 + seed).shuffle(order)
        for f in range(folds):
            held = order[f::folds]
            rest = [q for g in range(folds) if g != f for q in order[g::folds]]
            for m in methods:
                for n in names:
                    rows.setdefault(m, {}).setdefault(n, []).append(
                        _fold_mean(per[(seed, m)][n], held))
            base = _fold_mean(per[(seed, "supervised")]["nDCG@10"], rest)
            ok = [t for t in THETAS
                  if _fold_mean(per[(seed, f"feature theta={t:g}")]["nDCG@10"], rest)
                  >= NDCG_KEEP * base]
            theta = max(ok) if ok else 0.0
            chosen.append(theta)
            for n in names:
                rows.setdefault("feature (theta on k-1 folds)", {}).setdefault(n, []).append(
                    _fold_mean(per[(seed, f"feature theta={theta:g}")][n], held))
    mean = {m: {n: float(np.mean(v)) for n, v in r.items()} for m, r in rows.items()}
    sup = mean["supervised"]
    head = ["method", "nDCG@10", "change", f"top-{TOP} rating (all raters)", "change"]
    if has_held:
        head += [f"top-{TOP} rating (held-out raters)", "change"]
    print(f"\n{len(seeds)} seed(s) x {folds} held-out query folds\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    shown = ["supervised", *[f"rl w={w:g}" for w in weights], "feature (theta on k-1 folds)",
             *[f"feature theta={t:g}" for t in THETAS]]
    for m in shown:
        cells = [m, f"{mean[m]['nDCG@10']:.3f}",
                 f"{100 * (mean[m]['nDCG@10'] / sup['nDCG@10'] - 1):+.1f}%",
                 f"{mean[m]['rating']:.3f}", f"{mean[m]['rating'] - sup['rating']:+.3f}"]
        if has_held:
            cells += [f"{mean[m]['held']:.3f}", f"{mean[m]['held'] - sup['held']:+.3f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nfeature theta chosen per fold: {chosen}")
    for seed in seeds:
        print(f"seed {seed}: prior unit {per[(seed, 'unit')]:.4f}")
        for w in weights:
            print(f"  rl w={w:g}: " + json.dumps(per[(seed, f"rl w={w:g}")]["info"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the pitt-dev folder")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--folds", type=int, default=5, help="held-out query folds")
    parser.add_argument("--limit", type=int, default=None, help="keep N ads (quick run)")
    parser.add_argument("--rl", default="ppo")
    parser.add_argument("--steps", type=int, default=512, help="RL environment steps")
    parser.add_argument("--epochs", type=int, default=None, help="supervised epochs (max)")
    parser.add_argument("--feedback-weights", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--held-out-raters", type=int, default=0,
                        help="keep each ad's last N ratings out of the feedback (honest measure)")
    args = parser.parse_args()
    check_set(args.data, "sar_feedback", (*FILES, "effectiveness.jsonl"))
    seeds = [int(s) for s in args.seeds.split(",")]
    clips, sps, queries, qrels = read_set(args.data, args.limit)
    ratings(args, seeds, clips, sps, queries, qrels)


if __name__ == "__main__":
    main()
