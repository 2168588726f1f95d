import numpy as np
from stable_baselines3.common.env_checker import check_env

from kdcvg.retrieval.env import INVALID_PICK, SarPickEnv


def _env() -> SarPickEnv:
    cand = np.array([[3, 1, -1], [0, 2, 1]])
    rewards = np.array([[1.0, 0.2, 0.0], [0.0, 0.5, 0.9]], dtype=np.float32)
    feats = np.array([[0.5, 0.1, 0.0], [0.2, 0.3, 0.4]], dtype=np.float32)
    return SarPickEnv([5, 6], cand, feats, rewards, num_selling_points=8, num_clips=4)


def test_env_passes_sb3_check_env():
    check_env(_env(), warn=True)


def test_one_step_episode_with_rewards_and_masks():
    env = _env()
    seen = set()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        sp = int(obs["query"][0])
        seen.add(sp)
        if sp == 5:
            assert env.action_masks().tolist() == [True, True, False]
            assert obs["mask"].tolist() == [1.0, 1.0, 0.0]
            _, r, done, trunc, info = env.step(0)
            assert (r, done, trunc, info["clip_row"]) == (1.0, True, False, 3)
            assert env.step(2)[1] == INVALID_PICK
        else:
            assert env.step(2)[1] == np.float32(0.9)
    assert seen == {5, 6}
