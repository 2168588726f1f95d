"""The reward loop as a Gymnasium environment: one selling point, K candidate clips, one pick.

Observation (a `Dict`, all float32 because SB3 hands `Box` values over as floats):
- `query`: (1,) the selling-point row; the policy embeds it with SC-GAT.
- `candidates`: (K,) clip rows, -1 where the pool is shorter than K.
- `mask`: (K,) 1.0 for real candidates.
- `features`: (K,) raw MiniLM cosine between the selling point and each caption.

Action: `Discrete(K)`, the reference clip. Reward: the precomputed table entry
(`rewards.py`); a padded slot gives -1. Each episode is one step.
`action_masks()` serves `MaskablePPO`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

INVALID_PICK = -1.0


class SarPickEnv(gym.Env):
    """Pick the best reference clip for a selling point.

    Args:
        pools: selling-point row of each pool.
        candidates: (S, K) candidate clip rows, -1 padded.
        features: (S, K) raw text cosine per candidate.
        rewards: (S, K) combined reward per candidate.
        num_selling_points, num_clips: bounds of the row indices.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, pools: list[int], candidates: np.ndarray, features: np.ndarray,
                 rewards: np.ndarray, num_selling_points: int, num_clips: int) -> None:
        super().__init__()
        if not pools:
            raise ValueError("SarPickEnv needs at least one selling point")
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
        self._i = 0

    def _obs(self) -> dict[str, np.ndarray]:
        cand = self.candidates[self._i]
        return {
            "query": np.array([self.pools[self._i]], dtype=np.float32),
            "candidates": cand.copy(),
            "mask": (cand >= 0).astype(np.float32),
            "features": np.clip(self.features[self._i], -1, 1),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._i = int(self.np_random.integers(len(self.pools)))
        return self._obs(), {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                         dict[str, Any]]:
        a = int(action)
        valid = self.candidates[self._i, a] >= 0
        reward = float(self.rewards[self._i, a]) if valid else INVALID_PICK
        return self._obs(), reward, True, False, {"clip_row": int(self.candidates[self._i, a])}

    def action_masks(self) -> np.ndarray:
        return self.candidates[self._i] >= 0
