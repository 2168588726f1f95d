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


def test_the_flat_scan_is_faiss_exhaustive_search_and_breaks_ties_by_row(tmp_path):
    """The flat index ranks with one matrix product (`ClipIndex.search`): the same rows and
    scores as FAISS's own exhaustive search, one query or a batch, saved and loaded."""
    import faiss

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 48)).astype(np.float32)
    queries = rng.normal(size=(9, 48)).astype(np.float32)
    reference = faiss.IndexFlatIP(48)
    reference.add(vectors)
    index = ClipIndex(vectors)
    index.save(tmp_path, {"graph_version": "g"})
    loaded = ClipIndex.load_matching(tmp_path, {"graph_version": "g"}, 3000, 48)
    assert loaded is not None and loaded.kind == "flat"
    want_s, want_r = reference.search(queries, 100)
    for got in (index, loaded):
        s, r = got.search(queries, 100)
        assert (r == want_r).all() and np.allclose(s, want_s, atol=1e-5)
        s1, r1 = got.search(queries[3], 100)
        assert (r1[0] == want_r[3]).all() and np.allclose(s1[0], want_s[3], atol=1e-5)
    many = rng.normal(size=(300, 48)).astype(np.float32)  # past FLAT_BATCH: FAISS's own
    assert (index.search(many, 5)[1] == reference.search(many, 5)[1]).all()
    same = ClipIndex(np.ones((5, 2), dtype=np.float32))
    assert same.search(np.ones((1, 2), dtype=np.float32), 3)[1].tolist() == [[0, 1, 2]]
