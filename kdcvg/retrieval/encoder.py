"""SC-GAT: the Semantic Correlation Graph Attention Network over the ACKB.

Each layer is a `HeteroConv` of scaled dot-product graph attention
(`TransformerConv`: alpha_ij = softmax((W_q h_i)^T (W_k h_j) / sqrt(d))) per edge
type, or `GATv2Conv` for comparison, with a residual update and layer norm. A
final linear map per node type puts every node into one shared retrieval space.

Query nodes (new selling-point text) are computed with the same convolutions,
reading the cached states of the graph (`attach`), so they cost one row each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from kdcvg.retrieval.config import EncoderConfig
from kdcvg.types import EdgeType

if TYPE_CHECKING:
    from torch_geometric.nn import HeteroConv

    from kdcvg.retrieval.features import GraphInputs

States = list[dict[str, Tensor]]  # h^0 .. h^L per node type
MIXTURE = ("beta", "gamma", "delta", "epsilon", "log_temperature")


@dataclass
class QueryWeights:
    """The query side of the score, what `SCGAT.score` needs besides the embeddings.

    Attributes:
        attention: (Q,) weight of the graph-attention term.
        knowledge: (Q,) weight of the knowledge term.
        context: (Q, 768) weighted product and motion context.
    """

    attention: Tensor
    knowledge: Tensor
    context: Tensor


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
            if config.conv == "transformer":
                return TransformerConv((h, h), h // heads, heads=heads, root_weight=False)
            if config.conv == "gatv2":
                return GATv2Conv((h, h), h // heads, heads=heads, add_self_loops=False)
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
        # scores = gate * scale * cos(embeddings) + beta * cos(raw text)
        #          + gamma * g(match) * cos(query text, linked selling-point text):
        # the raw skips keep the dense ranking and the curated knowledge available from
        # the first step; the attention term starts at weight 0 (gate) and adds only what
        # training finds; g() opens the knowledge term only for text close to a linked
        # selling point (see `knowledge_gate`)
        self.gat_gate = nn.Parameter(torch.tensor(config.gat_gate))
        self.logit_scale = nn.Parameter(torch.tensor(2.3))
        self.beta = nn.Parameter(torch.tensor(5.0))
        self.gamma = nn.Parameter(torch.tensor(5.0))
        # + delta * cos(query's product, clip's product) + epsilon * (motion . motion):
        # the structure a selling point without clips still has (`query_context`); both
        # start at 0 and are learned, as is the neighbour attention's temperature
        self.delta = nn.Parameter(torch.tensor(0.0))
        self.epsilon = nn.Parameter(torch.tensor(0.0))
        self.log_temperature = nn.Parameter(torch.tensor(3.0))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Resets all learnable parameters."""
        for module in [*self.inp.values(), *self.out.values(), *self.convs]:
            module.reset_parameters()  # type: ignore[operator]
        for norms in self.norms:
            for norm in norms.values():  # type: ignore[operator]
                norm.reset_parameters()  # type: ignore[operator]
        with torch.no_grad():
            self.gat_gate.fill_(self.config.gat_gate)
            self.logit_scale.fill_(2.3)
            self.beta.fill_(5.0)
            self.gamma.fill_(5.0)
            self.delta.fill_(0.0)
            self.epsilon.fill_(0.0)
            self.log_temperature.fill_(3.0)

    def _update(self, layer: int, nt: str, h: Tensor, msg: Tensor | None) -> Tensor:
        if msg is None:
            return h
        norm: nn.Module = self.norms[layer][nt]  # type: ignore[index]
        return norm(h + self.drop(nn.functional.gelu(msg)))

    def node_states(self, x_dict: dict[str, Tensor],
                    edge_index_dict: dict[EdgeType, Tensor]) -> States:
        """Hidden states of every node after each layer (index 0: the input projection)."""
        h = {nt: self.inp[nt](x) for nt, x in x_dict.items()}
        states = [h]
        for layer, hetero in enumerate(self.convs):
            msgs = hetero(h, edge_index_dict)
            h = {nt: self._update(layer, nt, v, msgs.get(nt)) for nt, v in h.items()}
            states.append(h)
        return states

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
        from kdcvg.retrieval.features import linked_match, nearest_match, query_context

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

    def score(self, q_emb: Tensor, c_emb: Tensor, q_text: Tensor, c_text: Tensor,
              c_know: Tensor, c_context: Tensor, weights: QueryWeights) -> Tensor:
        """Retrieval scores (Q, C).

        Args:
            q_emb, c_emb: (Q, out), (C, out) unit-norm embeddings.
            q_text, c_text: (Q, 384), (C, 384) raw MiniLM embeddings.
            c_know: (C, 384) `features.linked_text` of the clips.
            c_context: (C, 768) `GraphInputs.clip_context` of the clips.
            weights: `query_weights` of the queries.
        """
        return (weights.attention.unsqueeze(1) * q_emb @ c_emb.T
                + self.beta * q_text @ c_text.T
                + weights.knowledge.unsqueeze(1) * (q_text @ c_know.T)
                + weights.context @ c_context.T)

    def extra_repr(self) -> str:
        c = self.config
        return (f"conv={c.conv}, hidden={c.hidden}, out={c.out}, heads={c.heads}, "
                f"layers={c.layers}, edge_types={len(self.edge_types)}")


def _conv_of(hetero: HeteroConv, et: EdgeType) -> nn.Module:
    return hetero.convs[et]
