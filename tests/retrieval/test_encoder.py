import pytest
import torch

from kdcvg.retrieval.config import EncoderConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import message_edge_types
from kdcvg.retrieval.train import query_inputs


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
        qx, qe = query_inputs(demo_inputs, rows, torch.tensor([True, False]))
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


def test_untrained_score_is_the_text_and_gated_knowledge_baseline(demo_inputs):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(hidden=8, heads=2)).eval()
    q_emb = torch.nn.functional.normalize(torch.randn(2, 64), dim=1)
    c_emb = torch.nn.functional.normalize(torch.randn(3, 64), dim=1)
    qt, ct, ck = demo_inputs.text["selling_point"][:2], demo_inputs.text["clip"][:3], \
        demo_inputs.text["clip"][3:6]
    match = torch.tensor([1.0, 0.0])
    q_ctx, c_ctx = demo_inputs.sp_context[:2], demo_inputs.clip_context[:3]
    with torch.no_grad():
        scores = model.score(q_emb, c_emb, qt, ct, ck, match, q_ctx, c_ctx)
    # attention and context terms weigh 0; knowledge on for a linked paraphrase, off for 0
    expected = 5.0 * qt @ ct.T + torch.stack([5.0 * torch.sigmoid(torch.tensor(20 * 0.4)),
                                               5.0 * torch.sigmoid(torch.tensor(-20 * 0.6))]
                                              ).view(2, 1) * (qt @ ck.T)
    assert torch.allclose(scores, expected, atol=1e-5)
    with torch.no_grad():
        model.delta.fill_(2.0)
        model.epsilon.fill_(3.0)
        scores = model.score(q_emb, c_emb, qt, ct, ck, match, q_ctx, c_ctx)
    context = 2.0 * q_ctx[:, :384] @ c_ctx[:, :384].T + 3.0 * q_ctx[:, 384:] @ c_ctx[:, 384:].T
    assert torch.allclose(scores, expected + context, atol=1e-5)


def test_heads_must_divide_hidden(demo_inputs):
    with pytest.raises(ValueError, match="hidden=10 must be divisible by heads=4"):
        SCGAT(demo_inputs.in_channels, message_edge_types(), EncoderConfig(hidden=10, heads=4))
