import numpy as np
import pytest
import torch

from kdcvg.retrieval.config import EncoderConfig, RlConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import message_edge_types
from kdcvg.retrieval.ppo import HEAD_PARAMS, train_rl, with_rated
from kdcvg.retrieval.train import train_supervised


def _supervised_model(demo_inputs, demo_graph):
    """A small SC-GAT after a short supervised stage, its clip captions and a copy of its weights."""
    from conftest import catalogue_texts

    captions = catalogue_texts().captions(demo_graph[1]["clip"])
    torch.manual_seed(0)
    model = SCGAT(demo_inputs.in_channels, message_edge_types(),
                  EncoderConfig(hidden=32, out=16, heads=2))
    train_supervised(model, demo_inputs, TrainConfig(epochs=3))
    return model, captions, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_rl_stage_updates_the_encoder_itself(demo_inputs, demo_graph, algo):
    model, captions, before = _supervised_model(demo_inputs, demo_graph)
    # 4 candidates of 33 clips; short pools would switch PPO to MaskablePPO
    report = train_rl(model, demo_inputs, captions,
                      RlConfig(algo=algo, steps=128, n_steps=64, batch_size=32, candidates=4,
                               tune="all", lr=5e-5),
                      val_fraction=0.2, split_seed=0)
    assert report.stage == algo and set(report.metrics) >= {"val_mrr", "reward_top1_after",
                                                            "val_loss_before", "rl_kept"}
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    if report.metrics["rl_kept"]:  # an RL update beat the supervised weights on validation
        assert any(k.startswith("convs.") for k in changed)  # attention weights moved
        assert report.metrics["val_loss"] < report.metrics["val_loss_before"]
    else:  # none did: the supervised weights are kept, unchanged
        assert changed == [] and report.metrics["val_loss"] == report.metrics["val_loss_before"]


@pytest.mark.parametrize(("algo", "slate"), [("ppo", 1), ("ppo", 3), ("reinforce", 3)])
def test_without_selection_the_rl_stage_updates_the_encoder_itself(demo_inputs, demo_graph,
                                                                   algo, slate):
    model, captions, before = _supervised_model(demo_inputs, demo_graph)
    report = train_rl(model, demo_inputs, captions,
                      RlConfig(algo=algo, steps=128, n_steps=64, batch_size=32, candidates=4,
                               select=False, tune="all", lr=5e-5, slate=slate),
                      val_fraction=0.2, split_seed=0)
    assert report.metrics["rl_kept"] == 1.0 and report.best == 128
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("convs.") for k in changed)  # PPO moved the attention weights


def test_default_rl_stage_tunes_only_the_score_head(demo_inputs, demo_graph):
    model, captions, before = _supervised_model(demo_inputs, demo_graph)
    report = train_rl(model, demo_inputs, captions,
                      RlConfig(steps=128, n_steps=64, batch_size=32, candidates=4, select=False),
                      val_fraction=0.2, split_seed=0)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert report.metrics["rl_kept"] == 1.0 and changed
    assert all(k in HEAD_PARAMS or k.startswith("out.") for k in changed)
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards


def test_rated_clips_are_always_offered():
    cand = np.array([[4, 5, 6, 7], [1, 2, -1, -1]])
    feedback = {(9, 30): 1.0, (6, 30): -1.0, (3, 31): 0.5, (8, 99): 1.0}
    out = with_rated(cand, [30, 31], feedback)
    # clip 9 takes the last slot that holds no rated clip; clip 6 (rated) stays; 3 fills a pad
    assert out.tolist() == [[4, 5, 6, 9], [1, 2, -1, 3]]
    assert with_rated(cand, [30, 31], {}).tolist() == cand.tolist()


def test_feedback_on_a_selling_point_without_clips_makes_it_a_pool(demo_graph):
    from conftest import catalogue_texts

    from kdcvg.retrieval.features import build_inputs

    data, ids = demo_graph
    rel = ("clip", "expresses", "selling_point")
    unlinked = 0  # selling-point row 0 loses its curated clips
    keep = data[rel].edge_index[1] != unlinked
    graph = data.clone()
    graph[rel].edge_index, graph[rel].edge_attr = data[rel].edge_index[:, keep], data[rel].edge_attr[keep]
    inputs = build_inputs(graph, ids, knn=5)
    captions = catalogue_texts().captions(ids["clip"])
    config = RlConfig(steps=64, n_steps=32, batch_size=32, candidates=4)
    reports = []
    for feedback in (None, {(3, unlinked): 1.0}):
        torch.manual_seed(0)
        model = SCGAT(inputs.in_channels, message_edge_types(), EncoderConfig(hidden=32, out=16, heads=2))
        reports.append(train_rl(model, inputs, captions, config, val_fraction=0.2, split_seed=0,
                                feedback=feedback))
    assert reports[1].metrics["pools"] == reports[0].metrics["pools"] + 1


@pytest.mark.parametrize("sample_above", [10**9, 0])  # whole graph; sampled neighbourhoods
def test_extractor_candidate_scores_are_the_score(sample_above):
    """The policy's candidate scores are `SCGAT.score`, as validation computes it, on a
    random graph with random weights; a fanout above every in-degree samples exactly."""
    from graphs import random_encoder, random_heterodata

    from kdcvg.retrieval.env import SarPickEnv
    from kdcvg.retrieval.features import build_inputs
    from kdcvg.retrieval.ppo import SCGATExtractor
    from kdcvg.retrieval.train import validation_scores

    inputs = build_inputs(*random_heterodata(3), knn=5)
    model = random_encoder(inputs.in_channels, seed=3)
    n_sp, n_clip = inputs.x["selling_point"].shape[0], inputs.x["clip"].shape[0]
    g = torch.Generator().manual_seed(3)
    hidden = torch.rand(n_sp, generator=g) < 0.5
    pools = list(range(0, n_sp, 3))
    cand = torch.randint(0, n_clip, (len(pools), 6), generator=g)
    cand[0, -2:] = -1  # a short pool
    features = (inputs.text["selling_point"][pools].unsqueeze(1)
                * inputs.text["clip"][cand.clamp(min=0)]).sum(-1)
    env = SarPickEnv(pools, cand.numpy(), features.numpy(), np.zeros(cand.shape), n_sp, n_clip)
    extractor = SCGATExtractor(env.observation_space, model, inputs, hidden,
                               sample_above=sample_above, fanout=10_000)
    obs = {"query": torch.tensor(pools, dtype=torch.float32).view(-1, 1),
           "candidates": cand.float(), "mask": (cand >= 0).float(), "features": features}
    with torch.no_grad():
        out = extractor(obs)
        expected = validation_scores(model, inputs, pools, hidden)  # (S, N_clip)
    k = cand.shape[1]
    assert torch.allclose(out[:, :k], expected.gather(1, cand.clamp(min=0)) * (cand >= 0),
                          atol=1e-4)
    assert torch.equal(out[:, k:], features)
    assert float(expected.std()) > 0.1  # scores that tell clips apart


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_rl_with_feedback_weight_one_moves_the_ranking_toward_well_rated_clips(
        trained, demo_graph, embedder, algo):
    from conftest import catalogue_texts

    from kdcvg.retrieval.pipeline import fit, make_config
    from kdcvg.retrieval.prior import clip_prior
    from kdcvg.retrieval.retrieve import SarRetriever

    data, ids = demo_graph
    texts = catalogue_texts()
    # users rated every third clip as a whole 5 (value 1), the others 2 (value -0.5), 5 times
    ratings = {c: [1.0 if i % 3 == 0 else -0.5] * 5 for i, c in enumerate(ids["clip"])}
    prior = clip_prior(ratings, ids["clip"], shrink=5.0)
    config = make_config(seed=0, ppo_steps=256, rl=algo, feedback_weight=1.0)
    supervised, final = fit(data, ids, texts.captions(ids["clip"]), config, prior=prior,
                            start=trained[0])
    queries = [r["text"] for r in texts.selling_points.values()]

    def well_rated_in_top5(model):
        retriever = SarRetriever(model, data, ids, texts, embedder, prior=prior)
        vec, _, _ = retriever.query_vectors(queries, [None] * len(queries))
        _, rows = retriever.search_vectors(vec, 5)
        return float(np.mean([int(r) % 3 == 0 for r in rows.ravel()]))

    metrics = final.reports[-1]["metrics"]
    assert supervised.prior_weight == 0.0 and final.prior_weight > 0.0
    assert metrics["feedback_after"] > metrics["feedback_before"]
    assert well_rated_in_top5(final) >= well_rated_in_top5(supervised) + 0.1


def test_feedback_term_is_theta_times_unit_times_the_clip_prior():
    from kdcvg.retrieval.ppo import FeedbackTerm

    term = FeedbackTerm(np.array([0.5, -0.25, 0.0], dtype=np.float32), unit=4.0, theta=0.5,
                        gain=10.0)
    rows = torch.tensor([[0, 1], [2, -1]])
    assert term(rows).tolist() == [[1.0, -0.5], [0.0, 0.0]]  # padding (-1) adds nothing
    assert term.weight == pytest.approx(2.0)  # what retrieval multiplies the prior by
    assert [p.shape for p in term.parameters()] == [torch.Size([])]  # one learned scalar
