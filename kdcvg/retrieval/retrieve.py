"""`SarRetriever`: selling-point text in, ranked clips with scores and explanations out.

At load the encoder runs once over the whole graph; clip vectors
`[e_clip, x_clip, k_clip, context_clip]` go into a FAISS index, so that one inner
product with the query vector `[scale * e_q, beta * x_q, gamma * x_q, weighted
context_q]` is exactly `SCGAT.score`.
A loaded model's index is saved beside it (`index.faiss` + `index.json`, tagged
with the graph version and the weights' digest) and reused while both match; when
the graph changes it is rebuilt and saved again. A known
selling point's text uses its precomputed vector; new text is embedded with
MiniLM and attached to its product, category and nearest selling points
(`SCGAT.attach`), which also yields the attention weights that explain it.

It is also the generation front end's reference source: `references()` returns
`kdcvg.retrieval.scenes.Reference`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdcvg.errors import RetrievalError
from kdcvg.graph.schema import MAX_TEXT_CHARS
from kdcvg.retrieval.encoder import QueryWeights
from kdcvg.retrieval.features import (
    GraphInputs,
    attach_edges,
    build_inputs,
    drop_links,
    linked_mask,
    linked_text,
)
from kdcvg.retrieval.index import INDEX_META, ClipIndex
from kdcvg.retrieval.model import SarModel, sar_dir
from kdcvg.retrieval.train import query_inputs

EXPLAIN_TOP = 3


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
    def from_store(cls, store: Any) -> GraphTexts:
        return cls({r["clip"]: r for r in store.query("sar_clip_texts")},
                   {r["selling_point"]: r for r in store.query("sar_selling_point_texts")})

    def captions(self, keys: list[str]) -> list[str]:
        return [str(self.clips.get(k, {}).get("caption") or "") for k in keys]


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

    Attributes:
        index_source: "built", "loaded" (persisted index reused) or "rebuilt" (a
            persisted index was stale for this graph or model and was replaced).
    """

    def __init__(self, model: SarModel, data: Any, id_maps: dict[str, list[str]],
                 texts: GraphTexts, embedder: Any = None, index_dir: Path | None = None
                 ) -> None:
        self.model = model
        self.texts = texts
        self._embedder = embedder
        self.inputs: GraphInputs = build_inputs(data, id_maps, model.config.encoder.knn)
        model.check_graph(self.inputs)
        self.graph_version = self.inputs.graph_version
        enc = model.encoder.eval()
        n_sp = self.inputs.x["selling_point"].shape[0]
        with torch.no_grad():
            edges = drop_links(self.inputs, torch.zeros(n_sp, dtype=torch.bool))
            self.states = enc.node_states(self.inputs.x, edges)
            clip = enc.embed(self.states)["clip"]
            self._beta = float(enc.beta)
            self._linked = linked_mask(self.inputs, edges)
            vectors = torch.cat([clip, self.inputs.text["clip"], linked_text(self.inputs, edges),
                                 self.inputs.clip_context], dim=1).numpy()
            self.index, self.index_source = self._index_for(vectors, index_dir)
            self._clip_explain = self._explain_clips(edges)
            rows = torch.arange(n_sp)
            # known selling points: query vectors and explanations computed once, here
            known, weights = [], []
            self._known_explain: list[list[tuple[str, int, float]]] = [[] for _ in range(n_sp)]
            for b in range(0, n_sp, 4096):
                r = rows[b:b + 4096]
                qx, qe = query_inputs(self.inputs, r, torch.ones(r.numel(), dtype=torch.bool))
                q, att = enc.attach(self.states, qx, qe, return_attention=True)
                known.append(q)
                weights.append(enc.query_weights(
                    self.inputs, self.inputs.text["selling_point"][r], qe, self._linked))
                _collect(att, self._known_explain, offset=b)
            self._known = (torch.cat(known) if known else torch.zeros((0, clip.shape[1])))
            self._known_weights = QueryWeights(
                torch.cat([w.attention for w in weights]) if weights else torch.zeros(0),
                torch.cat([w.knowledge for w in weights]) if weights else torch.zeros(0),
                torch.cat([w.context for w in weights]) if weights
                else torch.zeros((0, self.inputs.clip_context.shape[1])))
            self._known_explain = [_top(e) for e in self._known_explain]
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
    def load(cls, store: Any, home: Path, stage: str = "model",
             embedder: Any = None) -> SarRetriever:
        """The saved model under `<home>/sar/<stage>` on the store's current graph.

        Raises:
            RetrievalError: no trained model, or one that is stale for this graph.
        """
        from kdcvg.graph.export import export_graph
        from kdcvg.retrieval.feedback import stored_feedback, with_feedback_links

        folder = sar_dir(home) / stage
        model = SarModel.from_pretrained(folder)
        data, id_maps = export_graph(store)
        # well-rated pairs count as links at once, before the next `sar train`
        data = with_feedback_links(data, stored_feedback(sar_dir(home), id_maps))
        return cls(model, data, id_maps, GraphTexts.from_store(store), embedder, folder)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from kdcvg.graph.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def _explain_clips(self, edges: dict) -> list[list[tuple[str, int, float]]]:
        out: list[list[tuple[str, int, float]]] = [[] for _ in self.inputs.keys["clip"]]
        att = self.model.encoder.neighbour_attention(self.states, edges, "clip")
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

    def query_vectors(self, texts: list[str], products: list[str | None],
                      categories: list[str | None] | None = None
                      ) -> tuple[np.ndarray, list[list[Neighbour]], list[str | None]]:
        """Query vectors (Q, out + 768) for the index, their explanations and known ids.

        Raises:
            RetrievalError: bad text, unknown product or category.
        """
        categories = categories or [None] * len(texts)
        clean = [check_query(t) for t in texts]
        prod = []
        for p in products:
            if p is not None and p not in self._product_row:
                raise RetrievalError(f"unknown product id {p!r}; list products with "
                                     "`kdcvg graph stats` or leave out --product")
            prod.append(-1 if p is None else self._product_row[p])
        cat = []
        for c, prow in zip(categories, prod, strict=True):
            if c is not None and c not in self._category_row:
                raise RetrievalError(f"unknown category {c!r}; leave it out or use a category "
                                     "of the graph")
            cat.append(self._category_row[c] if c is not None
                       else self._product_category.get(prow, -1))
        known = [self._by_text.get(t.lower()) for t in clean]
        known = [k if k is not None and (p < 0 or self.inputs.sp_product[self._sp_row[k]] == p)
                 else None for k, p in zip(known, prod, strict=True)]
        # a known selling point uses its precomputed vector; only new text is embedded
        x = torch.zeros((len(clean), self.inputs.text["selling_point"].shape[1]))
        q = torch.zeros((len(clean), self._known.shape[1]))
        w = QueryWeights(torch.zeros(len(clean)), torch.zeros(len(clean)),
                         torch.zeros((len(clean), self.inputs.clip_context.shape[1])))
        explain: list[list[tuple[str, int, float]]] = [[] for _ in clean]
        new = [i for i, key in enumerate(known) if key is None]
        for i, key in enumerate(known):
            if key is not None:
                row = self._sp_row[key]
                x[i] = self.inputs.text["selling_point"][row]
                q[i] = self._known[row]
                w.attention[i] = self._known_weights.attention[row]
                w.knowledge[i] = self._known_weights.knowledge[row]
                w.context[i] = self._known_weights.context[row]
                explain[i] = self._known_explain[row]
        if new:
            xn = torch.from_numpy(self.embedder.embed([clean[i] for i in new]))
            _, nn_rows = self.inputs.sp_index.search(xn.numpy(), self.model.config.encoder.knn)
            edges = attach_edges(torch.tensor([prod[i] for i in new]),
                                 torch.tensor([cat[i] for i in new]), torch.from_numpy(nn_rows))
            with torch.no_grad():
                qn, att = self.model.encoder.attach(self.states, xn, edges,
                                                    return_attention=True)
                wn = self.model.encoder.query_weights(self.inputs, xn, edges, self._linked)
            w.attention[new], w.knowledge[new], w.context[new] = \
                wn.attention, wn.knowledge, wn.context
            x[new], q[new] = xn, qn
            found: list[list[tuple[str, int, float]]] = [[] for _ in new]
            _collect(att, found)
            for i, e in zip(new, found, strict=True):
                explain[i] = _top(e)
        neighbours = [[self._neighbour(nt, r, a) for nt, r, a in e] for e in explain]
        vec = torch.cat([w.attention.view(-1, 1) * q, self._beta * x,
                         w.knowledge.view(-1, 1) * x, w.context], dim=1).numpy()
        return vec, neighbours, known

    def search_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(vectors, k)

    def retrieve(self, text: str, product: str | None = None, category: str | None = None,
                 k: int = 10) -> SarResult:
        """The k clips that best express `text`, best first.

        Raises:
            RetrievalError: bad text, unknown product or category, k < 1.
        """
        if k < 1:
            raise RetrievalError(f"k must be at least 1, got {k}")
        vec, neighbours, known = self.query_vectors([text], [product], [category])
        scores, rows = self.index.search(vec, k)
        keys = self.inputs.keys["clip"]
        hits = []
        for s, r in zip(scores[0].tolist(), rows[0].tolist(), strict=True):
            if r < 0:
                continue
            key = keys[r]
            info = self.texts.clips.get(key, {})
            motion = tuple((str(m["name"]), float(m.get("score") or 0.0))
                           for m in info.get("motion") or [])
            hits.append(SarHit(key, float(s), str(info.get("caption") or ""),
                               str(info.get("uri") or ""), motion,
                               tuple(self._neighbour(nt, row, a)
                                     for nt, row, a in self._clip_explain[r]),
                               self._motion[r]))
        return SarResult(text.strip(), hits, neighbours[0], known[0])

    def references(self, text: str, product_id: str | None, k: int) -> list[Any]:
        """The generation front end's reference source: `Reference`s, best first."""
        from kdcvg.retrieval.scenes import Reference

        return [Reference(h.clip_id, h.uri, h.caption, h.score, h.motion_patterns, h.motion)
                for h in self.retrieve(text, product_id, None, k).hits]


def _collect(att: dict[Any, tuple[torch.Tensor, torch.Tensor]],
             out: list[list[tuple[str, int, float]]], offset: int = 0) -> None:
    """Append (source type, source row, weight) of attention edges to their query's list."""
    for et, (ei, w) in att.items():
        for s, d, a in zip(ei[0].tolist(), ei[1].tolist(), w.tolist(), strict=True):
            out[offset + d].append((et[0], s, a))


def _top(edges: list[tuple[str, int, float]]) -> list[tuple[str, int, float]]:
    return sorted(edges, key=lambda t: -t[2])[:EXPLAIN_TOP]
