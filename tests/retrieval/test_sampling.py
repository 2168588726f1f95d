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


def test_each_layer_updates_only_the_rows_a_later_layer_reads(demo_inputs):
    model = _model(demo_inputs)
    edges = drop_links(demo_inputs, torch.zeros(34, dtype=torch.bool))
    seeds = {"clip": torch.tensor([1, 2]), "selling_point": torch.tensor([7])}
    sub = NeighbourSampler(edges, _num(demo_inputs), fanout=None).sample(seeds)
    with torch.no_grad():
        full = model.node_states(demo_inputs.x, edges)
        part = subgraph_states(model, demo_inputs.x, sub)
    # the last layer runs for the seeds alone, the first for rows within one hop of them
    assert {nt: v.shape[0] for nt, v in part[2].items() if v.shape[0]} == {
        "clip": 2, "selling_point": 1}
    assert all(part[1][nt].shape[0] == sub.within[nt][1] < sub.nodes[nt].numel()
               for nt in ("clip", "selling_point"))
    for layer in (1, 2):
        for nt, v in part[layer].items():
            rows = sub.nodes[nt][: v.shape[0]]
            assert torch.allclose(v, full[layer][nt][rows], atol=1e-5)


def test_a_training_step_scores_the_same_on_its_computation_graph(demo_inputs):
    from kdcvg.retrieval.encoder import GraphContext
    from kdcvg.retrieval.features import query_edges

    model = _model(demo_inputs)
    with torch.no_grad():
        model.gat_gate.fill_(1.0)
    hidden = torch.zeros(34, dtype=torch.bool)
    hidden[[3, 4]] = True
    links = GraphContext.of(demo_inputs, hidden)
    sampler = NeighbourSampler(drop_links(demo_inputs, torch.zeros(34, dtype=torch.bool)),
                               _num(demo_inputs), fanout=None)
    sps, cand = torch.tensor([3, 4, 10]), torch.tensor([0, 4, 8, 12])
    qe = query_edges(demo_inputs, sps, torch.tensor([True, False, True]))
    text = demo_inputs.text["selling_point"][sps]
    scores = []
    with torch.no_grad():
        for ctx in (model.encode_graph(links), model.encode_subgraph(links, sampler, cand, qe)):
            q = model.query_vectors(model.encode_queries(ctx, text, qe))
            scores.append(model.score(q, model.clip_vectors(ctx, cand)))
    assert torch.allclose(scores[0], scores[1], atol=1e-4)


def test_a_large_graph_validates_on_a_fixed_sample(demo_inputs):
    from kdcvg.retrieval.train import positives, split_selling_points, validation_set

    pos = positives(demo_inputs)
    _, val = split_selling_points(demo_inputs, 0.5, 0)
    sampler = NeighbourSampler(drop_links(demo_inputs, torch.zeros(34, dtype=torch.bool)),
                               _num(demo_inputs))
    assert validation_set(demo_inputs, val, pos, 0).clips is None
    a = validation_set(demo_inputs, val, pos, 0, sampler, queries=3, clips=5)
    b = validation_set(demo_inputs, val, pos, 0, sampler, queries=3, clips=5)
    assert a.sps == b.sps and len(a.sps) == 3 and set(a.sps) <= set(val)
    assert torch.equal(a.clips, b.clips) and a.clips.numel() <= 5 + sum(len(pos[s]) for s in a.sps)
    for s, cols in zip(a.sps, a.pos, strict=True):  # positives are columns of the sample
        assert sorted(a.clips[cols].tolist()) == sorted(pos[s])
    model = _model(demo_inputs)
    with torch.no_grad():
        model.gat_gate.fill_(1.0)
        assert a.scores(model, demo_inputs, torch.zeros(34, dtype=torch.bool)).shape == (
            3, a.clips.numel())


def test_an_epoch_takes_at_most_epoch_queries_selling_points(demo_inputs):
    model = _model(demo_inputs).train()
    report = train_supervised(model, demo_inputs, TrainConfig(
        epochs=2, patience=5, epoch_queries=6, batch_size=3, min_steps=1))
    assert report.metrics["train_steps"] == 2 * 2
