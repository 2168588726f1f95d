import pytest
import torch

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import EncoderConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import build_inputs, message_edge_types
from kdcvg.retrieval.train import (
    paraphrase,
    rank_metrics,
    regimes,
    split_selling_points,
    train_supervised,
)


def test_rank_metrics_values():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    m = rank_metrics(scores, [[2], [0, 2]], k=1)
    # query 0: positive at rank 2; query 1: best positive at rank 1, one of two in top 1
    loss = ((scores[0].logsumexp(0) - scores[0, 2])
            + (scores[1].logsumexp(0) - scores[1, [0, 2]].logsumexp(0))) / 2
    assert m == pytest.approx({"mrr": (0.5 + 1.0) / 2, "recall@1": (0.0 + 0.5) / 2,
                               "loss": float(loss)})


def test_split_is_seeded_and_disjoint(demo_inputs):
    a = split_selling_points(demo_inputs, 0.2, seed=3)
    assert a == split_selling_points(demo_inputs, 0.2, seed=3)
    train, val = a
    assert not set(train) & set(val) and len(val) == round(len(train + val) * 0.2)


def test_supervised_stage_beats_its_untrained_start(demo_inputs):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(), EncoderConfig())
    from kdcvg.retrieval.train import positives, validation_scores

    _, val = split_selling_points(demo_inputs, 0.2, 0)
    hide = torch.zeros(demo_inputs.x["selling_point"].shape[0], dtype=torch.bool)
    hide[val] = True
    pos = positives(demo_inputs)
    with torch.no_grad():
        before = rank_metrics(validation_scores(model.eval(), demo_inputs, val, hide),
                              [pos[s] for s in val])
    report = train_supervised(model, demo_inputs, TrainConfig(epochs=30, patience=10))
    assert report.stage == "supervised" and 0 < report.best <= report.steps <= 30
    # the kept state lowers the validation loss of selling points whose links it never saw,
    # by learning to read their product and motion context
    assert report.metrics["val_loss"] < 0.8 * before["loss"]
    assert report.metrics["val_mrr"] >= before["mrr"]
    assert model.delta.item() > 0.5 and model.epsilon.item() > 0.5
    assert 0 < report.metrics["mixture_epochs"] <= 15


def test_regimes_draw_all_three_kinds_of_query():
    g = torch.Generator().manual_seed(0)
    keep, in_graph, named = regimes(4000, TrainConfig(), g)
    assert bool((in_graph | ~keep).all())  # a kept selling point is always attached to itself
    assert abs(keep.float().mean() - 0.5) < 0.03  # paraphrases
    assert abs((~keep & in_graph).float().mean() - 0.25) < 0.03  # in the graph, no clips
    assert abs((~in_graph).float().mean() - 0.25) < 0.03  # never seen
    assert abs(named.float().mean() - 0.5) < 0.03


def test_paraphrases_turn_each_text_by_a_bounded_angle(demo_inputs):
    text = demo_inputs.text["selling_point"]
    out = paraphrase(text, 0.6, text, torch.Generator().manual_seed(0))
    cos = (out * text).sum(1)
    assert torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-5)
    assert float(cos.min()) >= 0.6 - 1e-5 and float(cos.max()) <= 1.0 + 1e-5
    assert float(cos.std()) > 0.05  # a spread of angles, not one
    again = paraphrase(text, 0.6, text, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # the validation queries stay the same between epochs
    assert paraphrase(text, 1.0, text, torch.Generator()) is text


def test_training_refuses_a_graph_without_curated_links(embedder):
    from graphs import demo_heterodata

    data, ids = demo_heterodata(embedder, curated=False)
    inputs = build_inputs(data, ids, knn=5)
    model = SCGAT(inputs.in_channels, message_edge_types(), EncoderConfig(hidden=8, heads=2))
    with pytest.raises(RetrievalError) as e:
        train_supervised(model, inputs, TrainConfig(epochs=1))
    assert str(e.value) == (
        "the graph has curated EXPRESSES links on 0 selling point(s); SAR training needs at "
        "least 2: add clip -> selling point links with source 'curated' (kdcvg graph ingest) "
        "and train again")
