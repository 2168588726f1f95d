"""`SarRetriever`: selling-point text in, ranked clips with scores and explanations out.

At load the encoder runs once over the whole graph (`SCGAT.encode_graph`); its
`SCGAT.clip_vectors` go into a FAISS index, so that one inner product with a query's
`SCGAT.query_vectors` is exactly `SCGAT.score`.
A loaded model's index is saved beside it (`index.faiss` + `index.json`, tagged
with the graph version and the weights' digest) and reused while both match; when
the graph changes it is rebuilt and saved again. A known
selling point's text uses its precomputed vector; new text is embedded with
MiniLM and attached to its product, category and nearest selling points
(`SCGAT.encode_queries`), which also yields the attention weights that explain it.
A model with fusion weights ranks SC-GAT's FAISS candidates together with BM25's over
the clips' captions and linked selling points (`rank`, `kdcvg.retrieval.fusion`), and
each hit names both terms' shares and the words matched.

It is also the generation front end's reference source: `references()` returns
`kdcvg.retrieval.scenes.Reference`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kdcvg.errors import RetrievalError
from kdcvg.graph.schema import MAX_TEXT_CHARS
from kdcvg.retrieval.encoder import GraphContext, Queries, QueryWeights
from kdcvg.retrieval.features import (
    EXPRESSES,
    GraphInputs,
    attach_edges,
    build_inputs,
    query_edges,
)
from kdcvg.retrieval.fusion import TERMS, LexicalIndex, candidate_features, documents
from kdcvg.retrieval.index import INDEX_META, ClipIndex
from kdcvg.retrieval.model import SarModel, model_dir, sar_dir

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

EXPLAIN_TOP = 3
KNOWN_CHUNK = 4096  # known selling points encoded per batch at load


@dataclass(frozen=True)
class Ranked:
    """One clip of a ranking: its row, fused score and each term's contribution."""

    row: int
    score: float
    terms: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Neighbour:
    """A node the attention weighted when embedding a query or a clip."""

    node_type: str
    key: str
    weight: float
    text: str = ""


@dataclass(frozen=True)
class SarHit:
    """One retrieved clip."""

    clip_id: str
    score: float
    caption: str
    uri: str
    motion_patterns: tuple[tuple[str, float], ...]
    neighbours: tuple[Neighbour, ...] = ()
    motion: tuple[float, ...] | None = None  # the clip's motion descriptor, when it has one
    # each term's contribution to `score` (`fusion.TERMS`: SC-GAT, lexical), and the
    # query's words that the clip's caption and linked selling points hold
    terms: tuple[tuple[str, float], ...] = ()
    matched_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class SarQuery:
    """One retrieval request, as `SarRetriever.retrieve` takes it."""

    text: str
    product: str | None = None
    category: str | None = None
    k: int = 10


@dataclass
class SarResult:
    """Ranked clips for one query, and the neighbours that shaped the query's embedding."""

    query: str
    hits: list[SarHit]
    query_neighbours: list[Neighbour] = field(default_factory=list)
    known_selling_point: str | None = None


@dataclass
class GraphTexts:
    """Text the HeteroData does not carry, by node key (from `sar_*_texts` queries)."""

    clips: dict[str, dict[str, Any]]
    selling_points: dict[str, dict[str, Any]]

    @classmethod
    def from_store(cls, store: GraphReader) -> GraphTexts:
        return cls({r["clip"]: r for r in store.query("sar_clip_texts")},
                   {r["selling_point"]: r for r in store.query("sar_selling_point_texts")})

    def captions(self, keys: list[str]) -> list[str]:
        return [str(self.clips.get(k, {}).get("caption") or "") for k in keys]

    def texts(self, keys: list[str]) -> list[str]:
        """The text of each selling point in `keys` ("" where unknown)."""
        return [str(self.selling_points.get(k, {}).get("text") or "") for k in keys]


def result_dict(result: SarResult) -> dict[str, Any]:
    """`result` as JSON-able data: what `kdcvg sar retrieve --json` and the server answer."""
    from dataclasses import asdict

    return asdict(result)


def check_query(text: str) -> str:
    """The stripped query text.

    Raises:
        RetrievalError: empty or longer than `MAX_TEXT_CHARS`.
    """
    stripped = (text or "").strip()
    if not stripped:
        raise RetrievalError("selling-point text is empty; give a sentence such as "
                             "'keeps drinks cold for 24 hours'")
    if len(stripped) > MAX_TEXT_CHARS:
        raise RetrievalError(f"selling-point text is {len(stripped)} characters, the limit is "
                             f"{MAX_TEXT_CHARS}; give one selling point, not a document")
    return stripped


class SarRetriever:
    """Retrieval over one graph snapshot with one trained model.

    Args:
        model: a trained `SarModel`.
        data, id_maps: the exported graph.
        texts: captions, uris, motion patterns and selling-point texts by key.
        embedder: has `embed(list[str]) -> (N, 384)`; MiniLM by default.
        index_dir: where the clip index is persisted (None: built in memory only).
        prior: (C,) the clips' feedback prior (`prior.clip_prior`), added to the score
            times `model.prior_weight` (None: no feedback term).

    Attributes:
        index_source: "built", "loaded" (persisted index reused) or "rebuilt" (a
            persisted index was stale for this graph or model and was replaced).
    """

    def __init__(self, model: SarModel, data: Any, id_maps: dict[str, list[str]],
                 texts: GraphTexts, embedder: Any = None, index_dir: Path | None = None,
                 prior: np.ndarray | None = None) -> None:
        self.model = model
        self.texts = texts
        self._embedder = embedder
        self.inputs: GraphInputs = build_inputs(data, id_maps, model.config.encoder.knn)
        model.check_graph(self.inputs)
        self.graph_version = self.inputs.graph_version
        enc = model.encoder.eval()
        n_sp = self.inputs.x["selling_point"].shape[0]
        with torch.no_grad():
            self.context = enc.encode_graph(GraphContext.of(self.inputs))
            vectors = enc.clip_vectors(self.context).numpy()
            self.index, self.index_source = self._index_for(vectors, index_dir)
            self._clip_explain = self._explain_clips()
            # known selling points: encoded and explained once, here
            text = self.inputs.text["selling_point"]
            rows = torch.arange(n_sp)
            embs: list[torch.Tensor] = []
            weights: list[QueryWeights] = []
            self._known_explain: list[list[tuple[str, int, float]]] = [[] for _ in range(n_sp)]
            for b in range(0, n_sp, KNOWN_CHUNK):
                r = rows[b:b + KNOWN_CHUNK]
                edges = query_edges(self.inputs, r, torch.ones(r.numel(), dtype=torch.bool))
                part = enc.encode_queries(self.context, text[r], edges, return_attention=True)
                _collect(part.attention, self._known_explain, offset=b)
                embs.append(part.emb)
                weights.append(part.weights)
            self._known = (Queries(torch.cat(embs), text, QueryWeights.cat(weights))
                           if embs else None)
            self._known_explain = [_top(e) for e in self._known_explain]
        # the feedback term (`_bonus`): `prior.rerank` adds it to the index's score
        n_clip = len(self.inputs.keys["clip"])
        self.prior = (prior.astype(np.float32) if prior is not None
                      else np.zeros(n_clip, np.float32))
        # the lexical term's documents: captions and the linked selling points' texts
        self.lexical: LexicalIndex | None = None
        if model.fusion is not None:
            self.lexical = LexicalIndex(documents(
                texts.captions(self.inputs.keys["clip"]),
                texts.texts(self.inputs.keys["selling_point"]),
                self.inputs.edge_index[EXPRESSES]))
        self._sp_row = self.inputs.index_of("selling_point")
        self._product_row = self.inputs.index_of("product")
        self._category_row = self.inputs.index_of("category")
        in_cat = self.inputs.edge_index[("product", "in_category", "category")]
        self._product_category = dict(zip(in_cat[0].tolist(), in_cat[1].tolist(), strict=True))
        self._by_text = {str(r.get("text", "")).strip().lower(): k
                         for k, r in texts.selling_points.items()}
        motion = getattr(data["clip"], "motion", None)
        has = getattr(data["clip"], "has_motion", None)
        self._motion: list[tuple[float, ...] | None] = [None] * len(self.inputs.keys["clip"])
        if motion is not None and motion.numel():
            flags = has.tolist() if has is not None else [True] * motion.shape[0]
            self._motion = [tuple(round(float(v), 6) for v in row) if ok else None
                            for row, ok in zip(motion.tolist(), flags, strict=True)]

    def _index_for(self, vectors: np.ndarray, folder: Path | None) -> tuple[ClipIndex, str]:
        """The persisted index when it matches graph and model, else a new one (saved)."""
        if folder is None:
            return ClipIndex(vectors), "built"
        tag = {"graph_version": self.graph_version, "model_digest": self.model.digest}
        loaded = ClipIndex.load_matching(folder, tag, vectors.shape[0], vectors.shape[1])
        if loaded is not None:
            return loaded, "loaded"
        stale = (Path(folder) / INDEX_META).exists()
        index = ClipIndex(vectors)
        index.save(folder, tag)
        return index, "rebuilt" if stale else "built"

    @classmethod
    def load(cls, store: GraphReader, home: Path, stage: str = "model",
             embedder: Any = None) -> SarRetriever:
        """The saved model under `<home>/sar/<stage>` on the store's current graph.

        Raises:
            RetrievalError: no trained model, or one that is stale for this graph.
        """
        from kdcvg.graph.export import export_graph
        from kdcvg.retrieval.feedback import stored_feedback, with_feedback_links
        from kdcvg.retrieval.prior import stored_prior

        folder = model_dir(home, stage)
        model = SarModel.from_pretrained(folder)
        data, id_maps = export_graph(store)
        # well-rated pairs count as links at once, before the next `sar train`
        data = with_feedback_links(data, stored_feedback(sar_dir(home), id_maps))
        prior = stored_prior(sar_dir(home), id_maps.get("clip", []), model.config.rl.prior_shrink)
        return cls(model, data, id_maps, GraphTexts.from_store(store), embedder, folder, prior)

    @property
    def _bonus(self) -> np.ndarray:
        """Each clip's feedback term in score units: the model's weight x the clip's prior."""
        bonus: np.ndarray = np.float32(self.model.prior_weight) * self.prior
        return bonus

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from kdcvg.graph.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def _explain_clips(self) -> list[list[tuple[str, int, float]]]:
        out: list[list[tuple[str, int, float]]] = [[] for _ in self.inputs.keys["clip"]]
        assert self.context.states is not None  # encode_graph sets them
        att = self.model.encoder.neighbour_attention(self.context.states, self.context.edges,
                                                     "clip")
        for et, (ei, w) in att.items():
            for s, d, a in zip(ei[0].tolist(), ei[1].tolist(), w.tolist(), strict=True):
                out[d].append((et[0], s, a))
        return [sorted(x, key=lambda t: -t[2])[:EXPLAIN_TOP] for x in out]

    def _neighbour(self, node_type: str, row: int, weight: float) -> Neighbour:
        key = self.inputs.keys[node_type][row]
        text = ""
        if node_type == "selling_point":
            text = str(self.texts.selling_points.get(key, {}).get("text") or "")
        return Neighbour(node_type, key, round(float(weight), 4), text)

    def _resolve(self, text: str, product: str | None, category: str | None
                 ) -> tuple[str, int, int]:
        """One query's stripped text and its product and category rows (-1: none).

        Raises:
            RetrievalError: bad text, unknown product or category.
        """
        clean = check_query(text)
        if product is not None and product not in self._product_row:
            raise RetrievalError(f"unknown product id {product!r}; list products with "
                                 "`kdcvg graph stats` or leave out --product")
        prow = -1 if product is None else self._product_row[product]
        if category is not None and category not in self._category_row:
            raise RetrievalError(f"unknown category {category!r}; leave it out or use a "
                                 "category of the graph")
        crow = (self._category_row[category] if category is not None
                else self._product_category.get(prow, -1))
        return clean, prow, crow

    def query_vectors(self, texts: list[str], products: list[str | None],
                      categories: list[str | None] | None = None
                      ) -> tuple[np.ndarray, list[list[Neighbour]], list[str | None]]:
        """`SCGAT.query_vectors` (Q, D) for the index, their explanations and known ids.

        Raises:
            RetrievalError: bad text, unknown product or category.
        """
        categories = categories or [None] * len(texts)
        checked = [self._resolve(t, p, c) for t, p, c in zip(texts, products, categories,
                                                               strict=True)]
        clean = [t for t, _, _ in checked]
        prod = [p for _, p, _ in checked]
        cat = [c for _, _, c in checked]
        known = [self._by_text.get(t.lower()) for t in clean]
        known = [k if k is not None and (p < 0 or self.inputs.sp_product[self._sp_row[k]] == p)
                 else None for k, p in zip(known, prod, strict=True)]
        # a known selling point uses its precomputed encoding; only new text is embedded
        enc = self.model.encoder
        vec = torch.zeros((len(clean), self.index.dim))
        explain: list[list[tuple[str, int, float]]] = [[] for _ in clean]
        old = [i for i, key in enumerate(known) if key is not None]
        new = [i for i, key in enumerate(known) if key is None]
        with torch.no_grad():
            if old:
                assert self._known is not None  # a known text means selling points exist
                rows = [self._sp_row[str(known[i])] for i in old]
                vec[old] = enc.query_vectors(self._known.take(torch.tensor(rows)))
                for i, row in zip(old, rows, strict=True):
                    explain[i] = self._known_explain[row]
            if new:
                xn = torch.from_numpy(self.embedder.embed([clean[i] for i in new]))
                _, nn_rows = self.inputs.sp_index.search(xn.numpy(), self.model.config.encoder.knn)
                edges = attach_edges(torch.tensor([prod[i] for i in new]),
                                     torch.tensor([cat[i] for i in new]),
                                     torch.from_numpy(nn_rows))
                queries = enc.encode_queries(self.context, xn, edges, return_attention=True)
                vec[new] = enc.query_vectors(queries)
                found: list[list[tuple[str, int, float]]] = [[] for _ in new]
                _collect(queries.attention, found)
                for i, e in zip(new, found, strict=True):
                    explain[i] = _top(e)
        neighbours = [[self._neighbour(nt, r, a) for nt, r, a in e] for e in explain]
        return vec.numpy(), neighbours, known

    def search_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) scores and clip rows of `query_vectors`, best first: the index's score
        plus the feedback term (`prior.rerank`), -1 padded."""
        from kdcvg.retrieval.prior import rerank

        return rerank(self.index.search, vectors, k, self._bonus, self.index.size)

    def rank(self, vectors: np.ndarray, texts: list[str], k: int) -> list[list[Ranked]]:
        """The k best clips per query under the model's score, best first.

        The score is SC-GAT's (the index's inner product) plus the feedback term when
        clips were rated (`search_vectors`). With fusion weights, SC-GAT's top `depth`
        (searched with the feedback term) are merged with BM25's top `depth` and each
        candidate is scored by `FusionWeights`; the feedback term is then scaled by
        SC-GAT's weight, the scale it was learned on. Each `Ranked` names its terms,
        which add up to its score.

        Args:
            vectors: (Q, D) `query_vectors`; texts: the Q query texts.
        """
        fusion, lexical, bonus = self.model.fusion, self.lexical, self._bonus
        rated = bool(bonus.any())
        if fusion is None or lexical is None:
            scores, rows = self.search_vectors(vectors, k)
            return [[Ranked(int(r), float(s), _named(("scgat", float(s - bonus[r])),
                                                     ("feedback", float(bonus[r])), rated))
                     for s, r in zip(scores[q].tolist(), rows[q].tolist(), strict=True) if r >= 0]
                    for q in range(rows.shape[0])]
        scores, rows = self.search_vectors(vectors, max(k, fusion.depth))
        # SC-GAT's own score of each candidate: the search's total less the feedback term
        found = [{r: s - float(bonus[r]) for s, r in zip(scores[q].tolist(), rows[q].tolist(),
                                                          strict=True) if r >= 0}
                 for q in range(rows.shape[0])]

        def sar_of(q: int, cand: np.ndarray) -> np.ndarray:
            out = np.array([found[q].get(int(r), np.nan) for r in cand], dtype=np.float32)
            missing = np.isnan(out)
            if missing.any():  # clips only BM25 found: the same inner product
                out[missing] = self.index.vectors(cand[missing]) @ vectors[q]
            return out

        feedback_weight = fusion.weights["scgat"]
        ranked = []
        for cand, feats in candidate_features(rows, lexical.normalised(texts), fusion.depth,
                                              sar_of):
            terms = fusion.terms(feats)  # (K, F)
            extra = feedback_weight * bonus[cand]
            total = terms.sum(axis=1) + extra
            order = np.argsort(-total, kind="stable")[:k]
            ranked.append([Ranked(int(cand[i]), float(total[i]),
                                  tuple((t, float(terms[i, j])) for j, t in enumerate(TERMS))
                                  + ((("feedback", float(extra[i])),) if rated else ()))
                           for i in order])
        return ranked

    def retrieve(self, text: str, product: str | None = None, category: str | None = None,
                 k: int = 10) -> SarResult:
        """The k clips that best express `text`, best first (`retrieve_many` of one).

        Raises:
            RetrievalError: bad text, unknown product or category, k < 1.
        """
        result = self.retrieve_many([SarQuery(text, product, category, k)])[0]
        if isinstance(result, RetrievalError):
            raise result
        return result

    def retrieve_many(self, queries: Sequence[SarQuery]) -> list[SarResult | RetrievalError]:
        """`retrieve` for each query, computed together: one MiniLM call for the new texts,
        one attach pass, one index search per distinct k (`kdcvg serve`'s micro-batches).

        A query that `retrieve` would refuse gets its `RetrievalError` in its place, with
        the same message, and the others are answered as if it were not there.
        """
        out: list[SarResult | RetrievalError | None] = [None] * len(queries)
        good = []
        for i, q in enumerate(queries):
            try:
                if q.k < 1:
                    raise RetrievalError(f"k must be at least 1, got {q.k}")
                self._resolve(q.text, q.product, q.category)
                good.append(i)
            except RetrievalError as e:
                out[i] = e
        if good:
            vec, neighbours, known = self.query_vectors([queries[i].text for i in good],
                                                        [queries[i].product for i in good],
                                                        [queries[i].category for i in good])
            row = {i: j for j, i in enumerate(good)}  # query -> its row of `vec`
            # one ranking per k, not one at the largest k cut down: with fusion, k sets
            # the candidate depth, so a deeper list could rank the top differently
            for k in sorted({queries[i].k for i in good}):
                part = [i for i in good if queries[i].k == k]
                texts = [queries[i].text.strip() for i in part]
                ranks = self.rank(vec[[row[i] for i in part]], texts, k)
                for i, text, ranked in zip(part, texts, ranks, strict=True):
                    words = (self.lexical.matched(queries[i].text, [r.row for r in ranked])
                             if self.lexical is not None else [[] for _ in ranked])
                    out[i] = SarResult(text, [self._hit(r, w) for r, w in zip(ranked, words,
                                                                               strict=True)],
                                       neighbours[row[i]], known[row[i]])
        assert all(r is not None for r in out)  # each query answered or refused above
        return [r for r in out if r is not None]

    def _hit(self, ranked: Ranked, words: list[str]) -> SarHit:
        """A ranked clip with what explains it: caption, motion, neighbours, the query's
        words its document holds."""
        r = ranked.row
        key = self.inputs.keys["clip"][r]
        info = self.texts.clips.get(key, {})
        motion = tuple((str(m["name"]), float(m.get("score") or 0.0))
                       for m in info.get("motion") or [])
        return SarHit(key, ranked.score, str(info.get("caption") or ""),
                      str(info.get("uri") or ""), motion,
                      tuple(self._neighbour(nt, row, a) for nt, row, a in self._clip_explain[r]),
                      self._motion[r], ranked.terms, tuple(words))

    def references(self, text: str, product_id: str | None, k: int) -> list[Any]:
        """The generation front end's reference source: `Reference`s, best first."""
        from kdcvg.retrieval.scenes import Reference

        return [Reference(h.clip_id, h.uri, h.caption, h.score, h.motion_patterns, h.motion)
                for h in self.retrieve(text, product_id, None, k).hits]


def _named(scgat: tuple[str, float], feedback: tuple[str, float], rated: bool
           ) -> tuple[tuple[str, float], ...]:
    """A ranking's terms without fusion: SC-GAT's, and the feedback term when clips were rated."""
    return (scgat, feedback) if rated else (scgat,)


def _collect(att: dict[Any, tuple[torch.Tensor, torch.Tensor]],
             out: list[list[tuple[str, int, float]]], offset: int = 0) -> None:
    """Append (source type, source row, weight) of attention edges to their query's list."""
    for et, (ei, w) in att.items():
        for s, d, a in zip(ei[0].tolist(), ei[1].tolist(), w.tolist(), strict=True):
            out[offset + d].append((et[0], s, a))


def _top(edges: list[tuple[str, int, float]]) -> list[tuple[str, int, float]]:
    return sorted(edges, key=lambda t: -t[2])[:EXPLAIN_TOP]
