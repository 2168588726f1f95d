"""Evaluation: queries (JSONL) and graded qrels (TREC), metrics from `ir-measures`.

Methods compared in one run: SAR (after the RL stage), SC-GAT before it
(`sar-supervised`), dense MiniLM cosine between query and caption (`dense`), and
BM25 (`bm25s`) over each clip's caption plus the texts of its linked selling points
(`bm25`), and the two fused by reciprocal rank fusion (`hybrid`: the usual strong anchor
of retrieval, Cormack et al. 2009, with k = `RRF_K`). Measures, named as ir-measures
writes them (`MEASURES` says each in a line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kdcvg.errors import RetrievalError, ValidationError

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

# Each measure in ir-measures notation, with what it says; the table and JSON share the names.
# Grades: 2 = the query's own clip, 1 = a clip of the same topic, 0 or absent = not relevant.
MEASURES = {
    "R@1": "recall at 1: share of a query's relevant clips (any grade >= 1) in the top 1",
    "R@5": "recall at 5: the same, in the top 5",
    "R@10": "recall at 10: the same, in the top 10",
    "RR": "reciprocal rank of the first relevant clip (any grade >= 1); its mean is MRR",
    "nDCG@10": "normalised discounted cumulative gain at 10, using the grades",
    "R(rel=2)@10": "strict recall at 10: share of the grade-2 (exact) clips in the top 10",
    "RR(rel=2)": "strict reciprocal rank: 1 / rank of the first grade-2 (exact) clip",
}
EXACT_GRADE = 2  # the strict measures average over the queries that have such a clip
MEASURE_NAMES = tuple(MEASURES)
RUN_DEPTH = 100
RRF_K = 60  # reciprocal rank fusion constant: a clip at rank r of a run adds 1 / (RRF_K + r)
Run = dict[str, dict[str, float]]  # query id -> clip id -> score


@dataclass(frozen=True)
class EvalQuery:
    id: str
    text: str
    product: str | None = None
    category: str | None = None


def read_queries(path: Path) -> list[EvalQuery]:
    """Queries from JSONL: `{"id", "text"}`, optional `product`, `category`.

    Raises:
        ValidationError: a line is not JSON, lacks id/text, or repeats an id.
    """
    problems, out, seen = [], [], set()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{path}:{n}: not JSON ({e.msg})")
            continue
        qid, text = str(row.get("id") or ""), str(row.get("text") or "")
        if not qid or not text.strip():
            problems.append(f"{path}:{n}: needs non-empty 'id' and 'text'")
        elif qid in seen:
            problems.append(f"{path}:{n}: duplicate query id {qid!r}")
        else:
            seen.add(qid)
            out.append(EvalQuery(qid, text, row.get("product"), row.get("category")))
    if problems or not out:
        raise ValidationError(problems or [f"{path}: no queries"], "queries file")
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels `query_id 0 doc_id relevance` -> {query: {clip: grade}}.

    Raises:
        ValidationError: a line does not have four fields or an integer grade.
    """
    problems: list[str] = []
    out: dict[str, dict[str, int]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not parts[3].lstrip("-").isdigit():
            problems.append(f"{path}:{n}: expected 'query_id 0 doc_id relevance', got {line!r}")
            continue
        out.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    if problems or not out:
        raise ValidationError(problems or [f"{path}: no judgements"], "qrels file")
    return out


def measure(runs: dict[str, Run], qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """Aggregate metrics per method (queries without judgements are ignored by ir-measures)."""
    import ir_measures

    # A query with no exact clip would count 0 in a strict measure (0 of 0 found), so
    # those are averaged over the queries that have one.
    exact = {q: judged for q, judged in qrels.items()
             if any(g >= EXACT_GRADE for g in judged.values())}
    strict = {m for m in MEASURE_NAMES if f"(rel={EXACT_GRADE})" in m}
    groups = [([m for m in MEASURE_NAMES if m not in strict], qrels),
              ([m for m in MEASURE_NAMES if m in strict], exact)]
    out: dict[str, dict[str, float]] = {name: {} for name in runs}
    for names, judged in groups:
        measures = [ir_measures.parse_measure(m) for m in names]
        for name, run in runs.items():
            agg = ir_measures.calc_aggregate(measures, judged, run) if judged else {}
            out[name] |= {str(m): float(agg.get(m, 0.0)) for m in measures}
    return {name: {m: values[m] for m in MEASURE_NAMES} for name, values in out.items()}


def dense_run(queries: list[EvalQuery], query_x: np.ndarray, clip_x: np.ndarray,
              clip_ids: list[str], depth: int = RUN_DEPTH) -> Run:
    """MiniLM cosine between query and caption embeddings."""
    scores = query_x @ clip_x.T
    return _top(queries, scores, clip_ids, depth)


def bm25_run(queries: list[EvalQuery], docs: list[str], clip_ids: list[str],
             depth: int = RUN_DEPTH) -> Run:
    """BM25 (bm25s, English stopwords) over caption + linked selling-point texts."""
    import bm25s

    model = bm25s.BM25()
    model.index(bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False)
    k = min(depth, len(docs))
    rows, scores = model.retrieve(bm25s.tokenize([q.text for q in queries], stopwords="en",
                                                 show_progress=False), k=k, show_progress=False)
    return {q.id: {clip_ids[int(r)]: float(s) for r, s in zip(rows[i], scores[i], strict=True)}
            for i, q in enumerate(queries)}


def hybrid_run(runs: list[Run], k: int = RRF_K, depth: int = RUN_DEPTH) -> Run:
    """Reciprocal rank fusion: a clip scores the sum of 1 / (k + rank) over the runs.

    Ranks start at 1 and follow each run's scores (ties by clip id); a clip absent from
    a run adds nothing for it. Fused ties are broken by clip id, so the order is fixed.

    Example:
        >>> hybrid_run([{"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 0.9}}], k=1)
        {'q': {'b': 0.8333333333333333, 'a': 0.5}}
    """
    out: Run = {}
    for q in dict.fromkeys(q for run in runs for q in run):
        fused: dict[str, float] = {}
        for run in runs:
            ranked = sorted(run.get(q, {}).items(), key=lambda kv: (-kv[1], kv[0]))
            for rank, (clip, _) in enumerate(ranked, 1):
                fused[clip] = fused.get(clip, 0.0) + 1.0 / (k + rank)
        out[q] = dict(sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])
    return out


def _top(queries: list[EvalQuery], scores: np.ndarray, clip_ids: list[str], depth: int) -> Run:
    k = min(depth, scores.shape[1])
    order = np.argsort(-scores, axis=1)[:, :k]
    return {q.id: {clip_ids[int(j)]: float(scores[i, j]) for j in order[i]}
            for i, q in enumerate(queries)}


def sar_run(retriever: Any, queries: list[EvalQuery], depth: int = RUN_DEPTH) -> Run:
    """Run a `SarRetriever` over all queries in one batch."""
    vec, _, _ = retriever.query_vectors([q.text for q in queries], [q.product for q in queries],
                                        [q.category for q in queries])
    keys = retriever.inputs.keys["clip"]
    ranked = retriever.rank(vec, [q.text.strip() for q in queries], depth)
    return {q.id: {keys[h.row]: h.score for h in ranked[i]} for i, q in enumerate(queries)}


def evaluate_store(store: GraphReader, home: Path, queries_path: Path, qrels_path: Path,
                   baselines: bool = True, embedder: Any = None) -> dict[str, dict[str, float]]:
    """Every method on the store's graph with the saved models; one metrics dict per method.

    Raises:
        RetrievalError: no trained model, or qrels naming clips not in the graph;
        ValidationError: bad queries or qrels.
    """
    queries = read_queries(queries_path)
    qrels = read_qrels(qrels_path)
    return measure(store_runs(store, home, queries, qrels, baselines, embedder), qrels)


def store_runs(store: GraphReader, home: Path, queries: list[EvalQuery],
               qrels: dict[str, dict[str, int]], baselines: bool = True,
               embedder: Any = None) -> dict[str, Run]:
    """The run of each method on the store's graph with the saved models.

    `sar` always; with `baselines`, `sar-supervised`, `dense`, `bm25` and `hybrid`
    (RRF of the last two). `sar eval` and the benches (per-query tests) share it.

    Raises:
        RetrievalError: no trained model, or qrels naming clips not in the graph.
    """
    from kdcvg.retrieval.model import model_dir
    from kdcvg.retrieval.retrieve import SarRetriever

    sar = SarRetriever.load(store, home, "model", embedder)
    unknown = sorted({c for judged in qrels.values() for c in judged}
                     - set(sar.inputs.keys["clip"]))
    if unknown:
        raise RetrievalError(f"qrels name clips that are not in the graph: "
                             f"{', '.join(unknown[:5])}; evaluate on the graph the set was "
                             "made for (examples/sar: `kdcvg demo build`; examples/sar/large: "
                             "`kdcvg graph ingest examples/sar/large/ackb.jsonl` into its own "
                             "--db)")
    runs: dict[str, Run] = {"sar": sar_run(sar, queries)}
    if baselines:
        sup_dir = model_dir(home, "supervised")
        sup = SarRetriever(sar.model.__class__.from_pretrained(sup_dir), *_graph_of(store),
                           sar.texts, sar.embedder, sup_dir)
        runs["sar-supervised"] = sar_run(sup, queries)
        keys = sar.inputs.keys["clip"]
        qx = sar.embedder.embed([q.text for q in queries])
        runs["dense"] = dense_run(queries, qx, sar.inputs.text["clip"].numpy(), keys)
        docs = [" ".join([str(sar.texts.clips.get(k, {}).get("caption") or ""),
                          *[str(t) for t in sar.texts.clips.get(k, {}).get("selling_points")
                            or []]]) for k in keys]
        runs["bm25"] = bm25_run(queries, docs, keys)
        runs["hybrid"] = hybrid_run([runs["dense"], runs["bm25"]])
    return runs


def _graph_of(store: GraphReader) -> tuple[Any, dict[str, list[str]]]:
    from kdcvg.graph.export import export_graph

    return export_graph(store)
