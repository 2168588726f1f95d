"""Hyperparameters of SAR, one frozen dataclass per stage (nanoGPT's `GPTConfig` style).

The configs are saved as JSON beside the weights (`save_pretrained`), so a
loaded model is rebuilt with exactly the shapes it was trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kdcvg.errors import RetrievalError

ConvKind = Literal["transformer", "gatv2"]
RlKind = Literal["ppo", "reinforce", "none"]
REWARD_SOURCES = ("cider", "curated", "feedback")
FEEDBACK_WEIGHT = 0.0  # the RL stage leaves the feedback term alone (docs/sar.md, "Feedback on real ads")
SAMPLE_ABOVE = 20_000  # nodes; both stages run SC-GAT on sampled subgraphs above it
FANOUT = 10
# above SAMPLE_ABOVE, a validation pass ranks this many held-out selling points (a fixed
# sample) against their positives and this many other clips (`train.validation_set`)
VAL_QUERIES = 1024
VAL_CLIPS = 4096


def check_feedback_weight(value: float) -> float:
    """The mix of relevance and feedback in the RL reward, checked.

    Raises:
        RetrievalError: not a finite number from 0 to 1.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise RetrievalError(f"feedback weight must be a number from 0 to 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of the SC-GAT encoder.

    Args:
        hidden: width of every node state.
        out: width of the shared retrieval space.
        heads: attention heads per layer (`hidden` must be divisible by it).
        layers: message-passing layers.
        conv: "transformer" (scaled dot-product, the paper's SC-GAT) or "gatv2".
        dropout: dropout on the layer updates.
        knn: selling-point text neighbours linked by `similar` edges (and attached to new text).
        gat_gate: initial weight of the graph-attention term in the score; 0 makes the
            untrained model exactly the text-and-knowledge baseline, so that training can
            only add what the attention learns (ReZero-style gate, learned).
        know_threshold: text similarity to a *linked* selling point at which the knowledge
            term counts half (per-query gate `sigmoid(sharpness * (match - threshold))`).
        know_sharpness: slope of that gate.
        near_threshold: text similarity to the *nearest* selling point (linked or not) at
            which the attention and context terms count half, with the same slope: a
            MiniLM paraphrase sits at cosine 0.5-0.95 from its original, a different
            selling point of the same catalogue at about 0.45 (the demo's median nearest
            neighbour); below, SAR falls back to the text term.
    """

    hidden: int = 128
    out: int = 64
    heads: int = 4
    layers: int = 2
    conv: ConvKind = "transformer"
    dropout: float = 0.1
    knn: int = 5
    gat_gate: float = 0.0
    know_threshold: float = 0.6
    know_sharpness: float = 20.0
    near_threshold: float = 0.5


@dataclass(frozen=True)
class TrainConfig:
    """The supervised ranking stage.

    Args:
        epochs: maximum passes over the training selling points.
        batch_size: selling points per step (their clips are the in-batch negatives); smaller
            on a small graph, so that an epoch has at least `min_steps` steps.
        min_steps: fewest steps per epoch (27 training selling points would otherwise be
            one step per epoch, and the mixture would never converge).
        hard_negatives: clips from the same category sampled per selling point.
        lr: AdamW learning rate of the attention network.
        mixture_lr: learning rate of the score's mixture scalars (`SCGAT.mixture_parameters`).
        weight_decay: AdamW weight decay.
        val_fraction: share of linked selling points held out for validation.
        patience: epochs without a lower validation loss before a phase ends (first the
            mixture phase, then the attention phase).
        attention_epochs: most epochs of the attention phase (each runs the whole
            SC-GAT forward and backward per step, the cost of training: on 2k clips and
            4k selling points the validation loss gains little after about 15).
        keep_links: share of a batch whose own links stay in the graph (paraphrase regime);
            the rest are trained as selling points without clips.
        in_graph: share of those without clips that attach to their own node (a selling
            point a curator added); the rest are trained as text the graph has not seen.
        name_product: share of queries that name their product (attach to it).
        paraphrase: training and validation queries are the selling points' text turned
            to a random cosine in [paraphrase, 1] (`train.paraphrase`); 1 trains on the
            exact text.
        seed: makes the split, the batches and the initial weights reproducible.
        sample_above: graphs with more nodes than this train on sampled subgraphs (smaller
            ones on each batch's whole computation graph) and validate on a sample.
        fanout: in-edges kept per node, edge type and hop when sampling.
        epoch_queries: most training selling points per epoch, a fresh seeded sample each
            epoch (an epoch of a 200k-selling-point graph would be 2,000 steps between two
            validations).
        max_steps: stop each epoch after this many steps (None: a full pass); for
            benchmarks that time steps on graphs where a full epoch takes an hour.
    """

    epochs: int = 60
    batch_size: int = 64
    min_steps: int = 4
    hard_negatives: int = 8
    lr: float = 3e-3
    mixture_lr: float = 0.05
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    patience: int = 10
    attention_epochs: int = 15
    keep_links: float = 0.5
    in_graph: float = 0.5
    name_product: float = 0.5
    paraphrase: float = 0.6
    seed: int = 0
    sample_above: int = SAMPLE_ABOVE
    fanout: int = FANOUT
    epoch_queries: int = 8192
    max_steps: int | None = None


@dataclass(frozen=True)
class RlConfig:
    """The reward-loop stage (PPO, MaskablePPO or REINFORCE).

    Args:
        algo: "ppo" (Stable-Baselines3, MaskablePPO when a pool is short), "reinforce" or "none".
        steps: environment steps (one step = one selling point, one pick).
        candidates: K, clips offered per selling point.
        lr: learning rate of the policy.
        n_steps: rollout length per PPO update.
        batch_size: PPO minibatch size.
        n_epochs: PPO epochs per update.
        rewards: weight of each relevance source, keys from `REWARD_SOURCES` ("feedback"
            is weighted by `feedback_weight` instead, and ignored here).
        feedback_weight: the reward is `(1 - w) * relevance + w * feedback`, w in [0, 1]
            (`rewards.mix`); also the mix the kept update is chosen by.
        prior_weight: the clip feedback prior's weight in the score (`prior.py`), in units
            of the candidates' score spread per spread of the prior (`ppo.FeedbackTerm`):
            the weight itself with `algo="none"` or `feedback_weight` 0, where the RL
            stage starts from otherwise. The default was chosen on pitt-dev's ratings
            (docs/sar.md, "Feedback on real ads").
        prior_gain: the RL stage learns the feedback term's weight this many times as fast
            as the score head (`ppo.FeedbackTerm`).
        prior_shrink: pseudo-count shrinking a clip's mean feedback toward the mean over
            rated clips (`prior.clip_prior`).
        seed: makes the rollouts reproducible.
        unseen: share of the training selling points whose links are hidden during the
            stage (trained as unseen text); the rest are trained as paraphrases.
        select: keep the update with the best validation MRR, the supervised weights
            when none beats them.
        max_pools: most training selling points the env draws from (a seeded sample).
        tune: "head" (only the score's mixture scalars, the attention gate and the output
            projections; the rest of the SC-GAT stays frozen) or "all" (PPO updates the
            whole SC-GAT; use a learning rate near 5e-5).
        slate: reference clips picked per episode, in order; the return is their DCG
            (`env.SarPickEnv`). 1 picks a single reference.
        gamma: PPO's discount; 1 makes an episode's return the slate's DCG.
        gae_lambda: PPO's GAE lambda.
        ent_coef: PPO's entropy bonus.
        vf_coef: weight of PPO's value loss; small, as the value head shares the encoder.
        value_layers: hidden widths of PPO's value head (the policy head has none: it
            starts as the identity on the candidate scores).
        baseline_decay: REINFORCE's baseline is the moving average of the batches' mean
            return, `b <- decay * b + (1 - decay) * mean`.
        cider_scale: CIDEr-D rewards are divided by it (CIDEr-D runs from 0 to 10), to
            weigh like the curated and feedback rewards in [-1, 1].
        sample_above: graphs with more nodes run the policy's SC-GAT on each batch's
            sampled neighbourhood (deterministic truncation, so rollouts and updates
            evaluate the same function).
        fanout: in-edges kept per node, edge type and hop when sampling.
    """

    algo: RlKind = "ppo"
    steps: int = 512
    candidates: int = 8
    lr: float = 1e-2
    n_steps: int = 128
    batch_size: int = 64
    n_epochs: int = 4
    rewards: dict[str, float] = field(default_factory=lambda: {"cider": 0.5, "curated": 1.0})
    feedback_weight: float = FEEDBACK_WEIGHT
    prior_weight: float = 1.0
    prior_gain: float = 10.0
    prior_shrink: float = 5.0
    seed: int = 0
    unseen: float = 0.5
    select: bool = True
    max_pools: int = 4096
    tune: Literal["all", "head"] = "head"
    slate: int = 1
    gamma: float = 1.0
    gae_lambda: float = 1.0
    ent_coef: float = 0.0
    vf_coef: float = 0.1
    value_layers: list[int] = field(default_factory=lambda: [64])
    baseline_decay: float = 0.9
    cider_scale: float = 10.0
    sample_above: int = SAMPLE_ABOVE
    fanout: int = FANOUT

    def __post_init__(self) -> None:
        check_feedback_weight(self.feedback_weight)


@dataclass(frozen=True)
class FusionConfig:
    """The fused score's weights (`kdcvg.retrieval.fusion`), fitted after the supervised stage.

    Args:
        enabled: fit the lexical term; False keeps SC-GAT's score alone.
        depth: candidates taken from each of SC-GAT (FAISS) and BM25 before fusing.
        steps: Adam steps of the fit (a few weights: cheap).
        lr: Adam learning rate.
        l2: pull of the weights toward SC-GAT alone (1, 0), so that a fit on a handful
            of held-out links stays moderate.
    """

    enabled: bool = True
    depth: int = 100
    steps: int = 300
    lr: float = 0.05
    l2: float = 1e-3


@dataclass(frozen=True)
class SarConfig:
    """Everything needed to rebuild and retrain a SAR model."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rl: RlConfig = field(default_factory=RlConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SarConfig:
        return cls(
            encoder=EncoderConfig(**raw.get("encoder", {})),
            train=TrainConfig(**raw.get("train", {})),
            rl=RlConfig(**raw.get("rl", {})),
            fusion=FusionConfig(**raw.get("fusion", {})),
        )
