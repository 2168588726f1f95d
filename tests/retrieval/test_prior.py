import numpy as np
import pytest

from kdcvg.retrieval.index import ClipIndex
from kdcvg.retrieval.prior import clip_prior, rerank


def test_clip_prior_shrinks_each_mean_toward_the_mean_of_rated_clips():
    # values are feedback in [-1, 1]: ratings 5, 5, 5 -> 1.0; one rating 1 -> -1.0
    prior = clip_prior({"a": [1.0, 1.0, 1.0], "b": [-1.0], "gone": [1.0]}, ["a", "b", "c"],
                       shrink=1.0)
    mean_all = (1.0 + -1.0) / 2  # over the rated clips of this graph; "gone" is not in it
    assert prior.tolist() == pytest.approx([3 / 4 * (1.0 - mean_all), 1 / 2 * (-1.0 - mean_all),
                                            0.0])
    assert clip_prior({}, ["a"], 5.0).tolist() == [0.0]


def test_rerank_is_the_exact_top_k_of_score_plus_bonus():
    g = np.random.default_rng(0)
    clips = g.normal(size=(300, 8)).astype(np.float32)
    queries = g.normal(size=(20, 8)).astype(np.float32)
    bonus = np.where(g.random(300) < 0.3, g.normal(scale=3.0, size=300), 0.0).astype(np.float32)
    index = ClipIndex(clips)
    scores, rows = rerank(index.search, queries, 10, bonus, index.size)
    brute = queries @ clips.T + bonus
    expect = np.argsort(-brute, axis=1)[:, :10]
    assert rows.tolist() == expect.tolist()
    assert scores == pytest.approx(np.take_along_axis(brute, expect, 1), abs=1e-4)
    # no bonus: the index's own answer; more results asked than clips: -1 padded
    assert rerank(index.search, queries, 5, np.zeros(300, np.float32), 300)[1].tolist() == \
        index.search(queries, 5)[1].tolist()
    small = ClipIndex(clips[:3])
    _, rows = rerank(small.search, queries[:1], 5, np.array([0.0, 0.0, 9.0], np.float32), 3)
    assert rows[0, 0] == 2 and rows[0, 3:].tolist() == [-1, -1]
