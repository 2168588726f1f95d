from pathlib import Path

import pytest
import torch

from kdcvg.errors import KdcvgError
from kdcvg.graph.export import GraphRecords, export_graph, save_export, to_heterodata
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import read_batch

ROOT = Path(__file__).resolve().parents[2]


def records():
    e = [1.0] + [0.0] * 383
    return GraphRecords(
        nodes=[
            {"label": "Product", "key": "p1", "embedding": e, "motion": None},
            {"label": "SellingPoint", "key": "s2", "embedding": e, "motion": None},
            {"label": "SellingPoint", "key": "s1", "embedding": None, "motion": None},
            {"label": "Clip", "key": "c1", "embedding": e, "motion": [0.5, 0.25, 1.0]},
            {"label": "Clip", "key": "c2", "embedding": e, "motion": None},
        ],
        links=[
            {"type": "EXPRESSES", "source": "c2", "target": "s1", "weight": 0.5, "origin": "learned"},
            {"type": "EXPRESSES", "source": "c1", "target": "s2", "weight": 0.9, "origin": "curated"},
            {"type": "HAS_SELLING_POINT", "source": "p1", "target": "s1"},
        ],
    )


def test_to_heterodata_builds_features_edges_and_id_maps():
    data, ids = to_heterodata(records())
    assert ids["selling_point"] == ["s1", "s2"] and ids["clip"] == ["c1", "c2"]
    assert data["selling_point"].x.shape == (2, 384)
    assert data["selling_point"].has_embedding.tolist() == [False, True]
    assert data["clip"].motion.tolist() == [[0.5, 0.25, 1.0], [0.0, 0.0, 0.0]]
    expresses = data["clip", "expresses", "selling_point"]
    assert expresses.edge_index.tolist() == [[0, 1], [1, 0]]
    assert expresses.edge_attr.tolist() == [[pytest.approx(0.9), 1.0], [0.5, 0.0]]
    assert data["product", "has_selling_point", "selling_point"].edge_index.tolist() == [[0], [0]]
    assert data["clip", "shows", "product"].edge_index.shape == (2, 0)
    assert len(data.graph_version) == 12


def test_graph_version_changes_with_the_graph():
    a, _ = to_heterodata(records())
    r = records()
    r.links.pop()
    b, _ = to_heterodata(r)
    assert a.graph_version != b.graph_version


def test_a_link_to_an_unknown_node_is_an_error():
    r = records()
    r.links.append({"type": "SHOWS", "source": "c1", "target": "p9"})
    with pytest.raises(KdcvgError, match="SHOWS link c1 -> p9 names a node that is not in the export"):
        to_heterodata(r)


def test_export_graph_from_the_store_and_save(store, embedder, tmp_path):
    write_batch(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    data, ids = export_graph(store)
    assert ids["clip"] == ["clip-cascade"] and ids["motion_pattern"] == ["pour", "zoom_in"]
    assert data["clip", "has_motion", "motion_pattern"].edge_attr.tolist() == [[pytest.approx(0.8)]]
    assert bool(data["selling_point"].has_embedding.all())
    ids_path = save_export(data, ids, tmp_path / "g.pt")
    loaded = torch.load(tmp_path / "g.pt", weights_only=False)
    assert loaded["selling_point"].x.shape == (2, 384)
    assert ids_path.read_text().startswith('{"product": ["p-cold-brew"]')


def test_graph_version_changes_when_content_changes_at_equal_counts():
    a, _ = to_heterodata(records())
    r = records()
    r.nodes[3]["embedding"] = [0.0, 1.0] + [0.0] * 382  # a re-embedded caption
    b, _ = to_heterodata(r)
    r2 = records()
    r2.links[0]["weight"] = 0.25
    c, _ = to_heterodata(r2)
    assert len({a.graph_version, b.graph_version, c.graph_version}) == 3
    again, _ = to_heterodata(records())
    assert again.graph_version == a.graph_version
