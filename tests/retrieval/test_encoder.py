from dataclasses import replace

import pytest
import torch

from kdcvg.retrieval.config import EncoderConfig
from kdcvg.retrieval.encoder import SCGAT, GraphContext, Queries, QueryWeights
from kdcvg.retrieval.features import attach_edges, linked_mask, message_edge_types, query_edges


@pytest.mark.parametrize("conv", ["transformer", "gatv2"])
def test_embeddings_are_unit_norm_in_one_space(demo_inputs, conv):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(conv=conv, hidden=32, out=16, heads=2)).eval()
    out = model(demo_inputs.x, demo_inputs.edge_index)
    for nt, x in demo_inputs.x.items():
        assert out[nt].shape == (x.shape[0], 16)
        assert torch.allclose(out[nt].norm(dim=1), torch.ones(1), atol=1e-5)
    assert f"conv={conv}" in repr(model)


def test_attach_reads_the_graph_and_explains_with_attention(demo_inputs):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(hidden=32, out=16, heads=2)).eval()
    with torch.no_grad():
        states = model.node_states(demo_inputs.x, demo_inputs.edge_index)
        rows = torch.tensor([0, 1])
        qx = demo_inputs.x["selling_point"][rows]
        qe = query_edges(demo_inputs, rows, torch.tensor([True, False]))
        q, att = model.attach(states, qx, qe, return_attention=True)
        again, _ = model.attach(states, qx, qe)
    assert q.shape == (2, 16) and torch.allclose(q, again)
    # attention of each query sums to one per edge type (softmax over its neighbours)
    ei, w = att[("selling_point", "similar", "selling_point")]
    for query in (0, 1):
        assert float(w[ei[1] == query].sum()) == pytest.approx(1.0, abs=1e-5)
    # the first query attaches to its own selling point, the second does not
    assert 0 in ei[0][ei[1] == 0].tolist() and 1 not in ei[0][ei[1] == 1].tolist()


def test_reset_parameters_restores_the_skip_weights(demo_inputs):
    model = SCGAT(demo_inputs.in_channels, message_edge_types(), EncoderConfig(hidden=8, heads=2))
    with torch.no_grad():
        model.beta.fill_(0.0)
        model.gat_gate.fill_(1.0)
    model.reset_parameters()
    assert model.beta.item() == 5.0 and model.gamma.item() == 5.0
    assert model.gat_gate.item() == 0.0


def test_score_adds_each_term_at_its_query_weight(demo_inputs):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(hidden=8, heads=2)).eval()
    q_emb = torch.nn.functional.normalize(torch.randn(2, 64), dim=1)
    c_emb = torch.nn.functional.normalize(torch.randn(3, 64), dim=1)
    qt, ct, ck = demo_inputs.text["selling_point"][:2], demo_inputs.text["clip"][:3], \
        demo_inputs.text["clip"][3:6]
    q_ctx, c_ctx = torch.randn(2, 768), demo_inputs.clip_context[:3]
    weights = QueryWeights(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 3.0]), q_ctx)
    # clips 0-2 with embeddings c_emb and, as their linked text, clips 3-5's captions
    ctx = replace(GraphContext.of(demo_inputs), clip_emb=c_emb,
                  know=demo_inputs.text["clip"].roll(-3, dims=0))
    with torch.no_grad():
        scores = model.score(model.query_vectors(Queries(q_emb, qt, weights)),
                             model.clip_vectors(ctx, torch.arange(3)))
    expected = (torch.tensor([[2.0], [0.0]]) * q_emb @ c_emb.T + 5.0 * qt @ ct.T
                + torch.tensor([[0.0], [3.0]]) * qt @ ck.T + q_ctx @ c_ctx.T)
    assert torch.allclose(scores, expected, atol=1e-5)


def test_graph_terms_count_by_closeness_to_the_graph(demo_inputs):
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(hidden=8, heads=2)).eval()
    sp = int(demo_inputs.links[1, 0])
    text = demo_inputs.text["selling_point"]
    basis, _ = torch.linalg.qr(text.T)  # text orthogonal to every selling point's
    r = torch.randn(text.shape[1], generator=torch.Generator().manual_seed(0))
    far = torch.nn.functional.normalize(r - basis @ (basis.T @ r), dim=0)
    q = torch.stack([text[sp], far])
    # both attach to the linked selling point and its text neighbours; only the first is close
    attach = attach_edges(torch.tensor([-1, -1]), torch.tensor([-1, -1]), torch.stack(
        [torch.cat([torch.tensor([sp]), demo_inputs.sp_knn[sp]])] * 2))
    linked = linked_mask(demo_inputs, demo_inputs.edge_index)
    with torch.no_grad():
        untrained = model.query_weights(demo_inputs, q, attach, linked)
        model.delta.fill_(2.0)
        model.epsilon.fill_(3.0)
        model.gat_gate.fill_(1.0)
        trained = model.query_weights(demo_inputs, q, attach, linked)
    # untrained: attention and context weigh 0, the knowledge term is open for the
    # linked selling point's own text
    assert untrained.attention.tolist() == [0.0, 0.0]
    assert not untrained.context.any()
    assert float(untrained.knowledge[0]) == pytest.approx(5.0 * torch.sigmoid(
        torch.tensor(20 * 0.4)).item(), abs=1e-4)
    # text far from every selling point falls back to the text term alone
    assert float(trained.attention[0]) == pytest.approx(model.logit_scale.exp().item(), rel=1e-3)
    assert float(trained.attention[1]) < 1e-3 and float(trained.knowledge[1]) < 1e-3
    assert float(trained.context[1].abs().max()) < 1e-3
    ctx = demo_inputs.sp_context[sp]  # the close query reads its own selling point's context
    assert torch.allclose(trained.context[0, :384], 2.0 * ctx[:384], atol=1e-3)
    assert torch.allclose(trained.context[0, 384:], 3.0 * ctx[384:], atol=1e-3)


def test_heads_must_divide_hidden(demo_inputs):
    with pytest.raises(ValueError, match="hidden=10 must be divisible by heads=4"):
        SCGAT(demo_inputs.in_channels, message_edge_types(), EncoderConfig(hidden=10, heads=4))


@pytest.mark.parametrize("conv", ["transformer", "gatv2"])
def test_a_large_graph_is_encoded_in_destination_chunks_with_the_same_states(
        demo_inputs, conv, monkeypatch):
    import kdcvg.retrieval.encoder as encoder

    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(conv=conv, hidden=32, out=16, heads=2)).eval()
    with torch.no_grad():
        whole = model.node_states(demo_inputs.x, demo_inputs.edge_index)
        monkeypatch.setattr(encoder, "CHUNK_ROWS", 4)  # the demo's 34 selling points: 9 chunks
        chunked = model.node_states(demo_inputs.x, demo_inputs.edge_index)
    for layer in (1, 2):
        for nt, v in whole[layer].items():
            assert torch.allclose(chunked[layer][nt], v, atol=1e-5), (layer, nt)
