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

The reward mixes relevance (CIDEr and curated links, `RlConfig.rewards`) with the
feedback users gave (`kdcvg sar feedback`): `(1 - w) * relevance + w * feedback`,
`w = RlConfig.feedback_weight`. A whole-clip rating is a per-clip fact that the
shared weights of SC-GAT cannot memorise, so the policy's score carries the clip's
feedback prior (`prior.py`) as one more term with a learned weight (`FeedbackTerm`);
the stage reports both objectives on the validation selling points, before and after:
`relevance` (MRR of their curated clips) and `feedback` (mean feedback reward of their
top 5; a clip's prior counts as `prior.prior_reward`, in [-1, 1]).
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
from kdcvg.retrieval.features import GraphInputs, drop_links, query_edges
from kdcvg.retrieval.prior import prior_reward
from kdcvg.retrieval.rewards import cider_table, combine, curated_table, feedback_table, mix
from kdcvg.retrieval.sampling import NeighbourSampler
from kdcvg.retrieval.train import (
    StageProgress,
    StageReport,
    positives,
    rank_metrics,
    split_selling_points,
    validation_set,
)

PROGRESS_EVERY = 32  # env steps between progress-bar updates
FEEDBACK_AT = 5  # the feedback objective: mean feedback of the top 5 clips
HEAD_PARAMS = (*MIXTURE, "gat_gate", "logit_scale")

try:  # SB3 is a dependency; the class must exist at import time to be subclassed
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
except ImportError as e:  # pragma: no cover
    raise RetrievalError("the RL stage needs stable-baselines3: pip install stable-baselines3 "
                         "sb3-contrib") from e


class FeedbackTerm(nn.Module):
    """The clip feedback prior as a learned term of the score: `theta * unit * prior[clip]`.

    `unit` puts theta on a scale where 1 moves a clip one standard deviation of the
    candidates' scores per standard deviation of the prior (`prior_unit`). The
    parameter is `theta / gain`: with Adam, theta then moves `gain` times as fast as
    the score head's scalars (it starts at 0 and has to travel about 1).

    Args:
        prior: (C,) the clip prior (`prior.clip_prior`), 0 where nobody rated the clip.
        unit: score units per prior unit at theta = 1.
        theta: starting theta (`RlConfig.prior_weight`).
        gain: `RlConfig.prior_gain`.
    """

    prior: Tensor

    def __init__(self, prior: np.ndarray, unit: float, theta: float, gain: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("prior", torch.from_numpy(np.asarray(prior, dtype=np.float32)))
        self.unit = float(unit)
        self.gain = float(gain)
        self.raw = nn.Parameter(torch.tensor(float(theta) / self.gain))

    @property
    def theta(self) -> Tensor:
        return self.raw * self.gain

    def forward(self, rows: Tensor) -> Tensor:
        """The term for clip rows of any shape (negative rows are padding: 0)."""
        return self.theta * self.unit * torch.where(rows >= 0, self.prior[rows.clamp(min=0)], 0.0)

    @property
    def weight(self) -> float:
        """Score units per prior unit: what `SarModel.prior_weight` stores for retrieval."""
        return float(self.theta.detach()) * self.unit


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
        term: the feedback prior term (`FeedbackTerm`), learned with the policy.

    Shapes:
        - **input:** query (B, 1), candidates (B, K), mask (B, K), features (B, K)
        - **output:** (B, 2K) = candidate scores, raw cosines
    """

    def __init__(self, observation_space: Any, encoder: SCGAT, inputs: GraphInputs,
                 hidden: Tensor, sample_above: int, fanout: int,
                 term: FeedbackTerm | None = None) -> None:
        k = int(observation_space["candidates"].shape[0])
        super().__init__(observation_space, features_dim=2 * k)
        self.encoder = encoder
        self.term = term
        self._inputs = inputs
        self._links = GraphContext.of(inputs, hidden)
        self._cache: tuple[tuple[int, ...], GraphContext] | None = None
        num = inputs.num_nodes
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
        if self.term is not None:
            scores = scores + self.term(obs["candidates"].long())
        return torch.cat([scores * obs["mask"], obs["features"]], dim=1)


def rl_regime(sps: Tensor) -> tuple[Tensor, Tensor]:
    """Attach flags of RL queries: each in the graph (attached to itself), no product
    named, the regime of the validation and of a selling point added without clips;
    whether its links are seen is the env's `hidden` mask."""
    ones = torch.ones(sps.shape[0], dtype=torch.bool)
    return ones, ~ones


def top_candidates(model: SCGAT, inputs: GraphInputs, sps: list[int], hidden: Tensor, k: int,
                   chunk: int = 256, term: FeedbackTerm | None = None) -> np.ndarray:
    """(S, k) best clip rows per selling point under the current model, -1 padded.

    Hidden selling points are scored as selling points without clips, the others as
    paraphrases (`rl_regime`); the graph is encoded once, the queries scored in chunks.
    """
    return _top_scores(model, inputs, sps, hidden, k, chunk, term)[1]


def _top_scores(model: SCGAT, inputs: GraphInputs, sps: list[int], hidden: Tensor, k: int,
                chunk: int = 256, term: FeedbackTerm | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(S, k) scores and clip rows of `top_candidates`, -inf / -1 padded."""
    model.eval()
    with torch.no_grad():
        ctx = model.encode_graph(GraphContext.of(inputs, hidden))
        clips = model.clip_vectors(ctx)
        rows = torch.tensor(sps, dtype=torch.long)
        kk = min(k, clips.shape[0])
        out = np.full((len(sps), k), -1, dtype=np.int64)
        top = np.full((len(sps), k), -np.inf, dtype=np.float32)
        bonus = term(torch.arange(clips.shape[0])) if term is not None else 0.0
        for b in range(0, len(sps), chunk):
            r = rows[b:b + chunk]
            queries = model.encode_queries(ctx, inputs.text["selling_point"][r],
                                           query_edges(inputs, r, *rl_regime(r)))
            scores = model.score(model.query_vectors(queries), clips) + bonus
            best = scores.topk(kk, dim=1)
            out[b:b + r.numel(), :kk] = best.indices.numpy()
            top[b:b + r.numel(), :kk] = best.values.numpy()
    return top, out


def prior_unit(model: SCGAT, inputs: GraphInputs, sps: list[int], hidden: Tensor, k: int,
               prior: np.ndarray) -> float:
    """Score units per prior unit at theta = 1 (`FeedbackTerm`).

    The mean standard deviation of the top-k candidate scores over `sps`, divided by the
    standard deviation of the prior over the clips it is not 0 for (1 when none is).
    """
    rated = prior[prior != 0]
    if not sps or rated.size < 2 or float(rated.std()) == 0.0:
        return 1.0
    scores, _ = _top_scores(model, inputs, sps, hidden, k)
    spread = float(np.mean([row[np.isfinite(row)].std() for row in scores]))
    return max(spread, 1e-6) / float(rated.std())


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
              feedback: Mapping[tuple[int, int], float],
              term: FeedbackTerm | None = None) -> tuple[SarPickEnv, dict[str, float]]:
    """Candidate pools (top-K of the current model) and their reward tables.

    The reward is `rewards.mix` of the relevance sources (`config.rewards`) and the
    feedback (pair feedback, else the clip's prior from `term`), weighted by
    `config.feedback_weight`.

    Returns:
        the env and the mean reward of each source over the pools' top-1 picks.
    """
    pos = positives(inputs)
    links = {(c, s): float(w) for (c, s), w in zip(inputs.links.T.tolist(),
                                                    inputs.link_weight.tolist(), strict=True)}
    cand = with_rated(top_candidates(model, inputs, train_sp, hidden, config.candidates,
                                     term=term), train_sp, feedback)
    qt = inputs.text["selling_point"][train_sp]
    feats = (qt.unsqueeze(1) * inputs.text["clip"][torch.from_numpy(cand).clamp(min=0)]).sum(-1)
    features = np.where(cand >= 0, feats.numpy(), 0.0)
    refs = [[captions[c] for c in pos.get(s, [])] for s in train_sp]
    clip_prior = prior_reward(term.prior.numpy()) if term is not None else None
    tables = {"cider": cider_table(cand, captions, refs) / config.cider_scale,
              "curated": curated_table(cand, train_sp, links)}
    relevance = combine(tables, config.rewards)
    tables["feedback"] = feedback_table(cand, train_sp, feedback, clip_prior)
    # without any feedback the reward is relevance alone, as it always was
    given = bool(feedback) or (clip_prior is not None and bool(clip_prior.any()))
    reward = mix(relevance, tables["feedback"], config.feedback_weight if given else 0.0)
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
             progress: StageProgress | None = None, paraphrase: float = 1.0,
             prior: np.ndarray | None = None) -> StageReport:
    """Refine `model` in place with PPO (MaskablePPO when pools are short) or REINFORCE.

    A share `config.unseen` of the training selling points has its links hidden
    during the stage (their pools are built and scored as unseen text), the rest are
    paraphrases of known selling points. The validation MRR (the supervised stage's
    held-out selling points, links hidden) is measured after every update; with
    `config.select` the best state is kept, and when no update beats the supervised
    weights those are kept (`metrics["rl_kept"] = 0`). With feedback and a
    `config.feedback_weight` w > 0 the kept state is the one with the best
    `(1 - w) * relevance + w * feedback` on validation (the validation loss otherwise);
    the metrics hold both objectives before and after, and `prior_weight`, the feedback
    term's weight that `SarModel.prior_weight` keeps for retrieval.

    Args:
        captions: caption per clip row (CIDEr's hypotheses and references).
        val_fraction, split_seed: the supervised stage's split, reused so that the
            validation selling points stay unseen.
        feedback: user feedback per (clip row, selling-point row) in [-1, 1].
        paraphrase: the supervised stage's `TrainConfig.paraphrase`, so that both stages
            validate on the same paraphrased queries.
        prior: (C,) the clips' feedback prior (`prior.clip_prior`; None: nobody rated a clip).
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
    feedback = feedback or {}
    clip_prior = np.zeros(inputs.x["clip"].shape[0], dtype=np.float32) if prior is None else prior
    unit = linked_prior_unit(model, inputs, config, clip_prior)
    term = FeedbackTerm(clip_prior, unit, config.prior_weight, config.prior_gain)
    clip_reward = prior_reward(clip_prior)
    env, _ = build_env(model, inputs, captions, config, train_sp, hidden, feedback, term)
    num = inputs.num_nodes
    large = sum(num.values()) > config.sample_above
    val = validation_set(inputs, val_sp, positives(inputs), split_seed, NeighbourSampler(
        drop_links(inputs, val_hidden), num, config.fanout, model.config.layers)
        if large else None)
    val_clips = val.clip_rows(inputs)
    # with no feedback at all the stage optimises relevance alone, as it always did
    weight = config.feedback_weight if (feedback or clip_prior.any()) else 0.0
    # without a feedback reward the term keeps its set weight (the feature, `prior_weight`)
    term.raw.requires_grad_(weight > 0.0)

    def objectives() -> dict[str, float]:
        """Validation loss, relevance (MRR) and feedback (mean of the top 5), the term in."""
        model.eval()
        with torch.no_grad():
            scores = val.scores(model, inputs, val_hidden, paraphrase) + term(val_clips)
        m = rank_metrics(scores, val.pos)
        top = val_clips[scores.topk(min(FEEDBACK_AT, scores.shape[1]), dim=1).indices].tolist()
        fb = [feedback.get((c, s), float(clip_reward[c])) for s, row in zip(val.sps, top,
                                                                             strict=True)
              for c in row]
        return {"loss": m["loss"], "relevance": m["mrr"],
                "feedback": float(np.mean(fb)) if fb else 0.0}

    def merit(o: dict[str, float]) -> float:  # higher is better
        if weight == 0.0:
            return -o["loss"]
        return (1.0 - weight) * o["relevance"] + weight * o["feedback"]

    first = objectives()
    best: dict[str, Any] = {"merit": merit(first), "step": 0,
                            "state": copy.deepcopy(model.state_dict()),
                            "theta": float(term.theta.detach())}

    def checkpoint(step: int) -> None:
        value = merit(objectives())
        if value > float(best["merit"]):
            best.update(merit=value, step=step, state=copy.deepcopy(model.state_dict()),
                        theta=float(term.theta.detach()))

    torch.manual_seed(config.seed)
    model.train()
    frozen = [] if config.tune == "all" else [
        prm for name, prm in model.named_parameters()
        if prm.requires_grad and name not in HEAD_PARAMS and not name.startswith("out.")]
    for prm in frozen:
        prm.requires_grad_(False)
    learn_start = time.perf_counter()
    if config.algo == "ppo":
        _run_ppo(model, inputs, env, config, hidden, progress, checkpoint, term)
    elif config.algo == "reinforce":
        _run_reinforce(model, inputs, env, config, hidden, progress, checkpoint, term)
    else:
        raise RetrievalError(f"--rl must be 'ppo', 'reinforce' or 'none', got {config.algo!r}")
    learn_seconds = time.perf_counter() - learn_start
    for prm in frozen:
        prm.requires_grad_(True)
    checkpoint(config.steps)
    last = objectives()
    if config.select:
        model.load_state_dict(best["state"])
        with torch.no_grad():
            term.raw.fill_(float(best["theta"]) / term.gain)
    model.eval()
    with torch.no_grad():
        metrics = rank_metrics(val.scores(model, inputs, val_hidden, paraphrase), val.pos)
    final = objectives()
    kept = not config.select or int(best["step"]) > 0
    # back at the stage's start (nothing kept), the pools would be the same (and CIDEr costs)
    after = env
    if kept:
        after, _ = build_env(model, inputs, captions, config, train_sp, hidden, feedback, term)
    report = {f"val_{k}": v for k, v in metrics.items()}
    report["val_loss_before"] = first["loss"]
    report["val_loss_last"] = last["loss"]
    report["learn_seconds"] = learn_seconds
    report["pools"] = float(len(train_sp))
    report["rl_kept"] = float(kept)
    report["reward_top1_before"] = float(env.rewards[:, 0].mean())
    report["reward_top1_after"] = float(after.rewards[:, 0].mean())
    report["feedback_weight"] = weight
    report["relevance_before"] = first["relevance"]
    report["relevance_after"] = final["relevance"]
    report["feedback_before"] = first["feedback"]
    report["feedback_after"] = final["feedback"]
    report["prior_weight"] = term.weight
    chosen = int(best["step"]) if config.select else config.steps
    return StageReport(config.algo, config.steps, chosen, report, time.perf_counter() - start)


def _run_ppo(model: SCGAT, inputs: GraphInputs, env: SarPickEnv, config: RlConfig,
             hidden: Tensor, progress: StageProgress | None,
             checkpoint: Callable[[int], None], term: FeedbackTerm) -> None:
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
                                                 fanout=config.fanout, term=term),
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
                   checkpoint: Callable[[int], None], term: FeedbackTerm) -> None:
    """Plain policy gradient, as in the paper: loss = -(R - b) log pi(slate | s).

    The slate is drawn without replacement (Plackett-Luce on the candidate scores) and
    R is its DCG, the same return as the env's episode; steps count picks, as PPO's do.
    """
    extractor = SCGATExtractor(env.observation_space, model, inputs, hidden,
                               config.sample_above, config.fanout, term)
    opt = torch.optim.Adam([*model.parameters(), term.raw], lr=config.lr)
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


def fixed_prior_weight(model: SCGAT, inputs: GraphInputs, config: RlConfig,
                       prior: np.ndarray | None) -> float:
    """The feedback prior's weight in score units without an RL stage (`algo="none"`):
    `config.prior_weight` times `prior_unit` over the linked selling points; 0 when
    nobody rated a clip."""
    if prior is None or not prior.any() or config.prior_weight == 0.0:
        return 0.0
    return config.prior_weight * linked_prior_unit(model, inputs, config, prior)


def linked_prior_unit(model: SCGAT, inputs: GraphInputs, config: RlConfig, prior: np.ndarray
                      ) -> float:
    """`prior_unit` over every linked selling point, links in view: the one unit both the
    RL stage and `fixed_prior_weight` use, so that theta means the same in both."""
    sps = sorted(positives(inputs))
    hidden = torch.zeros(inputs.x["selling_point"].shape[0], dtype=torch.bool)
    return prior_unit(model, inputs, sps, hidden, config.candidates, prior)
