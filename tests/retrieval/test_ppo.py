import pytest
import torch

from kdcvg.retrieval.config import EncoderConfig, RlConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import message_edge_types
from kdcvg.retrieval.ppo import HEAD_PARAMS, train_rl
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


def test_without_selection_the_rl_stage_updates_the_encoder_itself(demo_inputs, demo_graph):
    model, captions, before = _supervised_model(demo_inputs, demo_graph)
    report = train_rl(model, demo_inputs, captions,
                      RlConfig(steps=128, n_steps=64, batch_size=32, candidates=4, select=False,
                               tune="all", lr=5e-5),
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
