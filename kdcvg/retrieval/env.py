"""The reward loop as a Gymnasium environment: one selling point, K candidate clips, a slate.

Observation (a `Dict`, all float32 because SB3 hands `Box` values over as floats):
- `query`: (1,) the selling-point row; the policy embeds it with SC-GAT.
- `candidates`: (K,) clip rows, -1 where the pool is shorter than K.
- `mask`: (K,) 1.0 for candidates that can still be picked (real and not yet picked).
- `features`: (K,) raw MiniLM cosine between the selling point and each caption.

Action: `Discrete(K)`, the next reference clip. An episode picks a slate of `slate`
clips in order, as the paper optimises the top-k references: the pick at position t
(0-based) earns its precomputed reward (`rewards.py`) discounted as DCG discounts,
`r / log2(t + 2)`, so the episode's return is the slate's DCG. With `slate=1` an
episode is one pick. A padded or already picked slot gives -1 and ends the episode.
`action_masks()` serves `MaskablePPO`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

INVALID_PICK = -1.0


class SarPickEnv(gym.Env):
    """Pick, in order, the best reference clips for a selling point.

    Args:
        pools: selling-point row of each pool.
        candidates: (S, K) candidate clip rows, -1 padded.
        features: (S, K) raw text cosine per candidate.
        rewards: (S, K) combined reward per candidate.
        num_selling_points, num_clips: bounds of the row indices.
        slate: clips picked per episode (at most K).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, pools: list[int], candidates: np.ndarray, features: np.ndarray,
                 rewards: np.ndarray, num_selling_points: int, num_clips: int,
                 slate: int = 1) -> None:
        super().__init__()
        if not pools:
            raise ValueError("SarPickEnv needs at least one selling point")
        if not 1 <= slate <= candidates.shape[1]:
            raise ValueError(f"slate must be in [1, {candidates.shape[1]}], got {slate}")
        self.pools = list(pools)
        self.candidates = candidates.astype(np.float32)
        self.features = features.astype(np.float32)
        self.rewards = rewards.astype(np.float32)
        k = candidates.shape[1]
        self.observation_space = spaces.Dict({
            "query": spaces.Box(0, max(num_selling_points - 1, 0), (1,), np.float32),
            "candidates": spaces.Box(-1, max(num_clips - 1, 0), (k,), np.float32),
            "mask": spaces.Box(0, 1, (k,), np.float32),
            "features": spaces.Box(-1, 1, (k,), np.float32),
        })
        self.action_space = spaces.Discrete(k)
        self.slate = slate
        self._i = 0
        self._t = 0
        self._picked = np.zeros(k, dtype=bool)

    def _obs(self) -> dict[str, np.ndarray]:
        cand = self.candidates[self._i]
        return {
            "query": np.array([self.pools[self._i]], dtype=np.float32),
            "candidates": cand.copy(),
            "mask": self.action_masks().astype(np.float32),
            "features": np.clip(self.features[self._i], -1, 1),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._i = int(self.np_random.integers(len(self.pools)))
        self._t = 0
        self._picked[:] = False
        return self._obs(), {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                         dict[str, Any]]:
        a = int(action)
        clip = int(self.candidates[self._i, a])
        if not self.action_masks()[a]:
            return self._obs(), INVALID_PICK, True, False, {"clip_row": clip}
        reward = float(self.rewards[self._i, a]) / float(np.log2(self._t + 2))
        self._picked[a] = True
        self._t += 1
        done = self._t >= self.slate or not self.action_masks().any()
        return self._obs(), reward, done, False, {"clip_row": clip}

    def action_masks(self) -> np.ndarray:
        mask: np.ndarray = (self.candidates[self._i] >= 0) & ~self._picked
        return mask
