"""Mini-batch neighbour sampling, so SC-GAT trains on graphs of any size.

On a large graph a training step cannot afford the whole graph's forward and
backward pass. `NeighbourSampler` builds, once, a CSR of incoming edges per edge
type and then extracts for a batch the L-hop in-neighbourhood of its seed nodes,
at most `fanout` edges per node, edge type and hop (GraphSAGE / PyG
`NeighborLoader` style; written here because PyG's hetero sampler needs
`pyg-lib` or `torch-sparse`, which have no wheels for this torch). Running the
encoder on that subgraph gives the seeds' states exactly as on the full graph when
no node has more than `fanout` in-edges of a type, and a sampled estimate otherwise.

`random=False` keeps the first `fanout` edges of each node (a deterministic
truncation), so the same batch always gives the same subgraph: what PPO needs,
as its probability ratios must compare the same function. `fanout=None` keeps every
in-edge: the seeds' exact L-hop computation graph, what small graphs train on.

A subgraph's rows are ordered by hop (the seeds first), and `subgraph_states` updates
at each layer only the rows a later layer reads (PyG's `trim_to_layer`): the last layer
runs for the seeds alone, the one before for the seeds and their in-neighbours, and so
on. The seeds' states are the same; the work shrinks to the computation graph's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kdcvg.types import EdgeType

States = list[dict[str, Tensor]]


@dataclass
class Subgraph:
    """A sampled subgraph: global rows per node type and local edges.

    Attributes:
        nodes: {node_type: (n_t,) global rows}; local row i is `nodes[t][i]`.
        edges: {edge_type: (2, E) local rows}.
        within: {node_type: [rows within 0 hops of the seeds, within 1 hop, ...]}: the
            rows are ordered by hop, so rows within h hops are a prefix.
    """

    nodes: dict[str, Tensor]
    edges: dict[EdgeType, Tensor]
    within: dict[str, list[int]]

    def needed(self, layers: int) -> list[dict[str, int]]:
        """Per layer, the rows of each node type whose state after it is read later
        (within `layers - 1 - layer` hops of the seeds)."""
        return [{nt: counts[layers - 1 - layer] for nt, counts in self.within.items()}
                for layer in range(layers)]

    def local(self, node_type: str, rows: Tensor, num_nodes: int) -> Tensor:
        """Local rows of global `rows` (every one must be in the subgraph); -1 stays -1."""
        lookup = torch.full((num_nodes,), -1, dtype=torch.long)
        lookup[self.nodes[node_type]] = torch.arange(self.nodes[node_type].numel())
        return torch.where(rows >= 0, lookup[rows.clamp(min=0)], rows)


class NeighbourSampler:
    """L-hop in-neighbourhood sampler over fixed message-passing edges.

    Args:
        edge_index: {edge_type: (2, E) global rows} (e.g. `drop_links(...)`).
        num_nodes: rows per node type.
        fanout: in-edges kept per node, edge type and hop; None keeps every one (exact).
        hops: neighbourhood depth (the encoder's layer count).
    """

    def __init__(self, edge_index: dict[EdgeType, Tensor], num_nodes: dict[str, int],
                 fanout: int | None = 10, hops: int = 2) -> None:
        self.num_nodes = dict(num_nodes)
        self.fanout, self.hops = fanout, hops
        self._csr: dict[EdgeType, tuple[Tensor, Tensor]] = {}
        for et, ei in edge_index.items():
            dst_n = self.num_nodes[et[2]]
            order = torch.argsort(ei[1], stable=True)
            deg = torch.bincount(ei[1], minlength=dst_n)
            rowptr = torch.zeros(dst_n + 1, dtype=torch.long)
            rowptr[1:] = deg.cumsum(0)
            self._csr[et] = (rowptr, ei[0][order])

    def _pick(self, et: EdgeType, dst: Tensor, g: torch.Generator | None) -> tuple[Tensor, Tensor]:
        rowptr, col = self._csr[et]
        start, deg = rowptr[dst], rowptr[dst + 1] - rowptr[dst]
        take = deg if self.fanout is None else deg.clamp(max=self.fanout)
        if int(take.sum()) == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        owner = torch.repeat_interleave(torch.arange(dst.numel()), take)
        first = torch.repeat_interleave(take.cumsum(0) - take, take)
        pos = torch.arange(owner.numel()) - first
        if g is not None and self.fanout is not None:
            # sample with replacement where a node has more than fanout edges
            many = deg[owner] > self.fanout
            rnd = (torch.rand(owner.numel(), generator=g) * deg[owner]).long()
            pos = torch.where(many, rnd, pos)
        return col[start[owner] + pos], dst[owner]

    def sample(self, seeds: dict[str, Tensor], generator: torch.Generator | None = None
               ) -> Subgraph:
        """The subgraph whose encoder states at the seeds match the full graph's (up to fanout).

        Args:
            seeds: {node_type: global rows} whose last-layer states are needed.
            generator: random sampling; None keeps the first `fanout` in-edges.
        """
        nodes = {nt: torch.unique(r[r >= 0]) for nt, r in seeds.items() if r.numel()}
        sizes = [{nt: int(rows.numel()) for nt, rows in nodes.items()}]  # after each hop
        frontier = dict(nodes)
        found: dict[EdgeType, list[tuple[Tensor, Tensor]]] = {}
        for _ in range(self.hops):
            nxt: dict[str, list[Tensor]] = {}
            for et in self._csr:
                dst = frontier.get(et[2])
                if dst is None or dst.numel() == 0:
                    continue
                src, d = self._pick(et, dst, generator)
                if src.numel():
                    found.setdefault(et, []).append((src, d))
                    nxt.setdefault(et[0], []).append(src)
            frontier = {}
            for nt, parts in nxt.items():
                new = torch.unique(torch.cat(parts))
                old = nodes.get(nt)
                if old is not None:
                    new = new[~torch.isin(new, old)]
                    nodes[nt] = torch.cat([old, new])
                else:
                    nodes[nt] = new
                frontier[nt] = new
            sizes.append({nt: int(rows.numel()) for nt, rows in nodes.items()})
        lookup = {nt: torch.full((self.num_nodes[nt],), -1, dtype=torch.long)
                  for nt in nodes}
        for nt, rows in nodes.items():
            lookup[nt][rows] = torch.arange(rows.numel())
        edges: dict[EdgeType, Tensor] = {}
        for et, pairs in found.items():
            src = torch.cat([p[0] for p in pairs])
            dst = torch.cat([p[1] for p in pairs])
            n_dst = self.num_nodes[et[2]]
            pair = torch.unique(src * n_dst + dst)  # repeats of sampling with replacement
            edges[et] = torch.stack([lookup[et[0]][pair // n_dst], lookup[et[2]][pair % n_dst]])
        for et in self._csr:
            edges.setdefault(et, torch.zeros((2, 0), dtype=torch.long))
        return Subgraph(nodes, edges, {nt: [n.get(nt, 0) for n in sizes] for nt in nodes})


def subgraph_states(model: torch.nn.Module, x: dict[str, Tensor], sub: Subgraph) -> States:
    """`model.node_states` on a subgraph, each layer only where it is read later.

    Node types absent from the subgraph get zero rows; after layer l, a node type has the
    rows within `L - 1 - l` hops of the seeds (`Subgraph.needed`), the seeds' last.
    """
    x_sub = {nt: v[sub.nodes[nt]] if nt in sub.nodes else v[:0] for nt, v in x.items()}
    layers = len(model.convs)  # type: ignore[arg-type]
    states: States = model.node_states(x_sub, sub.edges,  # type: ignore[operator]
                                       sub.needed(layers))
    return states
