"""The RL stage: SC-GAT refined by PPO (Stable-Baselines3) or plain REINFORCE.

The encoder is the policy's features extractor (`features_extractor_class`), so
every policy update changes the encoder itself. The extractor outputs the K
candidate scores (`SCGAT.score` of the same query and clip vectors the index holds)
and the raw text cosines; the action head starts as the identity on the scores, so
the policy starts as the supervised ranking and PPO refines it. SB3's orthogonal
init is switched off: it would overwrite the trained encoder. Every setting of the
stage is a field of `RlConfig`.

Queries are embedded in the paraphrase regime (the query node attaches to its
own selling point); validation selling points keep their links hidden.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import RlConfig
from kdcvg.retrieval.encoder import MIXTURE, SCGAT, GraphContext
from kdcvg.retrieval.env import SarPickEnv
from kdcvg.retrieval.features import GraphInputs, query_edges
from kdcvg.retrieval.rewards import cider_table, combine, curated_table, feedback_table
from kdcvg.retrieval.sampling import NeighbourSampler
from kdcvg.retrieval.train import (
    StageProgress,
    StageReport,
    positives,
    rank_metrics,
    split_selling_points,
    validation_scores,
)

PROGRESS_EVERY = 32  # env steps between progress-bar updates
HEAD_PARAMS = (*MIXTURE, "gat_gate", "logit_scale")

try:  # SB3 is a dependency; the class must exist at import time to be subclassed
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
except ImportError as e:  # pragma: no cover
    raise RetrievalError("the RL stage needs stable-baselines3: pip install stable-baselines3 "
                         "sb3-contrib") from e


class SCGATExtractor(BaseFeaturesExtractor):
    """SC-GAT as an SB3 features extractor over `SarPickEnv` observations.

    Args:
        observation_space: the env's `Dict` space.
        encoder: the trained SC-GAT (updated in place by the policy optimiser).
        inputs: the graph's model inputs.
        hidden: (N_sp,) bool, selling points whose links stay hidden; such a query is
            a selling point without clips, the others are paraphrases (`rl_regime`).
        sample_above: graphs with more nodes run each batch on its sampled neighbourhood
            (`RlConfig.sample_above`).
        fanout: in-edges kept per node, edge type and hop when sampling.

    Shapes:
        - **input:** query (B, 1), candidates (B, K), mask (B, K), features (B, K)
        - **output:** (B, 2K) = candidate scores, raw cosines
    """

    def __init__(self, observation_space: Any, encoder: SCGAT, inputs: GraphInputs,
                 hidden: Tensor, sample_above: int, fanout: int) -> None:
        k = int(observation_space["candidates"].shape[0])
        super().__init__(observation_space, features_dim=2 * k)
        self.encoder = encoder
        self._inputs = inputs
        self._links = GraphContext.of(inputs, hidden)
        self._cache: tuple[tuple[int, ...], GraphContext] | None = None
        num = {nt: int(v.shape[0]) for nt, v in inputs.x.items()}
        # large graphs: each batch runs on its neighbourhood, truncated deterministically
        # (no random sampling) so rollouts and updates evaluate the same function
        self._sampler = (NeighbourSampler(self._links.edges, num, fanout, encoder.config.layers)
                         if sum(num.values()) > sample_above else None)

    def train(self, mode: bool = True) -> SCGATExtractor:
        # dropout stays off: PPO's probability ratios must compare the same function
        super().train(mode)
        self.encoder.eval()
        return self

    def _encoded(self) -> GraphContext:
        if torch.is_grad_enabled():
            return self.encoder.encode_graph(self._links)
        # rollouts run without grad: reuse the graph states until a parameter changes
        key = tuple(p._version for p in self.encoder.parameters())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.encoder.encode_graph(self._links))
        return self._cache[1]

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        sps = obs["query"].long().view(-1)
        cands = obs["candidates"].long().clamp(min=0)  # (B, K), padding masked below
        qe = query_edges(self._inputs, sps, *rl_regime(sps))
        if self._sampler is None:
            ctx = self._encoded()
        else:
            ctx = self.encoder.encode_subgraph(self._links, self._sampler, cands.reshape(-1), qe)
        queries = self.encoder.encode_queries(ctx, self._inputs.text["selling_point"][sps], qe)
        clips = self.encoder.clip_vectors(ctx, cands.reshape(-1)).view(*cands.shape, -1)
        scores = self.encoder.score(self.encoder.query_vectors(queries), clips)  # (B, K)
        return torch.cat([scores * obs["mask"], obs["features"]], dim=1)


def rl_regime(sps: Tensor) -> tuple[Tensor, Tensor]:
    """Attach flags of RL queries: each in the graph (attached to itself), no product
    named, the regime of the validation and of a selling point added without clips;
    whether its links are seen is the env's `hidden` mask."""
    ones = torch.ones(sps.shape[0], dtype=torch.bool)
    return ones, ~ones


def top_candidates(model: SCGAT, inputs: GraphInputs, sps: list[int], hidden: Tensor, k: int,
                   chunk: int = 1024) -> np.ndarray:
    """(S, k) best clip rows per selling point under the current model, -1 padded.

    Hidden selling points are scored as selling points without clips, the others as
    paraphrases (`rl_regime`); the graph is encoded once, the queries scored in chunks.
    """
    model.eval()
    with torch.no_grad():
        ctx = model.encode_graph(GraphContext.of(inputs, hidden))
        clips = model.clip_vectors(ctx)
        rows = torch.tensor(sps, dtype=torch.long)
        kk = min(k, clips.shape[0])
        out = np.full((len(sps), k), -1, dtype=np.int64)
        for b in range(0, len(sps), chunk):
            r = rows[b:b + chunk]
            queries = model.encode_queries(ctx, inputs.text["selling_point"][r],
                                           query_edges(inputs, r, *rl_regime(r)))
            scores = model.score(model.query_vectors(queries), clips)
            out[b:b + r.numel(), :kk] = scores.topk(kk, dim=1).indices.numpy()
    return out


def with_rated(cand: np.ndarray, pools: list[int],
               feedback: Mapping[tuple[int, int], float]) -> np.ndarray:
    """Candidate pools in which every clip a user rated for the selling point is offered.

    A rated clip outside the model's top K takes the place of the lowest-ranked candidate
    that is not rated itself, so the reward for it can be earned.
    """
    rated: dict[int, list[int]] = {}
    for c, s in sorted(feedback):
        rated.setdefault(s, []).append(c)
    out = cand.copy()
    for i, s in enumerate(pools):
        missing = [c for c in rated.get(s, []) if c not in set(out[i].tolist())]
        slots = [j for j in range(out.shape[1] - 1, -1, -1)
                 if out[i, j] < 0 or int(out[i, j]) not in rated.get(s, [])]
        for c, j in zip(missing, slots, strict=False):
            out[i, j] = c
    return out


def build_env(model: SCGAT, inputs: GraphInputs, captions: list[str], config: RlConfig,
              train_sp: list[int], hidden: Tensor,
              feedback: Mapping[tuple[int, int], float]) -> tuple[SarPickEnv, dict[str, float]]:
    """Candidate pools (top-K of the current model) and their reward tables.

    Returns:
        the env and the mean reward of each source over the pools' top-1 picks.
    """
    pos = positives(inputs)
    links = {(c, s): float(w) for (c, s), w in zip(inputs.links.T.tolist(),
                                                    inputs.link_weight.tolist(), strict=True)}
    cand = with_rated(top_candidates(model, inputs, train_sp, hidden, config.candidates),
                      train_sp, feedback)
    qt = inputs.text["selling_point"][train_sp]
    feats = (qt.unsqueeze(1) * inputs.text["clip"][torch.from_numpy(cand).clamp(min=0)]).sum(-1)
    features = np.where(cand >= 0, feats.numpy(), 0.0)
    refs = [[captions[c] for c in pos.get(s, [])] for s in train_sp]
    tables = {"cider": cider_table(cand, captions, refs) / config.cider_scale,
              "curated": curated_table(cand, train_sp, links),
              "feedback": feedback_table(cand, train_sp, feedback)}
    reward = combine(tables, config.rewards)
    env = SarPickEnv(train_sp, cand, features.astype(np.float32), reward,
                     inputs.x["selling_point"].shape[0], inputs.x["clip"].shape[0],
                     min(config.slate, config.candidates))
    top1 = {name: float(t[:, 0].mean()) for name, t in tables.items()}
    return env, top1


def _identity_head(policy: Any, k: int) -> None:
    with torch.no_grad():
        net: nn.Linear = policy.action_net
        net.weight.zero_()
        net.weight[:, :k] = torch.eye(k)
        net.bias.zero_()


def train_rl(model: SCGAT, inputs: GraphInputs, captions: list[str], config: RlConfig,
             val_fraction: float, split_seed: int,
             feedback: Mapping[tuple[int, int], float] | None = None,
             progress: StageProgress | None = None, paraphrase: float = 1.0) -> StageReport:
    """Refine `model` in place with PPO (MaskablePPO when pools are short) or REINFORCE.

    A share `config.unseen` of the training selling points has its links hidden
    during the stage (their pools are built and scored as unseen text), the rest are
    paraphrases of known selling points. The validation MRR (the supervised stage's
    held-out selling points, links hidden) is measured after every update; with
    `config.select` the best state is kept, and when no update beats the supervised
    weights those are kept (`metrics["rl_kept"] = 0`).

    Args:
        captions: caption per clip row (CIDEr's hypotheses and references).
        val_fraction, split_seed: the supervised stage's split, reused so that the
            validation selling points stay unseen.
        feedback: user feedback per (clip row, selling-point row) in [-1, 1].
        paraphrase: the supervised stage's `TrainConfig.paraphrase`, so that both stages
            validate on the same paraphrased queries.
    """
    start = time.perf_counter()
    train_sp, val_sp = split_selling_points(inputs, val_fraction, split_seed)
    n_sp = inputs.x["selling_point"].shape[0]
    val_hidden = torch.zeros(n_sp, dtype=torch.bool)
    val_hidden[val_sp] = True
    g = torch.Generator().manual_seed(config.seed)
    n_unseen = round(len(train_sp) * config.unseen)
    unseen = [train_sp[i] for i in torch.randperm(len(train_sp), generator=g)[:n_unseen].tolist()]
    hidden = val_hidden.clone()
    hidden[unseen] = True
    if len(train_sp) > config.max_pools:  # large graphs: the env draws from a seeded sample
        pick = torch.randperm(len(train_sp), generator=g)[:config.max_pools]
        train_sp = sorted(train_sp[i] for i in pick.tolist())
    # selling points users rated clips for are pools too, curated links or not
    train_sp = sorted(set(train_sp) | ({s for _, s in (feedback or {})} - set(val_sp)))
    env, _ = build_env(model, inputs, captions, config, train_sp, hidden, feedback or {})
    pos = positives(inputs)
    pos_val = [pos[s] for s in val_sp]

    def validate() -> float:  # the validation ranking loss (lower is better)
        model.eval()
        with torch.no_grad():
            scores = validation_scores(model, inputs, val_sp, val_hidden, paraphrase)
        return rank_metrics(scores, pos_val)["loss"]

    before = validate()
    best: dict[str, Any] = {"loss": before, "step": 0, "state": copy.deepcopy(model.state_dict())}

    def checkpoint(step: int) -> None:
        loss = validate()
        if loss < float(best["loss"]):
            best.update(loss=loss, step=step, state=copy.deepcopy(model.state_dict()))

    torch.manual_seed(config.seed)
    model.train()
    frozen = [] if config.tune == "all" else [
        prm for name, prm in model.named_parameters()
        if prm.requires_grad and name not in HEAD_PARAMS and not name.startswith("out.")]
    for prm in frozen:
        prm.requires_grad_(False)
    learn_start = time.perf_counter()
    if config.algo == "ppo":
        _run_ppo(model, inputs, env, config, hidden, progress, checkpoint)
    elif config.algo == "reinforce":
        _run_reinforce(model, inputs, env, config, hidden, progress, checkpoint)
    else:
        raise RetrievalError(f"--rl must be 'ppo', 'reinforce' or 'none', got {config.algo!r}")
    learn_seconds = time.perf_counter() - learn_start
    for prm in frozen:
        prm.requires_grad_(True)
    checkpoint(config.steps)
    last = validate()
    if config.select:
        model.load_state_dict(best["state"])
    model.eval()
    with torch.no_grad():
        metrics = rank_metrics(validation_scores(model, inputs, val_sp, val_hidden, paraphrase), pos_val)
    after, _ = build_env(model, inputs, captions, config, train_sp, hidden, feedback or {})
    report = {f"val_{k}": v for k, v in metrics.items()}
    report["val_loss_before"] = before
    report["val_loss_last"] = last
    report["learn_seconds"] = learn_seconds
    report["pools"] = float(len(train_sp))
    report["rl_kept"] = float(not config.select or int(best["step"]) > 0)
    report["reward_top1_before"] = float(env.rewards[:, 0].mean())
    report["reward_top1_after"] = float(after.rewards[:, 0].mean())
    chosen = int(best["step"]) if config.select else config.steps
    return StageReport(config.algo, config.steps, chosen, report, time.perf_counter() - start)


def _run_ppo(model: SCGAT, inputs: GraphInputs, env: SarPickEnv, config: RlConfig,
             hidden: Tensor, progress: StageProgress | None,
             checkpoint: Callable[[int], None]) -> None:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    masked = env.slate > 1 or bool((env.candidates < 0).any())
    algo = MaskablePPO if masked else PPO
    policy = "MultiInputPolicy"
    # pi=[]: the action head reads the candidate scores directly (`_identity_head`)
    kwargs = dict(features_extractor_class=SCGATExtractor,
                  features_extractor_kwargs=dict(encoder=model, inputs=inputs, hidden=hidden,
                                                 sample_above=config.sample_above,
                                                 fanout=config.fanout),
                  net_arch=dict(pi=[], vf=list(config.value_layers)), ortho_init=False)
    agent = algo(policy, env, learning_rate=config.lr, n_steps=config.n_steps,
                 batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
                 gae_lambda=config.gae_lambda, ent_coef=config.ent_coef,
                 vf_coef=config.vf_coef, seed=config.seed, device="cpu", verbose=0,
                 policy_kwargs=kwargs)
    _identity_head(agent.policy, int(env.candidates.shape[1]))

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None and self.num_timesteps % PROGRESS_EVERY == 0:
                progress(self.num_timesteps, config.steps, "")
            return True

        def _on_rollout_end(self) -> None:
            # called before training on this rollout: the weights are those of the last update
            if self.num_timesteps > config.n_steps:
                checkpoint(self.num_timesteps - config.n_steps)

    agent.learn(total_timesteps=config.steps, callback=_Progress())


def _run_reinforce(model: SCGAT, inputs: GraphInputs, env: SarPickEnv, config: RlConfig,
                   hidden: Tensor, progress: StageProgress | None,
                   checkpoint: Callable[[int], None]) -> None:
    """Plain policy gradient, as in the paper: loss = -(R - b) log pi(slate | s).

    The slate is drawn without replacement (Plackett-Luce on the candidate scores) and
    R is its DCG, the same return as the env's episode; steps count picks, as PPO's do.
    """
    extractor = SCGATExtractor(env.observation_space, model, inputs, hidden,
                               config.sample_above, config.fanout)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    g = np.random.default_rng(config.seed)
    baseline, batch, done = 0.0, config.batch_size, 0
    while done < config.steps:
        rows = g.integers(len(env.pools), size=batch)
        obs = {"query": torch.tensor([[env.pools[i]] for i in rows], dtype=torch.float32),
               "candidates": torch.from_numpy(env.candidates[rows]),
               "mask": torch.from_numpy((env.candidates[rows] >= 0).astype(np.float32)),
               "features": torch.from_numpy(env.features[rows])}
        k = env.candidates.shape[1]
        scores = extractor(obs)[:, :k]
        free = obs["mask"] > 0.5
        log_prob = torch.zeros(batch)
        reward = torch.zeros(batch)
        picks = 0
        for t in range(env.slate):
            live = free.any(1)
            if not live.any():
                break
            dist = torch.distributions.Categorical(
                logits=scores.masked_fill(~free, float("-inf")).masked_fill(~live.unsqueeze(1), 0.0))
            action = dist.sample()
            log_prob = log_prob + dist.log_prob(action) * live
            gain = torch.from_numpy(env.rewards[rows, action.numpy()]) / float(np.log2(t + 2))
            reward = reward + gain * live
            free = free.scatter(1, action.unsqueeze(1), False)
            picks += int(live.sum())
        loss = -((reward - baseline) * log_prob).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay = config.baseline_decay
        baseline = decay * baseline + (1.0 - decay) * float(reward.mean())
        before, done = done, done + picks
        if done // config.n_steps > before // config.n_steps and done < config.steps:
            checkpoint(done)
            model.train()
        if progress is not None:
            progress(min(done, config.steps), config.steps, f"reward={float(reward.mean()):.3f}")
