"""The ACKB as a PyTorch Geometric `HeteroData`.

`to_heterodata` is pure: records in, a validated `HeteroData` and id maps out.
`export_graph` reads the records through two named queries; `save_export`
writes the `.pt` file with its id maps beside it as JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kdcvg.errors import KdcvgError
from kdcvg.graph.schema import EMBEDDING_DIM, NODES, RELATIONSHIPS, SCHEMA_VERSION

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader


@dataclass
class GraphRecords:
    """Rows as the export queries return them.

    Args:
        nodes: dicts with label, key, embedding (list or None), motion (list or None).
        links: dicts with type, source, target, weight, score, origin.
    """

    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def graph_version(data: Any, id_maps: dict[str, list[str]]) -> str:
    """A short hash of the schema version and the graph's content.

    Covers node keys, edges, edge attributes and features (per-row sums, cheap even for
    100k nodes), so a re-embedded caption or a changed weight gives a new version, and
    anything built from an export (SAR's index) knows when to rebuild. A checksum, not
    a cryptographic proof: a change that keeps every weighted row sum goes unnoticed.
    """
    import torch

    h = hashlib.sha1(f"schema{SCHEMA_VERSION}".encode())
    for nt in sorted(id_maps):
        h.update("\x1f".join(id_maps[nt]).encode())
        store = data[nt]
        for name in ("x", "motion"):
            if name in store:
                values = store[name].double()
                # position-weighted row sums: a value moving within a row changes them too
                weights = torch.linspace(1.0, 2.0, values.shape[1], dtype=torch.float64)
                h.update((values @ weights).numpy().tobytes())
    for et in sorted(data.edge_types):
        h.update("__".join(et).encode())
        h.update(data[et].edge_index.numpy().tobytes())
        if "edge_attr" in data[et]:
            h.update(data[et].edge_attr.numpy().tobytes())
    return h.hexdigest()[:12]


def _matrix(values: list[Any], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack optional vectors into (N, width) float32 plus a has-value mask; missing rows are 0."""
    out = np.zeros((len(values), width), dtype=np.float32)
    mask = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is not None:
            out[i] = v
            mask[i] = True
    return out, mask


def to_heterodata(records: GraphRecords) -> tuple[Any, dict[str, list[str]]]:
    """Build the `HeteroData` described in docs/architecture.md.

    Returns:
        (data, id_maps): `id_maps[node_type][i]` is the key of row i of that node type.

    Raises:
        KdcvgError: a vector has the wrong length, or a link names an unknown node.
    """
    import torch
    from torch_geometric.data import HeteroData

    by_label: dict[str, list[dict[str, Any]]] = {label: [] for label in NODES}
    for row in records.nodes:
        if row["label"] in by_label:
            by_label[row["label"]].append(row)
    data = HeteroData()
    id_maps: dict[str, list[str]] = {}
    index: dict[str, dict[str, int]] = {}
    for label, rows in by_label.items():
        nt = NODES[label].pyg
        rows.sort(key=lambda r: str(r["key"]))
        id_maps[nt] = [str(r["key"]) for r in rows]
        index[label] = {k: i for i, k in enumerate(id_maps[nt])}
        try:
            x, has_x = _matrix([r.get("embedding") for r in rows], EMBEDDING_DIM)
        except ValueError as e:
            raise KdcvgError(f"{label} embedding has the wrong length ({e}); "
                             f"expected {EMBEDDING_DIM}") from e
        data[nt].x = torch.from_numpy(x)
        data[nt].has_embedding = torch.from_numpy(has_x)
        data[nt].num_nodes = len(rows)
        if label == "Clip":
            motions = [r.get("motion") for r in rows]
            width = max((len(m) for m in motions if m is not None), default=0)
            try:
                motion, has_motion = _matrix(motions, width)
            except ValueError as e:
                raise KdcvgError(f"Clip motion descriptors differ in length ({e})") from e
            data[nt].motion = torch.from_numpy(motion)
            data[nt].has_motion = torch.from_numpy(has_motion)
    edges: dict[str, list[dict[str, Any]]] = {t: [] for t in RELATIONSHIPS}
    for link in records.links:
        if link["type"] in edges:
            edges[link["type"]].append(link)
    for rel, links in edges.items():
        spec = RELATIONSHIPS[rel]
        src, dst = index[spec.source], index[spec.target]
        try:
            heads = np.fromiter((src[link["source"]] for link in links), np.int64, len(links))
            tails = np.fromiter((dst[link["target"]] for link in links), np.int64, len(links))
        except KeyError:
            bad = next(k for k in links if k["source"] not in src or k["target"] not in dst)
            raise KdcvgError(f"{rel} link {bad['source']} -> {bad['target']} names a node "
                             "that is not in the export") from None
        order = np.lexsort((tails, heads))  # by source, then target: a canonical order
        store = data[spec.pyg]
        store.edge_index = torch.from_numpy(np.stack([heads[order], tails[order]]))
        if rel == "EXPRESSES":
            attr = np.array([(float(k.get("weight") or 1.0), float(k.get("origin") == "curated"))
                             for k in links], dtype=np.float32).reshape(-1, 2)
            store.edge_attr = torch.from_numpy(attr[order])
        elif rel == "HAS_MOTION":
            attr = np.array([float(k.get("score") or 1.0) for k in links],
                            dtype=np.float32).reshape(-1, 1)
            store.edge_attr = torch.from_numpy(attr[order])
    data.graph_version = graph_version(data, id_maps)
    data.validate(raise_on_error=True)
    return data, id_maps


def export_graph(store: GraphReader) -> tuple[Any, dict[str, list[str]]]:
    """Read the whole graph from `store` and build its `HeteroData` (see `to_heterodata`)."""
    records = GraphRecords(
        nodes=[{"label": g["label"], "key": k, "embedding": e, "motion": m}
               for g in store.query("export_nodes") for k, e, m in g["rows"]],
        links=[{"type": g["type"], "source": s, "target": t, "weight": None if w < 0 else w,
                "score": None if sc < 0 else sc, "origin": o or None}
               for g in store.query("export_links")
               for s, t, w, sc, o in zip(g["sources"], g["targets"], g["weights"], g["scores"],
                                         g["origins"], strict=True)],
    )
    return to_heterodata(records)


def save_export(data: Any, id_maps: dict[str, list[str]], out: Path) -> Path:
    """Write `out` (torch.save of the HeteroData) and `out` with `.ids.json` beside it."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, out)
    ids = out.with_suffix(".ids.json")
    ids.write_text(json.dumps(id_maps))
    return ids

