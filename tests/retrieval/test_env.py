import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from kdcvg.retrieval.env import INVALID_PICK, SarPickEnv


def _env(slate: int = 1) -> SarPickEnv:
    cand = np.array([[3, 1, -1], [0, 2, 1]])
    rewards = np.array([[1.0, 0.2, 0.0], [0.0, 0.5, 0.9]], dtype=np.float32)
    feats = np.array([[0.5, 0.1, 0.0], [0.2, 0.3, 0.4]], dtype=np.float32)
    return SarPickEnv([5, 6], cand, feats, rewards, num_selling_points=8, num_clips=4,
                      slate=slate)


@pytest.mark.parametrize("slate", [1, 3])
def test_env_passes_sb3_check_env(slate):
    check_env(_env(slate), warn=True)


def test_slate_episode_earns_the_dcg_of_its_picks():
    env = _env(slate=3)
    obs, _ = env.reset(seed=0)
    while int(obs["query"][0]) != 6:
        obs, _ = env.reset()
    obs, r1, done, _, _ = env.step(2)  # clip 1, reward 0.9 at position 0
    assert (r1, done) == (pytest.approx(0.9), False)
    assert obs["mask"].tolist() == [1.0, 1.0, 0.0] and env.action_masks().tolist() == [True, True, False]
    obs, r2, done, _, info = env.step(1)  # clip 2, reward 0.5 at position 1: 0.5 / log2(3)
    assert (r2, done, info["clip_row"]) == (pytest.approx(0.5 / np.log2(3)), False, 2)
    _, r3, done, _, _ = env.step(0)  # the slate is full after the third pick
    assert (r3, done) == (0.0, True)
    env.reset()
    env.step(0)
    assert env.step(0)[1:3] == (INVALID_PICK, True)  # picking the same slot twice ends it


def test_a_slate_ends_when_the_pool_runs_out():
    env = _env(slate=3)
    obs, _ = env.reset(seed=0)
    while int(obs["query"][0]) != 5:  # two real candidates only
        obs, _ = env.reset()
    assert env.step(0)[2] is False
    assert env.step(1)[2] is True
    with pytest.raises(ValueError, match="slate must be in"):
        _env(slate=4)


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
