"""`kdcvg sar ...`: train, retrieve, feedback, eval. Handlers parse, call library code, print."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kdcvg.cli_options import id_option, text_option
from kdcvg.graph.cli_common import (
    DbOption,
    JsonOption,
    Neo4jOption,
    process_wall_ms,
    running_server,
    store_config,
    store_from_options,
)
from kdcvg.retrieval.config import RlConfig, TrainConfig, check_feedback_weight


def _feedback_weight(value: float) -> float:
    from kdcvg.errors import RetrievalError

    try:
        return check_feedback_weight(value)
    except RetrievalError as e:
        raise typer.BadParameter(str(e)) from e


sar_app = typer.Typer(help="SAR: retrieve the clips that express a selling point.",
                      no_args_is_help=True)


@sar_app.command()
def train(
    db: DbOption = None,
    neo4j: Neo4jOption = None,
    epochs: Annotated[int, typer.Option(min=1, help="Supervised epochs (max).")] = TrainConfig.epochs,
    ppo_steps: Annotated[int, typer.Option(min=1, help="RL environment steps.")] = RlConfig.steps,
    seed: Annotated[int, typer.Option(help="Seed of split, batches, weights, rollouts.")
                    ] = TrainConfig.seed,
    rl: Annotated[str, typer.Option(help="RL stage: ppo, reinforce or none.")] = RlConfig.algo,
    feedback_weight: Annotated[float, typer.Option(
        help="RL reward = (1 - w) x relevance + w x user feedback (`sar feedback`), w in 0-1.",
        callback=_feedback_weight)] = RlConfig.feedback_weight,
    from_supervised: Annotated[bool, typer.Option(
        "--from-supervised", help="Skip the supervised stage: refine the saved supervised "
        "model again (after new feedback).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the saved model even when it validated better.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Train SC-GAT on curated links, refine it with the reward loop, save under <home>/sar/.

    Says how many clips, stills and curated links it found; refuses (naming `graph link`
    and `clips ingest`) when too few selling points have curated links; warns when the
    validation recall is near zero; keeps a saved model that validated better unless
    --force. Reports both objectives of the RL stage on the validation selling points,
    before and after it: relevance (MRR of their curated clips) and feedback (mean user
    feedback, -1 to 1, of their top 5 clips); --json prints the stage reports.
    """
    from rich.progress import Progress

    from kdcvg.retrieval.model import model_dir
    from kdcvg.retrieval.pipeline import train_sar
    from kdcvg.retrieval.supervision import count_supervision, recall_warning
    from kdcvg.retrieval.train import StageReport

    if rl not in ("ppo", "reinforce", "none"):
        raise typer.BadParameter(f"--rl must be ppo, reinforce or none, got {rl!r}")
    home = store_config(db, neo4j).home
    with store_from_options(db, neo4j) as store, Progress(transient=True) as bar:
        found = count_supervision(store).line()
        if not json_out:
            typer.echo(found)
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int, line: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, description=f"{stage} {line}")

        model = train_sar(store, home, epochs, ppo_steps, seed, progress, rl, force=force,
                          feedback_weight=feedback_weight, from_supervised=from_supervised)
    objectives = rl_objectives(model.reports)
    if json_out:
        typer.echo(json.dumps({"found": found, "reports": model.reports,
                               "objectives": objectives, "prior_weight": model.prior_weight,
                               "saved": str(model_dir(home, "model"))}, indent=2))
    else:
        for r in model.reports:
            typer.echo(StageReport(**r).line())
        if objectives:
            typer.echo(objectives_line(objectives))
        typer.echo(f"saved {model_dir(home, 'model')}")
    warning = recall_warning(model.reports)
    if warning is not None:
        typer.echo(warning, err=True)


def rl_objectives(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Both objectives of the RL stage, before and after it (empty without an RL stage)."""
    rl = [r.get("metrics", {}) for r in reports[1:] if "relevance_before" in r.get("metrics", {})]
    if not rl:
        return {}
    metrics = rl[0]
    return {name: {"before": float(metrics[f"{name}_before"]),
                   "after": float(metrics[f"{name}_after"])} for name in ("relevance", "feedback")}


def objectives_line(objectives: dict[str, dict[str, float]]) -> str:
    """`objectives: relevance (validation MRR) 0.512 -> 0.498, feedback (...) ...`."""
    rel, fb = objectives["relevance"], objectives["feedback"]
    return (f"objectives: relevance (validation MRR) {rel['before']:.3f} -> {rel['after']:.3f}, "
            f"feedback (mean of the top 5, -1 to 1) {fb['before']:.3f} -> {fb['after']:.3f}")


@sar_app.command()
def retrieve(
    text: Annotated[str, typer.Argument(help="Selling-point text (may be new to the graph).",
                                        callback=text_option)],
    db: DbOption = None,
    neo4j: Neo4jOption = None,
    product: Annotated[str | None, typer.Option(help="Product id the text belongs to.",
                                                callback=id_option)] = None,
    category: Annotated[str | None, typer.Option(help="Category name.",
                                                 callback=text_option)] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Clips to return.")] = 10,
    json_out: JsonOption = False,
) -> None:
    """Ranked clips with score, caption, motion patterns and the neighbours that explain them.

    The score is SC-GAT's plus the learned lexical term (BM25 over the clip's caption and
    linked selling points); each hit shows both shares and the query words it matched.

    --json adds `timing`: `retrieve_ms` (the ranking itself, model loaded) and `wall_ms`
    (the whole command, from process start: imports, server start, model load).
    """
    server = running_server(db, neo4j)
    if server is not None:
        result = server.call("POST", "/api/retrieve", {"text": text, "product": product,
                                                       "category": category, "k": k})
    else:
        from kdcvg.retrieval.retrieve import SarRetriever, result_dict

        home = store_config(db, neo4j).home
        with store_from_options(db, neo4j) as store:
            retriever = SarRetriever.load(store, home)
            started = time.perf_counter()
            found = retriever.retrieve(text, product, category, k)
            retrieve_ms = (time.perf_counter() - started) * 1000
        result = result_dict(found) | {"timing": {"retrieve_ms": round(retrieve_ms, 3)}}
    print_retrieval(result, json_out)


def print_retrieval(result: dict[str, Any], json_out: bool) -> None:
    """Print a retrieval (`result_dict` plus `timing`), from this process or a server."""
    if json_out:
        result["timing"]["wall_ms"] = round(process_wall_ms(), 1)
        typer.echo(json.dumps(result, indent=2))
        return
    via = ", ".join(f"{n['node_type']}:{n['key']} ({n['weight']:.2f})"
                    for n in result["query_neighbours"])
    known = result["known_selling_point"]
    typer.echo(f"query: {result['query']}" + (f"  [known {known}]" if known else ""))
    typer.echo(f"attends to: {via or '-'}")
    for rank, h in enumerate(result["hits"], 1):
        motion = ", ".join(f"{n} {s:.2f}" for n, s in h["motion_patterns"]) or "-"
        why = ", ".join(f"{n['key']} ({n['weight']:.2f})" for n in h["neighbours"]) or "-"
        typer.echo(f"{rank:>3}. {h['score']:7.3f}  {h['clip_id']}  {h['caption']}")
        typer.echo(f"       motion: {motion}   linked: {why}")
        if len(h["terms"]) > 1:  # the fused score: each term's share, and the words it matched
            shares = " + ".join(f"{name} {value:.3f}" for name, value in h["terms"])
            words = ", ".join(h["matched_words"]) or "-"
            typer.echo(f"       score: {shares}   words: {words}")


@sar_app.command()
def feedback(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="JSONL or CSV: clip, optional selling_point "
                                         "(none: the clip as a whole), rating (1-5) or clicks "
                                         "and impressions.")],
    db: DbOption = None,
    neo4j: Neo4jOption = None,
) -> None:
    """Record user feedback: well-rated pairs count as links from the next `retrieve` on,
    ratings of whole clips through the model's feedback prior; the next `sar train`
    learns from both (links, the prior's weight, the RL reward)."""
    from kdcvg.retrieval.feedback import read_feedback_text

    text = read_feedback_text(file)
    server = running_server(db, neo4j)
    if server is not None:
        answer = server.call("POST", "/api/feedback", {"name": str(file), "text": text})
        recorded, path = answer["recorded"], answer["path"]
    else:
        from kdcvg.retrieval.feedback import append_feedback, parse_feedback
        from kdcvg.retrieval.model import sar_dir

        home = store_config(db, neo4j).home
        with store_from_options(db, neo4j) as store:
            s: Any = store
            clips = {r["clip"] for r in s.query("sar_clip_texts")}
            sps = {r["selling_point"] for r in s.query("sar_selling_point_texts")}
        rows = parse_feedback(str(file), text, clips, sps)
        recorded, path = len(rows), append_feedback(sar_dir(home), rows)
    typer.echo(f"recorded {recorded} feedback row(s) in {path}; `kdcvg sar retrieve` uses them "
               "now, `kdcvg sar train` learns from them")


@sar_app.command("eval")
def eval_(
    queries: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                          help="Queries JSONL: id, text, optional product, "
                                          "category.")],
    qrels: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                        help="TREC qrels: query_id 0 clip_id relevance.")],
    db: DbOption = None,
    neo4j: Neo4jOption = None,
    baselines: Annotated[bool, typer.Option(help="Also run SC-GAT before RL, dense, BM25 "
                                            "and hybrid (their reciprocal rank fusion).")] = False,
    json_out: JsonOption = False,
) -> None:
    """Ranking measures (ir-measures notation) for SAR and, with --baselines, the rest.

    R@1, R@5, R@10: share of a query's relevant clips (grade >= 1) in the top k.
    RR: reciprocal rank of the first relevant clip (its mean is MRR).
    nDCG@10: graded discounted cumulative gain at 10, normalised.
    R(rel=2)@10, RR(rel=2): the same, counting only grade-2 (exact) clips as relevant.
    """
    from rich.console import Console
    from rich.table import Table

    from kdcvg.retrieval.evaluate import MEASURE_NAMES, evaluate_store

    home = store_config(db, neo4j).home
    with store_from_options(db, neo4j) as store:
        results = evaluate_store(store, home, queries, qrels, baselines)
    if json_out:
        typer.echo(json.dumps(results, indent=2))
        return
    table = Table("method", *MEASURE_NAMES)
    for name, metrics in results.items():
        table.add_row(name, *[f"{metrics[m]:.3f}" for m in MEASURE_NAMES])
    Console().print(table)
