import torch

from kdcvg.retrieval.config import EncoderConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import drop_links, message_edge_types
from kdcvg.retrieval.sampling import NeighbourSampler, subgraph_states
from kdcvg.retrieval.train import train_supervised


def _model(inputs):
    torch.manual_seed(0)
    return SCGAT(inputs.in_channels, message_edge_types(),
                 EncoderConfig(hidden=32, out=16, heads=2, dropout=0.0)).eval()


def _num(inputs):
    return {nt: int(v.shape[0]) for nt, v in inputs.x.items()}


def test_full_fanout_subgraph_gives_the_full_graph_states(demo_inputs):
    model = _model(demo_inputs)
    edges = drop_links(demo_inputs, torch.zeros(34, dtype=torch.bool))
    seeds = {"clip": torch.tensor([0, 5, 9]), "selling_point": torch.tensor([3, 3, 20])}
    sub = NeighbourSampler(edges, _num(demo_inputs), fanout=10_000).sample(seeds)
    with torch.no_grad():
        full = model.embed(model.node_states(demo_inputs.x, edges))
        part = model.embed(subgraph_states(model, demo_inputs.x, sub))
    for nt, rows in seeds.items():
        local = sub.local(nt, rows, _num(demo_inputs)[nt])
        assert torch.allclose(part[nt][local], full[nt][rows], atol=1e-5)


def test_fanout_bounds_the_in_edges_and_truncation_is_deterministic(demo_inputs):
    edges = drop_links(demo_inputs, torch.zeros(34, dtype=torch.bool))
    sampler = NeighbourSampler(edges, _num(demo_inputs), fanout=2, hops=1)
    seeds = {"motion_pattern": torch.arange(4)}
    a, b = sampler.sample(seeds), sampler.sample(seeds)
    into_mp = a.edges[("clip", "has_motion", "motion_pattern")]
    assert int(torch.bincount(into_mp[1]).max()) <= 2
    assert all(torch.equal(a.edges[et], b.edges[et]) for et in a.edges)
    g = torch.Generator().manual_seed(1)
    assert int(torch.bincount(sampler.sample(seeds, g).edges[
        ("clip", "has_motion", "motion_pattern")][1]).max()) <= 2


def test_supervised_stage_trains_on_sampled_subgraphs(demo_inputs):
    model = _model(demo_inputs).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = train_supervised(model, demo_inputs,
                              TrainConfig(epochs=2, patience=5, sample_above=0, fanout=4))
    assert report.steps == 2 and 0.0 < report.metrics["val_mrr"] <= 1.0
    moved = any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert moved == (report.best > 0)  # the best validation state is the one kept
