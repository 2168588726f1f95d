import pytest
import torch

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import EncoderConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import build_inputs, message_edge_types
from kdcvg.retrieval.train import rank_metrics, split_selling_points, train_supervised


def test_rank_metrics_values():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    m = rank_metrics(scores, [[2], [0, 2]], k=1)
    # query 0: positive at rank 2; query 1: best positive at rank 1, one of two in top 1
    assert m == pytest.approx({"mrr": (0.5 + 1.0) / 2, "recall@1": (0.0 + 0.5) / 2})


def test_split_is_seeded_and_disjoint(demo_inputs):
    a = split_selling_points(demo_inputs, 0.2, seed=3)
    assert a == split_selling_points(demo_inputs, 0.2, seed=3)
    train, val = a
    assert not set(train) & set(val) and len(val) == round(len(train + val) * 0.2)


def test_supervised_stage_beats_its_untrained_start(demo_inputs):
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(), EncoderConfig())
    from kdcvg.retrieval.train import positives, score_queries

    _, val = split_selling_points(demo_inputs, 0.2, 0)
    hide = torch.zeros(demo_inputs.x["selling_point"].shape[0], dtype=torch.bool)
    hide[val] = True
    pos = positives(demo_inputs)
    with torch.no_grad():
        before = rank_metrics(score_queries(model.eval(), demo_inputs, val, hide, False),
                              [pos[s] for s in val])
    report = train_supervised(model, demo_inputs, TrainConfig(epochs=15, patience=15))
    assert report.stage == "supervised" and 0 <= report.best <= report.steps <= 15
    assert report.metrics["val_mrr"] >= before["mrr"]
    assert report.metrics["val_mrr"] > 0.4


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
