import numpy as np
import pytest

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.rewards import cider_table, combine, curated_table, tokenize


def test_tokenize_lowercases_and_drops_punctuation():
    text = "Sparkling water, pours -- INTO a glass!"
    assert tokenize(text) == "sparkling water pours into a glass"


def test_cider_prefers_the_reference_caption_and_ignores_padding():
    captions = ["sparkling water pours into a glass", "a knife slices a tomato",
                "the watch swings on a wrist"]
    refs = [["Sparkling water pours into a glass."], ["A knife slices a ripe tomato."],
            ["The smartwatch swings on a wrist."]]
    cand = np.array([[0, 1, -1], [1, 2, -1], [2, 0, -1]])
    table = cider_table(cand, captions, refs)
    assert table.shape == (3, 3)
    assert (table[:, 0] > table[:, 1]).all()  # the matching caption wins every row
    assert (table[:, 2] == 0).all()
    assert table[0, 0] > 1.0  # an exact match scores high on the 0-10 CIDEr-D scale


def test_cider_scores_zero_for_a_selling_point_without_references():
    captions = ["sparkling water pours into a glass", "a knife slices a tomato"]
    cand = np.array([[0, 1], [1, 0], [0, 1]])
    refs = [["Sparkling water pours into a glass."], [], ["A knife slices a ripe tomato."]]
    table = cider_table(cand, captions, refs)
    assert table[0, 0] > table[0, 1] and table[2, 1] > table[2, 0]
    assert table[1].tolist() == [0.0, 0.0]  # no curated clip: nothing to compare with
    assert not cider_table(cand, captions, [[], [], []]).any()


def test_curated_and_combined_tables():
    cand = np.array([[4, 5]])
    cur = curated_table(cand, [7], {(5, 7): 0.8})
    assert cur.tolist() == [[0.0, pytest.approx(0.8)]]
    total = combine({"curated": cur, "cider": np.array([[1.0, 0.0]])},
                    {"curated": 1.0, "cider": 0.5})
    assert total.tolist() == [[0.5, pytest.approx(0.8)]]
    with pytest.raises(RetrievalError, match="unknown reward source"):
        combine({"curated": cur}, {"likes": 1.0})


def test_feedback_reward_is_the_pairs_else_the_clips_and_mixes_with_relevance():
    from kdcvg.retrieval.config import RlConfig
    from kdcvg.retrieval.rewards import feedback_table, mix

    cand = np.array([[4, 5, -1]])
    clip_prior = np.zeros(6, dtype=np.float32)
    clip_prior[4], clip_prior[5] = 0.5, -1.0
    fb = feedback_table(cand, [7], {(5, 7): 1.0}, clip_prior)
    assert fb.tolist() == [[0.5, 1.0, 0.0]]  # the pair's rating wins over the clip's prior
    relevance = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    assert mix(relevance, fb, 0.25).tolist() == [[0.875, 0.25, 0.0]]
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(RetrievalError, match=f"feedback weight must be a number from 0 to 1, "
                                                 f"got {bad!r}"):
            mix(relevance, fb, bad)
        with pytest.raises(RetrievalError, match="feedback weight must be a number from 0 to 1"):
            RlConfig(feedback_weight=bad)
