import pytest
import torch

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.features import (
    CONTAINS,
    EXPRESSES,
    REV_EXPRESSES,
    SIMILAR,
    attach_edges,
    build_inputs,
    drop_links,
    knn_by_text,
    linked_text,
    message_edge_types,
)


def test_inputs_carry_reverse_and_derived_edges(demo_graph, demo_inputs):
    data, ids = demo_graph
    n_sp = len(ids["selling_point"])
    assert set(message_edge_types()) == set(demo_inputs.edge_index)
    assert torch.equal(demo_inputs.edge_index[REV_EXPRESSES],
                       demo_inputs.edge_index[EXPRESSES].flip(0))
    assert demo_inputs.edge_index[SIMILAR].shape == (2, n_sp * 5)
    assert demo_inputs.edge_index[CONTAINS].shape == (2, n_sp)  # every demo product has a category
    # clip features: text, L2-normalised motion, has-motion flag
    assert demo_inputs.x["clip"].shape == (len(ids["clip"]), 384 + 16 + 1)
    assert torch.allclose(demo_inputs.x["clip"][:, 384:400].norm(dim=1), torch.ones(1))
    assert demo_inputs.links.shape[1] == int((data[EXPRESSES].edge_attr[:, 1] == 1).sum())


def test_knn_excludes_self_and_finds_the_nearest():
    text = torch.nn.functional.normalize(torch.tensor(
        [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=1).numpy()
    assert knn_by_text(text, 1).ravel().tolist() == [1, 0, 3, 2]
    assert knn_by_text(text[:1], 2).tolist() == [[-1, -1]]


def test_drop_links_hides_both_directions_and_the_knowledge(demo_inputs):
    sp = int(demo_inputs.links[1, 0])
    mask = torch.zeros(demo_inputs.x["selling_point"].shape[0], dtype=torch.bool)
    mask[sp] = True
    edges = drop_links(demo_inputs, mask)
    assert sp not in edges[EXPRESSES][1].tolist()
    assert sp not in edges[REV_EXPRESSES][0].tolist()
    assert edges[EXPRESSES].shape[1] < demo_inputs.edge_index[EXPRESSES].shape[1]
    clip = int(demo_inputs.links[0, 0])
    before = linked_text(demo_inputs, demo_inputs.edge_index)[clip]
    after = linked_text(demo_inputs, edges)[clip]
    sp_text = demo_inputs.text["selling_point"][sp]
    assert float(before @ sp_text) > float(after @ sp_text)


def test_attach_edges_skip_missing_neighbours():
    edges = attach_edges(torch.tensor([3, -1]), torch.tensor([-1, 2]), torch.tensor([[5, -1],
                                                                                   [7, 8]]))
    assert edges[("product", "has_selling_point", "selling_point")].tolist() == [[3], [0]]
    assert edges[CONTAINS].tolist() == [[2], [1]]
    assert edges[SIMILAR].tolist() == [[5, 7, 8], [0, 1, 1]]


def test_missing_node_type_is_a_clear_error(demo_graph):
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["product"].x = torch.zeros((1, 384))
    with pytest.raises(RetrievalError, match="graph export has no 'category' nodes"):
        build_inputs(data, demo_graph[1], knn=5)
