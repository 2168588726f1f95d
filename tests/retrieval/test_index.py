import numpy as np

from kdcvg.retrieval.index import ClipIndex


def test_flat_and_hnsw_agree_on_the_top_hit():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    queries = vectors[:20] + 0.01 * rng.normal(size=(20, 32)).astype(np.float32)
    flat = ClipIndex(vectors)
    hnsw = ClipIndex(vectors, hnsw_threshold=1000)
    assert (flat.kind, hnsw.kind) == ("flat", "hnsw")
    s, rows = flat.search(queries, 5)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert (rows == exact).all() and (np.diff(s, axis=1) <= 0).all()
    assert (hnsw.search(queries, 1)[1][:, 0] == exact[:, 0]).mean() >= 0.95


def test_k_larger_than_the_index_is_cut():
    index = ClipIndex(np.eye(3, dtype=np.float32))
    scores, rows = index.search(np.array([[0, 1, 0]], dtype=np.float32), 10)
    assert rows.tolist() == [[1, 0, 2]] or rows[0, 0] == 1
    assert rows.shape == (1, 3)


def test_ivf_finds_near_copies_and_rejects_unknown_kinds():
    import pytest

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ivf = ClipIndex(vectors, hnsw_threshold=1000, approx="ivf")
    assert ivf.kind == "ivf"
    _, rows = ivf.search(vectors[:50] + 0.001, 1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.95
    with pytest.raises(ValueError, match="approx must be 'hnsw' or 'ivf', got 'lsh'"):
        ClipIndex(vectors, approx="lsh")
