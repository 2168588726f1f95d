"""SC-GAT: the Semantic Correlation Graph Attention Network over the ACKB.

Each layer is a `HeteroConv` of scaled dot-product graph attention
(`TransformerConv`: alpha_ij = softmax((W_q h_i)^T (W_k h_j) / sqrt(d))) per edge
type, or `GATv2Conv` for comparison, with a residual update and layer norm. A
final linear map per node type puts every node into one shared retrieval space.

Query nodes (new selling-point text) are computed with the same convolutions,
reading the cached states of the graph (`attach`), so they cost one row each.

The retrieval score lives here, once: `encode_graph` encodes the graph once into a
`GraphContext`, `encode_queries` encodes queries against it, and `clip_vectors` and
`query_vectors` lay out the two sides so that their inner product is the score
(`score`). Training, the RL stage and the FAISS index all call these.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from kdcvg.retrieval.config import EncoderConfig
from kdcvg.retrieval.features import (
    EXPRESSES,
    REV_EXPRESSES,
    GraphInputs,
    drop_links,
    linked_mask,
    linked_match,
    linked_text,
    nearest_match,
    query_context,
)
from kdcvg.retrieval.sampling import NeighbourSampler, Subgraph, subgraph_states
from kdcvg.types import EdgeType

if TYPE_CHECKING:
    from torch_geometric.nn import HeteroConv

States = list[dict[str, Tensor]]  # h^0 .. h^L per node type
CHUNK_ROWS = 32_768  # destination rows per convolution call on graphs with more of a type
MIXTURE = ("beta", "gamma", "delta", "epsilon", "log_temperature")
# starting values of the score's scalars (`gat_gate` starts at `EncoderConfig.gat_gate`):
# the raw-text and knowledge skips (beta, gamma) carry the dense ranking and the curated
# links from the first step; the graph terms (delta, epsilon, and the attention term
# behind its gate, scaled by exp(logit_scale)) start at 0 and add only what training
# finds; exp(log_temperature) is the neighbour attention's inverse temperature
SCORE_INIT = {"logit_scale": 2.3, "beta": 5.0, "gamma": 5.0, "delta": 0.0, "epsilon": 0.0,
              "log_temperature": 3.0}


@dataclass
class QueryWeights:
    """The per-query weights of the score's terms (`SCGAT.query_weights`).

    Attributes:
        attention: (Q,) weight of the graph-attention term.
        knowledge: (Q,) weight of the knowledge term.
        context: (Q, 768) weighted product and motion context.
    """

    attention: Tensor
    knowledge: Tensor
    context: Tensor

    def take(self, rows: Tensor) -> QueryWeights:
        """The weights of the queries at `rows`."""
        return QueryWeights(self.attention[rows], self.knowledge[rows], self.context[rows])

    @staticmethod
    def cat(parts: list[QueryWeights]) -> QueryWeights:
        """The weights of several batches of queries, in order."""
        return QueryWeights(torch.cat([p.attention for p in parts]),
                            torch.cat([p.knowledge for p in parts]),
                            torch.cat([p.context for p in parts]))


@dataclass
class Queries:
    """Queries encoded against a graph (`SCGAT.encode_queries`): what the score reads of them.

    Attributes:
        emb: (Q, out) unit-norm embeddings; zeros where the attention term is not run.
        text: (Q, 384) raw MiniLM embeddings.
        weights: the per-query weights of the score's terms.
        attention: {edge_type: (edge_index, (E,) head-mean weight)} of the last layer into
            the queries, source rows those of the context's states (when asked for).
    """

    emb: Tensor
    text: Tensor
    weights: QueryWeights
    attention: dict[EdgeType, tuple[Tensor, Tensor]] = field(default_factory=dict)

    def take(self, rows: Tensor) -> Queries:
        """The queries at `rows` (without their attention)."""
        return Queries(self.emb[rows], self.text[rows], self.weights.take(rows))


@dataclass
class GraphContext:
    """A graph encoded once: what queries are encoded and scored against.

    `GraphContext.of` holds the links in use only (enough for the score's text,
    knowledge and context terms); `SCGAT.encode_graph` adds the encoder's states of the
    whole graph, `SCGAT.encode_subgraph` those of a batch's sampled neighbourhood.

    Attributes:
        inputs: the graph's model inputs.
        hidden: (N_sp,) bool, selling points whose EXPRESSES links are hidden.
        edges: the message-passing edges in use (`features.drop_links`).
        linked: (N_sp,) bool, selling points with links among `edges`.
        know: (N_clip, 384) `features.linked_text` over `edges`, computed on first use
            of every row (`knowledge`); None until then.
        states: `SCGAT.node_states` of the graph or of `sub`; None: the attention term
            is not run (query and clip embeddings are zeros; it weighs 0 anyway).
        clip_emb: the clips' embeddings from `states`, one row per clip of the states.
        sub: the sampled subgraph `states` belong to; None: the whole graph.
    """

    inputs: GraphInputs
    hidden: Tensor
    edges: dict[EdgeType, Tensor]
    linked: Tensor
    know: Tensor | None = None
    states: States | None = None
    clip_emb: Tensor | None = None
    sub: Subgraph | None = None

    @classmethod
    def of(cls, inputs: GraphInputs, hidden: Tensor | None = None) -> GraphContext:
        """The links in use when the `hidden` selling points' links are hidden (default none)."""
        if hidden is None:
            hidden = torch.zeros(inputs.x["selling_point"].shape[0], dtype=torch.bool)
        edges = drop_links(inputs, hidden)
        return cls(inputs, hidden, edges, linked_mask(inputs, edges))

    def knowledge(self, rows: Tensor | None = None) -> Tensor:
        """(C, 384) `features.linked_text` of the clips at `rows` (default every clip).

        A training step reads its candidates' rows only: the whole table is 150 MB to
        build per step at 100k clips.
        """
        if rows is None:
            if self.know is None:
                self.know = linked_text(self.inputs, self.edges)
            return self.know
        if self.know is not None:
            return self.know[rows]
        unique, inverse = rows.unique(return_inverse=True)
        return linked_text(self.inputs, self.edges, unique)[inverse]

    def local(self, node_type: str, rows: Tensor) -> Tensor:
        """Rows of `states` of the graph's `rows` of `node_type` (the same on the whole graph)."""
        if self.sub is None:
            return rows
        return self.sub.local(node_type, rows, int(self.inputs.x[node_type].shape[0]))


class SCGAT(nn.Module):
    r"""Heterogeneous scaled dot-product graph attention encoder.

    Args:
        in_channels: input width per node type.
        edge_types: message-passing edge types (src, rel, dst).
        config: widths, heads, layers, convolution kind and dropout.

    Shapes:
        - **input:** x_dict {node_type: (N_t, F_t)}, edge_index_dict {edge_type: (2, E)}
        - **output:** {node_type: (N_t, out)} unit-norm embeddings
    """

    # the score's scalars (`SCORE_INIT`, `query_vectors`)
    gat_gate: nn.Parameter
    logit_scale: nn.Parameter
    beta: nn.Parameter
    gamma: nn.Parameter
    delta: nn.Parameter
    epsilon: nn.Parameter
    log_temperature: nn.Parameter

    def __init__(self, in_channels: dict[str, int], edge_types: list[EdgeType],
                 config: EncoderConfig) -> None:
        super().__init__()
        from torch_geometric.nn import GATv2Conv, HeteroConv, TransformerConv

        if config.hidden % config.heads:
            raise ValueError(f"hidden={config.hidden} must be divisible by heads={config.heads}")
        self.config = config
        self.in_channels = dict(in_channels)
        self.edge_types: list[EdgeType] = [(et[0], et[1], et[2]) for et in edge_types]
        h, heads = config.hidden, config.heads
        self.inp = nn.ModuleDict({nt: nn.Linear(f, h) for nt, f in in_channels.items()})

        def conv() -> nn.Module:
            layer: nn.Module
            if config.conv == "transformer":
                layer = TransformerConv((h, h), h // heads, heads=heads, root_weight=False)
                return layer
            if config.conv == "gatv2":
                layer = GATv2Conv((h, h), h // heads, heads=heads, add_self_loops=False)
                return layer
            raise ValueError(f"conv must be 'transformer' or 'gatv2', got {config.conv!r}")

        self.convs = nn.ModuleList(
            HeteroConv({et: conv() for et in self.edge_types}, aggr="sum")
            for _ in range(config.layers)
        )
        self.norms = nn.ModuleList(
            nn.ModuleDict({nt: nn.LayerNorm(h) for nt in in_channels})
            for _ in range(config.layers)
        )
        self.out = nn.ModuleDict({nt: nn.Linear(h, config.out) for nt in in_channels})
        self.drop = nn.Dropout(config.dropout)
        # the score's scalars (see `query_vectors`); registered in this order, gate first
        self.gat_gate = nn.Parameter(torch.tensor(config.gat_gate))
        for name, value in SCORE_INIT.items():
            self.register_parameter(name, nn.Parameter(torch.tensor(value)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Resets all learnable parameters."""
        for module in [*self.inp.values(), *self.out.values(), *self.convs]:
            module.reset_parameters()
        for norms in self.norms:
            for norm in norms.values():  # type: ignore[operator]
                norm.reset_parameters()
        with torch.no_grad():
            self.gat_gate.fill_(self.config.gat_gate)
            for name, value in SCORE_INIT.items():
                getattr(self, name).fill_(value)

    def _update(self, layer: int, nt: str, h: Tensor, msg: Tensor | None) -> Tensor:
        if msg is None:
            return h
        norm: nn.Module = self.norms[layer][nt]  # type: ignore[index]
        out: Tensor = norm(h + self.drop(nn.functional.gelu(msg)))
        return out

    def node_states(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor],
                    needed: list[dict[str, int]] | None = None) -> States:
        """Hidden states of the nodes after each layer (index 0: the input projection).

        Edge types without edges are not run: their convolutions would project every node
        of both end types for no message (a graph without motion patterns has four such
        types). A node type that receives on some edge type is updated with a zero
        message where all of them are empty, as the convolutions would have given it.

        Args:
            needed: per layer, how many rows of each node type (a prefix; 0 when absent)
                are updated by it, for a subgraph ordered by hop (`Subgraph.needed`);
                None updates every row. The later layers read only those rows.
        """
        receives = {et[2] for et in edge_index_dict}
        live = {et: ei for et, ei in edge_index_dict.items() if ei.shape[1]}
        h = {nt: self.inp[nt](x) for nt, x in x_dict.items()}
        states = [h]
        chunked = needed is None and max((v.shape[0] for v in h.values()), default=0) > CHUNK_ROWS
        by_dst = _sorted_by_dst(live) if chunked else {}
        for layer, hetero in enumerate(self.convs):
            if chunked:
                dst, msgs = h, self._chunked_messages(hetero, h, by_dst)
            elif needed is None:
                dst, msgs = h, (hetero(h, live) if live else {})
            else:
                keep = needed[layer]
                dst = {nt: v[: keep.get(nt, 0)] for nt, v in h.items()}
                msgs = self._messages(hetero, h, dst, {et: ei[:, ei[1] < keep.get(et[2], 0)]
                                                       for et, ei in live.items()})
            h = {nt: self._update(layer, nt, v, msgs.get(nt, torch.zeros_like(v)
                                                         if nt in receives else None))
                 for nt, v in dst.items()}
            states.append(h)
        return states

    def _chunked_messages(self, hetero: HeteroConv, h: dict[str, Tensor],
                          by_dst: dict[EdgeType, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """`hetero`'s messages into every row, `CHUNK_ROWS` destination rows at a time: a
        large graph's per-edge tensors (1M `similar` edges x 128 floats, several of them)
        would otherwise all be alive at once. Exact: attention normalises per destination."""
        out: dict[str, Tensor] = {}
        for nt in {et[2] for et in by_dst}:
            parts = []
            for a in range(0, h[nt].shape[0], CHUNK_ROWS):
                b = min(a + CHUNK_ROWS, h[nt].shape[0])
                edges = {}
                for et, (ei, bounds) in by_dst.items():
                    if et[2] == nt:
                        lo, hi = (int(i) for i in torch.searchsorted(bounds, torch.tensor([a, b])))
                        edges[et] = ei[:, lo:hi] - torch.tensor([[0], [a]])
                msg = self._messages(hetero, h, {nt: h[nt][a:b]}, edges).get(nt)
                parts.append(h[nt].new_zeros((b - a, h[nt].shape[1])) if msg is None else msg)
            out[nt] = torch.cat(parts)
        return out

    @staticmethod
    def _messages(hetero: HeteroConv, src: dict[str, Tensor], dst: dict[str, Tensor],
                  edges: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        """`hetero`'s summed messages into the `dst` rows, projecting only the source rows
        the edges use (a convolution projects every source row it is given)."""
        out: dict[str, Tensor] = {}
        for et, ei in edges.items():
            if not ei.shape[1]:
                continue
            rows, local = ei[0].unique(return_inverse=True)
            msg = _conv_of(hetero, et)((src[et[0]][rows], dst[et[2]]),
                                       torch.stack([local.view(-1), ei[1]]))
            out[et[2]] = msg if et[2] not in out else out[et[2]] + msg
        return out

    def embed(self, states: States) -> dict[str, Tensor]:
        """Unit-norm embeddings in the shared space from the last states."""
        return {nt: nn.functional.normalize(self.out[nt](v), dim=-1)
                for nt, v in states[-1].items()}

    def forward(self, x_dict: dict[str, Tensor],
                edge_index_dict: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        return self.embed(self.node_states(x_dict, edge_index_dict))

    def attach(self, states: States, query_x: Tensor, edges: dict[EdgeType, Tensor],
               return_attention: bool = False
               ) -> tuple[Tensor, dict[EdgeType, tuple[Tensor, Tensor]]]:
        """Embed Q new selling points that receive from graph nodes and send nothing.

        Args:
            states: `node_states` of the graph.
            query_x: (Q, F_selling_point) input features of the new texts.
            edges: per edge type into 'selling_point', (2, E): row 0 graph nodes, row 1 queries.
            return_attention: also return the last layer's attention per edge type.

        Returns:
            (Q, out) unit-norm embeddings and {edge_type: (edge_index, (E,) head-mean weight)}.
        """
        h = self.inp["selling_point"](query_x)
        attention: dict[EdgeType, tuple[Tensor, Tensor]] = {}
        last = len(self.convs) - 1
        for layer, hetero in enumerate(self.convs):
            total: Tensor | None = None
            for et, ei in edges.items():
                conv = _conv_of(hetero, et)
                # only the source rows the queries read: the convolution projects every
                # source row it is given (200k selling points = 300 ms per query)
                rows, local = ei[0].unique(return_inverse=True)
                src, ei = states[layer][et[0]][rows], torch.stack([local.view(-1), ei[1]])
                if layer == last and return_attention:
                    out, (att_ei, alpha) = conv((src, h), ei, return_attention_weights=True)
                    att_ei = torch.stack([rows[att_ei[0]], att_ei[1]])
                    attention[et] = (att_ei, alpha.mean(dim=-1))
                else:
                    out = conv((src, h), ei)
                total = out if total is None else total + out
            h = self._update(layer, "selling_point", h, total)
        return nn.functional.normalize(self.out["selling_point"](h), dim=-1), attention

    def neighbour_attention(self, states: States, edge_index_dict: dict[EdgeType, Tensor],
                            dst_type: str) -> dict[EdgeType, tuple[Tensor, Tensor]]:
        """Last-layer attention on every edge into `dst_type` (head mean), for explanations."""
        last = len(self.convs) - 1
        out: dict[EdgeType, tuple[Tensor, Tensor]] = {}
        for et in self.edge_types:
            ei = edge_index_dict.get(et)
            if et[2] != dst_type or ei is None or ei.shape[1] == 0:
                continue
            conv = _conv_of(self.convs[last], et)
            pair = (states[last][et[0]], states[last][dst_type])
            _, (att_ei, alpha) = conv(pair, ei, return_attention_weights=True)
            out[et] = (att_ei, alpha.mean(dim=-1))
        return out

    def closeness(self, q_match: Tensor, threshold: float) -> Tensor:
        """(Q,) sigmoid(sharpness * (match - threshold)): near 1 for a paraphrase of a
        selling point of the graph, near 0 for text far from all of them.

        What the graph says about a query (its linked clips, its attention neighbours,
        its product and motion context) is read through its nearest selling points, so
        it is only as good as they are close; far from all of them, SAR falls back to
        matching the text.
        """
        return torch.sigmoid(self.config.know_sharpness * (q_match - threshold))

    def mixture_parameters(self) -> list[nn.Parameter]:
        """The scalars that weigh the score's terms (trained at their own learning rate)."""
        return [getattr(self, name) for name in MIXTURE]

    def context_temperature(self) -> Tensor:
        """Inverse temperature of the attention that reads a query's neighbour context."""
        return self.log_temperature.exp()

    def encode_graph(self, ctx: GraphContext) -> GraphContext:
        """`ctx` with the states and clip embeddings of the whole graph over its edges."""
        states = self.node_states(ctx.inputs.x, ctx.edges)
        return replace(ctx, states=states, clip_emb=self.embed(states)["clip"], sub=None)

    def encode_subgraph(self, ctx: GraphContext, sampler: NeighbourSampler, clips: Tensor,
                        attach: dict[EdgeType, Tensor],
                        generator: torch.Generator | None = None) -> GraphContext:
        """`ctx` with the states on the sampled neighbourhood of a batch.

        Args:
            ctx: the links in use (`GraphContext.of`); the subgraph hides the same links.
            sampler: over the graph's message-passing edges.
            clips: (C,) the clip rows the batch scores.
            attach: the queries' attach edges, source rows of the graph.
            generator: random sampling; None keeps the first `fanout` in-edges of each
                node, so the same batch always gives the same subgraph.
        """
        seeds: dict[str, list[Tensor]] = {"clip": [clips]}
        for et, ei in attach.items():
            seeds.setdefault(et[0], []).append(ei[0])
        sub = sampler.sample({nt: torch.cat(v) for nt, v in seeds.items()}, generator)
        sp_rows = sub.nodes.get("selling_point", torch.zeros(0, dtype=torch.long))
        for et in (EXPRESSES, REV_EXPRESSES):
            ei = sub.edges[et]
            sp_local = ei[1] if et == EXPRESSES else ei[0]
            sub.edges[et] = ei[:, ~ctx.hidden[sp_rows[sp_local]]] if ei.numel() else ei
        states = subgraph_states(self, ctx.inputs.x, sub)
        return replace(ctx, states=states, clip_emb=self.embed(states)["clip"], sub=sub)

    def encode_queries(self, ctx: GraphContext, text: Tensor, attach: dict[EdgeType, Tensor],
                       return_attention: bool = False) -> Queries:
        """Embed Q query nodes against an encoded graph, with their score weights.

        Args:
            ctx: the encoded graph (`encode_graph`, `encode_subgraph`, or `GraphContext.of`
                alone where the attention term is not run).
            text: (Q, 384) raw MiniLM embeddings of the queries (their input features).
            attach: their attach edges (`features.attach_edges`), source rows of the graph.
            return_attention: also return the last layer's attention (explanations).
        """
        weights = self.query_weights(ctx.inputs, text, attach, ctx.linked)
        if ctx.states is None:
            return Queries(text.new_zeros((text.shape[0], self.config.out)), text, weights)
        local = {et: torch.stack([ctx.local(et[0], ei[0]), ei[1]]) for et, ei in attach.items()}
        emb, attention = self.attach(ctx.states, text, local, return_attention)
        return Queries(emb, text, weights, attention)

    def query_weights(self, inputs: GraphInputs, query_text: Tensor,
                      attach: dict[EdgeType, Tensor], linked: Tensor) -> QueryWeights:
        """The per-query weights of the score's graph terms.

        The context is `features.query_context` at this model's learned temperature,
        its product half times delta, its motion half times epsilon; like the attention
        term, it counts by the query's `closeness` to its nearest selling point, and the
        knowledge term by its closeness to the nearest one when that one has links.

        Args:
            query_text: (Q, 384) raw MiniLM embeddings of the queries.
            attach: their attach edges (`features.attach_edges`).
            linked: (N_sp,) bool, `features.linked_mask` of the edges in use.
        """
        c = self.config
        near, row = nearest_match(inputs, query_text, attach)
        close = self.closeness(near, c.near_threshold)
        know = linked_match(near, row, linked)
        context = query_context(inputs, query_text, attach, self.context_temperature())
        half = context.shape[1] // 2
        context = close.unsqueeze(1) * torch.cat(
            [self.delta * context[:, :half], self.epsilon * context[:, half:]], dim=1)
        return QueryWeights(self.gat_gate * self.logit_scale.exp() * close,
                            self.gamma * self.closeness(know, c.know_threshold), context)

    def query_vectors(self, queries: Queries) -> Tensor:
        """(Q, out + 4 x 384) the query side of the score.

        `[n(q) a exp(s) e_q, beta x_q, gamma g(m_q) x_q, n(q) delta p_q, n(q) epsilon u_q]`
        (the weights in `query_weights`) against a clip's `[e_c, x_c, k_c, p_c, u_c]`
        (`clip_vectors`): the attention term behind its gate `a`, the raw-text skip that
        keeps the dense ranking, the curated knowledge of linked selling points, and the
        product and motion context a selling point without clips still has.
        """
        w = queries.weights
        return torch.cat([w.attention.unsqueeze(1) * queries.emb, self.beta * queries.text,
                          w.knowledge.unsqueeze(1) * queries.text, w.context], dim=1)

    def clip_vectors(self, ctx: GraphContext, rows: Tensor | None = None) -> Tensor:
        """(C, out + 4 x 384) the clip side of the score, `[e_c, x_c, k_c, p_c, u_c]`.

        Args:
            ctx: the encoded graph.
            rows: (C,) clip rows of the graph (default: every clip, in row order).
        """
        inputs = ctx.inputs
        if rows is None:
            text, know, context = inputs.text["clip"], ctx.knowledge(), inputs.clip_context
        else:
            text, know, context = (inputs.text["clip"][rows], ctx.knowledge(rows),
                                   inputs.clip_context[rows])
        if ctx.clip_emb is None:  # the attention term is not run
            emb = text.new_zeros((text.shape[0], self.config.out))
        elif rows is None and ctx.sub is None:
            emb = ctx.clip_emb
        else:
            every = torch.arange(text.shape[0]) if rows is None else rows
            emb = ctx.clip_emb[ctx.local("clip", every)]
        return torch.cat([emb, text, know, context], dim=1)

    @staticmethod
    def score(queries: Tensor, clips: Tensor) -> Tensor:
        """Retrieval scores: the inner product of `query_vectors` and `clip_vectors`.

        Shapes:
            - queries (Q, D), clips (C, D) -> (Q, C)
            - queries (Q, D), clips (Q, K, D), K candidates per query -> (Q, K)
        """
        if clips.dim() == 3:
            return (clips @ queries.unsqueeze(2)).squeeze(2)
        return queries @ clips.T

    def extra_repr(self) -> str:
        c = self.config
        return (f"conv={c.conv}, hidden={c.hidden}, out={c.out}, heads={c.heads}, "
                f"layers={c.layers}, edge_types={len(self.edge_types)}")


def _sorted_by_dst(edges: dict[EdgeType, Tensor]) -> dict[EdgeType, tuple[Tensor, Tensor]]:
    """Each edge type's edges sorted by destination row, with that sorted row vector."""
    out = {}
    for et, ei in edges.items():
        ei = ei[:, torch.argsort(ei[1], stable=True)]
        out[et] = (ei, ei[1].contiguous())
    return out


def _conv_of(hetero: HeteroConv, et: EdgeType) -> nn.Module:
    conv: nn.Module = hetero.convs[et]
    return conv
