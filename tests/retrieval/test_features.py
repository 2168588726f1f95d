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
    linked_mask,
    linked_match,
    linked_text,
    message_edge_types,
    nearest_match,
    query_context,
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


def test_knn_above_the_exact_limit_uses_ivf_and_finds_near_copies(monkeypatch):
    import numpy as np

    from kdcvg.retrieval import features

    rng = np.random.default_rng(0)
    base = rng.normal(size=(1000, 32)).astype(np.float32)
    text = np.concatenate([base, base + 0.01 * rng.normal(size=base.shape).astype(np.float32)])
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    monkeypatch.setattr(features, "KNN_EXACT_BELOW", 500)
    knn = knn_by_text(text, 1)
    # row i and row i + 1000 are near copies: each must find the other
    partner = np.concatenate([np.arange(1000, 2000), np.arange(1000)])
    assert (knn[:, 0] == partner).mean() >= 0.95


def knowledge_match(inputs, q, attach, linked):
    return linked_match(*nearest_match(inputs, q, attach), linked)


def test_knowledge_match_counts_only_a_linked_nearest_neighbour(demo_inputs):
    sp = int(demo_inputs.links[1, 0])
    text = demo_inputs.text["selling_point"]
    # two copies of a linked selling point's own text, attached to it and its text neighbours
    attach = attach_edges(torch.tensor([-1, -1]), torch.tensor([-1, -1]),
                          torch.stack([torch.cat([torch.tensor([sp]), demo_inputs.sp_knn[sp]])]
                                      * 2))
    hidden = torch.zeros(text.shape[0], dtype=torch.bool)
    hidden[sp] = True
    q = text[[sp, sp]]
    full = knowledge_match(demo_inputs, q, attach, linked_mask(demo_inputs,
                                                               demo_inputs.edge_index))
    held = knowledge_match(demo_inputs, q, attach,
                           linked_mask(demo_inputs, drop_links(demo_inputs, hidden)))
    assert full.tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    # its nearest selling point (itself) has no clips now: no knowledge for this text
    assert held.tolist() == [0.0, 0.0]
    none = attach_edges(torch.tensor([-1]), torch.tensor([-1]), torch.tensor([[-1, -1]]))
    assert knowledge_match(demo_inputs, q[:1], none, ~hidden).tolist() == [0.0]


def test_nearest_match_gives_the_closest_neighbour_and_its_cosine(demo_inputs):
    text = demo_inputs.text["selling_point"]
    a, b = 0, int(demo_inputs.sp_knn[0, 0])
    attach = attach_edges(torch.tensor([-1, -1, -1]), torch.tensor([-1, -1, -1]),
                          torch.tensor([[b, a], [b, -1], [-1, -1]]))
    cos, row = nearest_match(demo_inputs, text[[a, a, a]], attach)
    assert row.tolist() == [a, b, -1]
    assert cos.tolist() == pytest.approx([1.0, float(text[a] @ text[b]), 0.0], abs=1e-5)


def test_contexts_hold_product_and_motion_text(demo_graph, demo_inputs):
    data, ids = demo_graph
    text = demo_inputs.text
    shows = data["clip", "shows", "product"].edge_index
    c, p = int(shows[0, 0]), int(shows[1, 0])
    assert torch.allclose(demo_inputs.clip_context[c, :384], text["product"][p])
    moves = data["clip", "has_motion", "motion_pattern"].edge_index
    mine = moves[1, moves[0] == c]
    expected = torch.nn.functional.normalize(text["motion_pattern"][mine].sum(0), dim=0)
    assert torch.allclose(demo_inputs.clip_context[c, 384:], expected, atol=1e-6)
    sp = 0
    assert torch.allclose(demo_inputs.sp_context[sp, :384],
                          text["product"][demo_inputs.sp_product[sp]])


def test_query_context_attends_to_neighbours_and_prefers_a_named_product(demo_inputs):
    text = demo_inputs.text["selling_point"]
    a, b = 0, int(demo_inputs.sp_knn[0, 0])
    knn = torch.tensor([[a, b], [a, b]])
    q = text[[a, a]]
    anon = attach_edges(torch.tensor([-1, -1]), torch.tensor([-1, -1]), knn)
    sharp = query_context(demo_inputs, q, anon, torch.tensor(1000.0))
    # a very low temperature: all attention on the neighbour with the same text
    assert torch.allclose(sharp[0], demo_inputs.sp_context[a], atol=1e-5)
    flat = query_context(demo_inputs, q, anon, torch.tensor(0.0))
    assert torch.allclose(flat[0], demo_inputs.sp_context[[a, b]].mean(0), atol=1e-5)
    other = int((demo_inputs.sp_product != demo_inputs.sp_product[a]).nonzero()[0])
    product = int(demo_inputs.sp_product[other])
    named = attach_edges(torch.tensor([product, -1]), torch.tensor([-1, -1]), knn)
    ctx = query_context(demo_inputs, q, named, torch.tensor(1000.0))
    assert torch.allclose(ctx[0, :384], demo_inputs.text["product"][product])
    assert torch.allclose(ctx[0, 384:], sharp[0, 384:], atol=1e-5)  # motion still from text
    assert torch.allclose(ctx[1], sharp[1], atol=1e-5)


def test_the_knowledge_of_some_clips_is_their_rows_of_the_whole_table(demo_inputs):
    from kdcvg.retrieval.encoder import GraphContext

    hidden = torch.zeros(demo_inputs.x["selling_point"].shape[0], dtype=torch.bool)
    hidden[:5] = True
    whole = linked_text(demo_inputs, drop_links(demo_inputs, hidden))
    rows = torch.tensor([7, 2, 2, 30, 0])  # repeats and any order, as PPO's candidates come
    assert torch.equal(GraphContext.of(demo_inputs, hidden).knowledge(rows), whole[rows])
    assert torch.equal(linked_text(demo_inputs, drop_links(demo_inputs, hidden),
                                   torch.tensor([0, 2, 7, 30])), whole[[0, 2, 7, 30]])
