"""HeteroData from the ACKB -> the tensors SC-GAT reads, and the attachment of new text.

Everything here is pure: a `HeteroData` (format in docs/architecture.md) goes in,
a `GraphInputs` comes out. Message-passing edges are the schema's relationships,
their reverses (`rev_<rel>`), and two derived edge types:

- `(selling_point, similar, selling_point)`: each selling point receives from its
  `knn` nearest selling points by text (MiniLM cosine). The semantic-correlation edges
  of SC-GAT.
- `(category, contains, selling_point)`: product -> category composed with
  product -> selling point, so that a new text with only a category can attach.

A selling point that is not in the graph becomes a *query node*: it receives from its
product, its category and its nearest selling points (`QUERY_EDGE_TYPES`), and sends
nothing, so the rest of the graph is unchanged and its states can be cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kdcvg.errors import RetrievalError
from kdcvg.graph.schema import EMBEDDING_DIM, RELATIONSHIPS, SCHEMA_VERSION
from kdcvg.types import EdgeType

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import HeteroData

    from kdcvg.retrieval.index import ClipIndex

NODE_TYPES = ("product", "category", "selling_point", "clip", "motion_pattern")
EXPRESSES: EdgeType = RELATIONSHIPS["EXPRESSES"].pyg
REV_EXPRESSES: EdgeType = ("selling_point", "rev_expresses", "clip")
SIMILAR: EdgeType = ("selling_point", "similar", "selling_point")
CONTAINS: EdgeType = ("category", "contains", "selling_point")
HAS_SP: EdgeType = RELATIONSHIPS["HAS_SELLING_POINT"].pyg
QUERY_EDGE_TYPES: tuple[EdgeType, ...] = (HAS_SP, CONTAINS, SIMILAR)
KNN_EXACT_BELOW = 20_000  # selling points; exact kNN costs N^2 x 384 multiply-adds


def message_edge_types() -> list[EdgeType]:
    """Every edge type SC-GAT passes messages on, in a fixed order."""
    types: list[EdgeType] = []
    for spec in RELATIONSHIPS.values():
        src, rel, dst = spec.pyg
        types += [(src, rel, dst), (dst, f"rev_{rel}", src)]
    return [*types, SIMILAR, CONTAINS]


@dataclass
class GraphInputs:
    """The model inputs built from one exported graph.

    Attributes:
        x: input features per node type; clips carry text, L2-normalised motion and
            a has-motion flag: shapes (N_t, F_t).
        text: the raw MiniLM embeddings per node type, (N_t, 384).
        edge_index: message-passing edges per edge type, long (2, E).
        keys: node keys per node type, in row order.
        sp_product, sp_category: (N_sp,) long, -1 where none.
        clip_category: (N_clip,) long, the category of the product a clip shows, -1 where none.
        sp_knn: (N_sp, knn) long nearest selling points by text, self excluded, -1 padded.
        links: (2, L) curated clip -> selling point links; `link_weight` (L,).
        clip_context, sp_context: (N, 768) the text of the node's product and the mean
            text of its motion patterns (a clip's HAS_MOTION, a selling point's SUGGESTS);
            zero halves where there is none. See `query_context`.
        sp_index: inner-product index over the selling points' text, where new text
            finds its nearest selling points (`ClipIndex`, IVF on large graphs).
        graph_version: the exporter's hash of schema and counts.
    """

    x: dict[str, torch.Tensor]
    text: dict[str, torch.Tensor]
    edge_index: dict[EdgeType, torch.Tensor]
    keys: dict[str, list[str]]
    sp_product: torch.Tensor
    sp_category: torch.Tensor
    clip_category: torch.Tensor
    sp_knn: torch.Tensor
    links: torch.Tensor
    link_weight: torch.Tensor
    clip_context: torch.Tensor
    sp_context: torch.Tensor
    sp_index: ClipIndex
    graph_version: str

    @property
    def in_channels(self) -> dict[str, int]:
        return {nt: int(v.shape[1]) for nt, v in self.x.items()}

    @property
    def num_nodes(self) -> dict[str, int]:
        """Rows per node type."""
        return {nt: int(v.shape[0]) for nt, v in self.x.items()}

    def index_of(self, node_type: str) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys[node_type])}


def _lookup(edge_index: torch.Tensor, num_src: int) -> torch.Tensor:
    """src -> first dst of a (2, E) edge list, -1 where a source has no edge."""
    import torch

    out = torch.full((num_src,), -1, dtype=torch.long)
    if edge_index.numel():
        out[edge_index[0].flip(0)] = edge_index[1].flip(0)  # first edge wins
    return out


def text_index(text: np.ndarray) -> ClipIndex:
    """Index over unit rows: exact below `KNN_EXACT_BELOW` rows, FAISS IVF above."""
    from kdcvg.retrieval.index import ClipIndex

    return ClipIndex(text, hnsw_threshold=KNN_EXACT_BELOW, approx="ivf")


def knn_by_text(text: np.ndarray, k: int, chunk: int = 4096,
                index: ClipIndex | None = None) -> np.ndarray:
    """Nearest rows by cosine (inputs unit-norm), self excluded: (N, k) int64, -1 padded.

    Exact below `KNN_EXACT_BELOW` rows; above, FAISS IVF (approximate, 4 lists probed):
    about 25 s for 200k x 384 on one thread, where an HNSW build and search took over
    10 minutes and exact search about 5 minutes.

    Args:
        index: `text_index(text)` when the caller has it already.
    """
    n = text.shape[0]
    out = np.full((n, k), -1, dtype=np.int64)
    if n < 2 or k == 0:
        return out
    index = index or text_index(text)
    for start in range(0, n, chunk):
        _, idx = index.search(text[start : start + chunk], min(k + 1, n))
        for r in range(idx.shape[0]):
            row = idx[r]
            keep = row[(row != start + r) & (row >= 0)][:k]
            out[start + r, : len(keep)] = keep
    return out


def build_inputs(data: HeteroData, id_maps: dict[str, list[str]], knn: int) -> GraphInputs:
    """Turn an exported ACKB into model inputs.

    Args:
        data: the exporter's `HeteroData`.
        id_maps: node keys per node type, in row order.
        knn: selling-point text neighbours per selling point.

    Raises:
        RetrievalError: the graph lacks a node type or has the wrong embedding width.
    """
    import torch

    for nt in NODE_TYPES:
        if nt not in data.node_types:
            raise RetrievalError(f"graph export has no '{nt}' nodes; expected node types "
                                 f"{', '.join(NODE_TYPES)} (is the ACKB initialised?)")
        width = int(data[nt].x.shape[1])
        if width != EMBEDDING_DIM:
            raise RetrievalError(f"'{nt}' features are {width}-d, expected {EMBEDDING_DIM}-d "
                                 "MiniLM embeddings; re-export the graph")
    text = {nt: data[nt].x.float() for nt in NODE_TYPES}
    x = dict(text)
    clip = data["clip"]
    n_clip = int(clip.x.shape[0])
    motion = getattr(clip, "motion", None)
    motion = torch.zeros((n_clip, 0)) if motion is None else motion.float()
    motion = torch.nn.functional.normalize(motion, dim=1) if motion.shape[1] else motion
    has_motion = getattr(clip, "has_motion", None)
    flag = (torch.zeros(n_clip) if has_motion is None else has_motion.float()).view(-1, 1)
    x["clip"] = torch.cat([text["clip"], motion, flag], dim=1)

    def edges(et: EdgeType) -> torch.Tensor:
        if et in data.edge_types:
            index: torch.Tensor = data[et].edge_index.long()
            return index
        return torch.zeros((2, 0), dtype=torch.long)

    counts = {nt: int(text[nt].shape[0]) for nt in NODE_TYPES}
    edge_index: dict[EdgeType, torch.Tensor] = {}
    for spec in RELATIONSHIPS.values():
        src, rel, dst = spec.pyg
        ei = edges(spec.pyg)
        edge_index[(src, rel, dst)] = ei
        edge_index[(dst, f"rev_{rel}", src)] = ei.flip(0)

    sp_product = _lookup(edges(HAS_SP).flip(0), counts["selling_point"])
    product_category = _lookup(edges(RELATIONSHIPS["IN_CATEGORY"].pyg), counts["product"])
    sp_category = torch.where(sp_product >= 0, product_category[sp_product.clamp(min=0)],
                              torch.full_like(sp_product, -1))
    clip_product = _lookup(edges(RELATIONSHIPS["SHOWS"].pyg), n_clip)
    clip_category = torch.where(clip_product >= 0, product_category[clip_product.clamp(min=0)],
                                torch.full_like(clip_product, -1))

    sp_index = text_index(text["selling_point"].numpy())
    sp_knn = torch.from_numpy(knn_by_text(text["selling_point"].numpy(), knn, index=sp_index))
    knn_dst = torch.arange(counts["selling_point"]).view(-1, 1).expand_as(sp_knn)
    valid = sp_knn >= 0
    edge_index[SIMILAR] = torch.stack([sp_knn[valid], knn_dst[valid]])
    has_cat = sp_category >= 0
    edge_index[CONTAINS] = torch.stack(
        [sp_category[has_cat], torch.arange(counts["selling_point"])[has_cat]])

    def motion_text(et: EdgeType, n: int) -> torch.Tensor:
        ei = edges(et)
        out = torch.zeros((n, EMBEDDING_DIM))
        out.index_add_(0, ei[0], text["motion_pattern"][ei[1]])
        return torch.nn.functional.normalize(out, dim=1)

    def product_text(rows: torch.Tensor) -> torch.Tensor:
        return torch.where((rows >= 0).view(-1, 1), text["product"][rows.clamp(min=0)],
                           torch.zeros(1, EMBEDDING_DIM)) if counts["product"] else \
            torch.zeros((rows.shape[0], EMBEDDING_DIM))

    clip_context = torch.cat([product_text(clip_product),
                              motion_text(RELATIONSHIPS["HAS_MOTION"].pyg, n_clip)], dim=1)
    sp_context = torch.cat([product_text(sp_product), motion_text(
        RELATIONSHIPS["SUGGESTS"].pyg, counts["selling_point"])], dim=1)

    ex = edges(EXPRESSES)
    attr = data[EXPRESSES].edge_attr if EXPRESSES in data.edge_types else torch.zeros((0, 2))
    curated = attr[:, 1] > 0.5 if attr.numel() else torch.zeros(0, dtype=torch.bool)
    version = str(getattr(data, "graph_version", f"schema{SCHEMA_VERSION}"))
    return GraphInputs(
        x=x, text=text, edge_index=edge_index,
        keys={nt: list(id_maps.get(nt, [])) for nt in NODE_TYPES},
        sp_product=sp_product, sp_category=sp_category, clip_category=clip_category,
        sp_knn=sp_knn, links=ex[:, curated], link_weight=attr[curated, 0].float()
        if attr.numel() else torch.zeros(0), clip_context=clip_context,
        sp_context=sp_context, sp_index=sp_index, graph_version=version,
    )


def drop_links(inputs: GraphInputs, sp_mask: torch.Tensor) -> dict[EdgeType, torch.Tensor]:
    """Message-passing edges without any EXPRESSES link of the masked selling points.

    Args:
        sp_mask: (N_sp,) bool, True for selling points whose links are hidden.
    """
    out = dict(inputs.edge_index)
    ei = inputs.edge_index[EXPRESSES]
    keep = ~sp_mask[ei[1]]
    out[EXPRESSES] = ei[:, keep]
    out[REV_EXPRESSES] = ei[:, keep].flip(0)
    return out


def attach_edges(
    product: torch.Tensor, category: torch.Tensor, knn: torch.Tensor
) -> dict[EdgeType, torch.Tensor]:
    """Edges into Q query nodes: src rows index the graph, dst rows index the queries.

    Args:
        product: (Q,) product row or -1; category: (Q,) category row or -1;
        knn: (Q, k) selling-point rows or -1.
    """
    import torch

    q = torch.arange(product.shape[0])
    out: dict[EdgeType, torch.Tensor] = {}
    for et, src in ((HAS_SP, product), (CONTAINS, category)):
        ok = src >= 0
        out[et] = torch.stack([src[ok], q[ok]])
    ok = knn >= 0
    out[SIMILAR] = torch.stack([knn[ok], q.view(-1, 1).expand_as(knn)[ok]])
    return out


def query_edges(inputs: GraphInputs, sps: torch.Tensor, keep_self: torch.Tensor,
                with_product: torch.Tensor | None = None) -> dict[EdgeType, torch.Tensor]:
    """Attach edges of queries that copy known selling points (their text is the query's).

    Args:
        sps: (Q,) selling-point rows.
        keep_self: (Q,) bool; True attaches the copy to its original as nearest neighbour.
        with_product: (Q,) bool; False attaches no product and category, as for a query
            that names none (default: all True).
    """
    import torch

    knn = inputs.sp_knn[sps]
    self_col = torch.where(keep_self, sps, torch.full_like(sps, -1)).view(-1, 1)
    knn = torch.cat([self_col, knn[:, : max(knn.shape[1] - 1, 0)]], dim=1)
    product, category = inputs.sp_product[sps], inputs.sp_category[sps]
    if with_product is not None:
        product = torch.where(with_product, product, torch.full_like(product, -1))
        category = torch.where(with_product, category, torch.full_like(category, -1))
    return attach_edges(product, category, knn)


def linked_text(inputs: GraphInputs, edges: dict[EdgeType, torch.Tensor],
                rows: torch.Tensor | None = None) -> torch.Tensor:
    """Per clip, the unit-norm mean text embedding of the selling points it expresses.

    The knowledge skip of SC-GAT's score: a parameter-free message over EXPRESSES,
    computed on the edges in use, so hidden links hide it too. Zero rows where a
    clip expresses nothing. Shape (N_clip, 384), or (R, 384) for the distinct clip
    `rows` only (the same values).
    """
    import torch

    ei = edges[EXPRESSES]
    sp_text = inputs.text["selling_point"]
    if rows is None:
        out = torch.zeros_like(inputs.text["clip"])
        out.index_add_(0, ei[0], sp_text[ei[1]])
    else:
        at = torch.full((inputs.text["clip"].shape[0],), -1, dtype=torch.long)
        at[rows] = torch.arange(rows.numel())
        keep = at[ei[0]] >= 0
        out = sp_text.new_zeros((rows.numel(), sp_text.shape[1]))
        out.index_add_(0, at[ei[0][keep]], sp_text[ei[1][keep]])
    return torch.nn.functional.normalize(out, dim=1)


def linked_mask(inputs: GraphInputs, edges: dict[EdgeType, torch.Tensor]) -> torch.Tensor:
    """(N_sp,) bool: selling points with at least one EXPRESSES link among `edges`."""
    import torch

    out = torch.zeros(inputs.x["selling_point"].shape[0], dtype=torch.bool)
    out[edges[EXPRESSES][1]] = True
    return out


def nearest_match(inputs: GraphInputs, query_text: torch.Tensor,
                  attach: dict[EdgeType, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query, the text cosine to its nearest `similar` attach source, and that row.

    Returns:
        (Q,) cosine clamped at 0 (0 where the query has no text neighbour) and (Q,)
        long selling-point row (-1 where none).
    """
    import torch

    q = query_text.shape[0]
    row = torch.full((q,), -1, dtype=torch.long)
    ei = attach[SIMILAR]
    if ei.numel() == 0:
        return torch.zeros(q), row
    sims = (query_text[ei[1]] * inputs.text["selling_point"][ei[0]]).sum(1).clamp(min=0)
    best = torch.full((q,), -1.0).scatter_reduce(0, ei[1], sims, reduce="amax")
    n = ei.shape[1]
    first = torch.full((q,), n, dtype=torch.long).scatter_reduce(
        0, ei[1], torch.where(sims >= best[ei[1]] - 1e-6, torch.arange(n), n), reduce="amin")
    has = first < n
    row[has] = ei[0][first[has]]
    return best.clamp(min=0), row


def linked_match(cos: torch.Tensor, row: torch.Tensor, linked: torch.Tensor) -> torch.Tensor:
    """(Q,) the `nearest_match` cosine where that nearest selling point is `linked`, else 0.

    A paraphrase of a linked selling point scores high (its own selling point is its
    nearest neighbour). Text whose nearest selling point has no curated clips, or whose
    nearest selling points say something else (low cosine), scores 0 or low, and SC-GAT's
    knowledge term, which would point at the clips of *other* selling points, is gated
    down for it.

    Args:
        cos, row: `nearest_match` of the queries.
        linked: (N_sp,) bool, `linked_mask` of the edges in use.
    """
    import torch

    ok = (row >= 0) & linked[row.clamp(min=0)]
    return torch.where(ok, cos, torch.zeros_like(cos))


def query_context(inputs: GraphInputs, query_text: torch.Tensor,
                  attach: dict[EdgeType, torch.Tensor], temperature: torch.Tensor
                  ) -> torch.Tensor:
    """(Q, 768) product and motion context of queries, read from their neighbours.

    Scaled dot-product attention of each query over its `similar` attach sources,
    alpha_qj = softmax_j(temperature * cos(x_q, x_j)), averages their `sp_context`
    (the product they belong to, the motion patterns they suggest). A query that
    names its product takes that product's text for the product half. Links are not
    read, so a selling point without clips gets its context like any other: the
    structure that lets held-out text find its product's clips.

    Args:
        query_text: (Q, 384) raw MiniLM embeddings of the queries.
        attach: attach edges (`attach_edges`).
        temperature: scalar, the attention's inverse temperature (learned).
    """
    import torch
    from torch_geometric.utils import softmax

    q = query_text.shape[0]
    out = torch.zeros((q, 2 * EMBEDDING_DIM))
    ei = attach[SIMILAR]
    if ei.numel():
        sims = (query_text[ei[1]] * inputs.text["selling_point"][ei[0]]).sum(1)
        alpha = softmax(temperature * sims, ei[1], num_nodes=q)
        out = out.index_add(0, ei[1], alpha.unsqueeze(1) * inputs.sp_context[ei[0]])
    named = attach[HAS_SP]
    if named.numel():
        product = torch.zeros((q, EMBEDDING_DIM), dtype=torch.bool)
        product[named[1]] = True
        mask = torch.cat([product, torch.zeros_like(product)], dim=1)
        named_text = torch.zeros_like(out)
        named_text[named[1], :EMBEDDING_DIM] = inputs.text["product"][named[0]]
        out = torch.where(mask, named_text, out)
    return out
