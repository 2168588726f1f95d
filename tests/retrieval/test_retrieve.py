import pytest

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.retrieve import SarRetriever
from kdcvg.retrieval.scenes import Reference


@pytest.fixture(scope="module")
def retriever(trained, demo_graph, embedder):
    from conftest import catalogue_texts

    return SarRetriever(trained[1], *demo_graph, catalogue_texts(), embedder)


def test_known_selling_point_returns_its_curated_clip_first(retriever):
    result = retriever.retrieve("Razor-sharp Japanese steel slices tomatoes paper thin.", k=3)
    assert result.known_selling_point == "sp-edge-knife-1"
    assert result.hits[0].clip_id == "clip-edge-knife-slice"
    assert result.hits[0].caption == "The knife slices cleanly down through a ripe tomato."
    assert result.hits[0].motion_patterns == (("pour", 1.0),)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert len(result.hits) == 3


def test_new_text_is_attached_and_explained(retriever):
    result = retriever.retrieve("earbuds that block out traffic noise on the subway",
                                product="pulse-earbuds", k=5)
    assert result.known_selling_point is None
    assert any(h.clip_id.startswith("clip-pulse-earbuds") for h in result.hits[:2])
    kinds = {n.node_type for n in result.query_neighbours}
    assert kinds <= {"product", "category", "selling_point"} and result.query_neighbours
    top_sp = [n for n in result.query_neighbours if n.node_type == "selling_point"]
    assert top_sp and top_sp[0].text  # explanations carry the neighbour's text
    assert all(0.0 <= n.weight <= 1.0 for n in result.query_neighbours)
    assert result.hits[0].neighbours  # each clip explained by its top-attended neighbours


def test_references_for_the_generation_front_end(retriever, demo_graph):
    refs = retriever.references("Chips tumble into a bowl with a loud crunch", "crunch-chips", 2)
    assert len(refs) == 2 and all(isinstance(r, Reference) for r in refs)
    assert refs[0].uri.startswith("clips/") and refs[0].score >= refs[1].score
    row = retriever.inputs.index_of("clip")[refs[0].clip_id]
    expected = demo_graph[0]["clip"].motion[row].tolist()
    assert refs[0].motion is not None and len(refs[0].motion) == 16
    assert refs[0].motion == pytest.approx(expected, abs=1e-6)


def test_clip_without_motion_has_no_descriptor(trained, demo_graph, embedder):
    from conftest import catalogue_texts

    data = demo_graph[0].clone()
    data["clip"].has_motion = data["clip"].has_motion.clone()
    data["clip"].has_motion[:] = False
    ret = SarRetriever(trained[1], data, demo_graph[1], catalogue_texts(), embedder)
    assert all(h.motion is None for h in ret.retrieve("crunchy chips", k=3).hits)


def test_index_is_persisted_and_rebuilt_when_the_graph_changes(trained, demo_graph, embedder,
                                                               tmp_path):
    import json

    from conftest import catalogue_texts

    from kdcvg.retrieval.model import SarModel

    trained[1].save_pretrained(tmp_path / "model")
    model = SarModel.from_pretrained(tmp_path / "model")
    data, ids = demo_graph
    first = SarRetriever(model, data, ids, catalogue_texts(), embedder, tmp_path / "model")
    assert first.index_source == "built"
    meta = json.loads((tmp_path / "model" / "index.json").read_text())
    assert meta == {"graph_version": data.graph_version, "model_digest": model.digest,
                    "kind": "flat", "size": 33, "dim": 64 + 384 + 384 + 768}
    again = SarRetriever(model, data, ids, catalogue_texts(), embedder, tmp_path / "model")
    assert again.index_source == "loaded"
    query = "Razor-sharp Japanese steel slices tomatoes paper thin."
    assert [h.clip_id for h in again.retrieve(query, k=5).hits] == \
        [h.clip_id for h in first.retrieve(query, k=5).hits]
    grown = data.clone()
    grown.graph_version = "test-grown"
    changed = SarRetriever(model, grown, ids, catalogue_texts(), embedder, tmp_path / "model")
    assert changed.index_source == "rebuilt"
    assert json.loads((tmp_path / "model" / "index.json").read_text())["graph_version"] \
        == "test-grown"


@pytest.mark.parametrize(("text", "product", "message"), [
    ("   ", None, "selling-point text is empty; give a sentence such as "
                 "'keeps drinks cold for 24 hours'"),
    ("x" * 2001, None, "selling-point text is 2001 characters, the limit is 2000; "
                       "give one selling point, not a document"),
    ("crunchy", "no-such-product", "unknown product id 'no-such-product'; list products with "
                                   "`kdcvg graph stats` or leave out --product"),
])
def test_bad_queries_are_clear_errors(retriever, text, product, message):
    with pytest.raises(RetrievalError) as e:
        retriever.retrieve(text, product=product)
    assert str(e.value) == message


def test_the_index_inner_product_is_the_score(embedder):
    """Random graph, random weights: the index ranks by `SCGAT.score`, the function training
    and validation score with, for known selling points and for new text."""
    import json

    import torch
    from conftest import EXAMPLES
    from graphs import demo_texts, random_encoder, random_heterodata

    from kdcvg.retrieval.config import EncoderConfig, SarConfig
    from kdcvg.retrieval.encoder import GraphContext
    from kdcvg.retrieval.features import attach_edges, build_inputs
    from kdcvg.retrieval.model import SarModel
    from kdcvg.retrieval.retrieve import GraphTexts
    from kdcvg.retrieval.train import score_queries

    sp_texts = list(demo_texts()["selling_point"].values())
    data, ids = random_heterodata(7, torch.from_numpy(embedder.embed(sp_texts)))
    clips = ids["clip"]
    encoder = random_encoder(build_inputs(data, ids, knn=5).in_channels, seed=7)
    texts = GraphTexts({c: {"caption": c, "uri": f"{c}.mp4"} for c in clips},
                       {k: {"text": t} for k, t in zip(ids["selling_point"], sp_texts,
                                                       strict=True)})
    model = SarModel(SarConfig(encoder=EncoderConfig(hidden=32, out=16, heads=2)), encoder,
                     "random-7")
    ret = SarRetriever(model, data, ids, texts, embedder)
    inputs, row = ret.inputs, ret.inputs.index_of("clip")

    def ranked(text: str) -> torch.Tensor:  # the index's scores, in clip row order
        hits = ret.retrieve(text, k=len(clips)).hits
        assert len(hits) == len(clips)
        out = torch.zeros(len(clips))
        out[[row[h.clip_id] for h in hits]] = torch.tensor([h.score for h in hits])
        return out

    known = [0, 9, 20]
    with torch.no_grad():
        expected = score_queries(encoder, inputs, known,
                                 torch.zeros(len(sp_texts), dtype=torch.bool), keep_self=True)
    for i, sp in enumerate(known):
        assert ret.retrieve(sp_texts[sp]).known_selling_point == ids["selling_point"][sp]
        assert torch.allclose(ranked(sp_texts[sp]), expected[i], atol=1e-4)

    new = [json.loads(line)["text"] for line in
           (EXAMPLES / "queries.jsonl").read_text().splitlines()[:4]]
    x = torch.from_numpy(embedder.embed(new))
    _, near = inputs.sp_index.search(x.numpy(), model.config.encoder.knn)
    minus = torch.full((len(new),), -1)
    with torch.no_grad():
        ctx = encoder.encode_graph(GraphContext.of(inputs))
        queries = encoder.encode_queries(ctx, x, attach_edges(minus, minus,
                                                              torch.from_numpy(near)))
        expected = encoder.score(encoder.query_vectors(queries), encoder.clip_vectors(ctx))
    assert float(queries.weights.attention.max()) > 0.1  # the graph terms take part
    assert float(queries.weights.context.abs().max()) > 0.1
    for i, text in enumerate(new):
        assert ret.retrieve(text).known_selling_point is None
        assert torch.allclose(ranked(text), expected[i], atol=1e-4)


def _same(a, b):
    """Two results equal: query, known id, neighbours, clips in order, scores to 1e-5."""
    assert (a.query, a.known_selling_point) == (b.query, b.known_selling_point)
    assert [(n.node_type, n.key) for n in a.query_neighbours] == \
        [(n.node_type, n.key) for n in b.query_neighbours]
    assert [h.clip_id for h in a.hits] == [h.clip_id for h in b.hits]
    assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=1e-5)
    assert [h.matched_words for h in a.hits] == [h.matched_words for h in b.hits]


@pytest.mark.parametrize("rated", [False, True], ids=["plain", "feedback"])
def test_retrieve_many_answers_each_as_retrieve_and_a_bad_one_fails_alone(
        trained, demo_graph, embedder, rated):
    """The server's micro-batch: known and new texts, products, a category and several k
    in one call give what `retrieve` gives one at a time; bad queries fail alone, with
    `retrieve`'s message."""
    from dataclasses import replace

    import numpy as np
    from conftest import catalogue_texts

    from kdcvg.retrieval.retrieve import SarQuery

    model, prior = trained[1], None
    if rated:  # the feedback term makes the search go deeper (`prior.rerank`)
        prior = np.zeros(len(demo_graph[1]["clip"]), dtype=np.float32)
        prior[[3, 17]] = [1.0, -0.5]
        model = replace(model, prior_weight=5.0)
    ret = SarRetriever(model, *demo_graph, catalogue_texts(), embedder, prior=prior)
    category = ret.inputs.keys["category"][0]
    queries = [SarQuery("Razor-sharp Japanese steel slices tomatoes paper thin.", k=3),
               SarQuery("crunchy", "no-such-product"),
               SarQuery("earbuds that block out traffic noise on the subway", "pulse-earbuds", k=5),
               SarQuery("   "),
               SarQuery("Chips tumble into a bowl with a loud crunch", "crunch-chips"),
               SarQuery("a quiet kitchen gadget", None, category, k=33),
               SarQuery("cold", k=0),
               SarQuery("crunchy", None, "no-such-category"),
               SarQuery("keeps drinks cold for hours", k=3)]
    many = ret.retrieve_many(queries)
    assert len(many) == len(queries)
    for q, got in zip(queries, many, strict=True):
        try:
            alone = ret.retrieve(q.text, q.product, q.category, q.k)
        except RetrievalError as e:
            assert isinstance(got, RetrievalError) and str(got) == str(e)
        else:
            assert not isinstance(got, RetrievalError), got
            _same(got, alone)
    refused = [str(r) for r in many if isinstance(r, RetrievalError)]
    assert len(refused) == 4 and refused[2] == "k must be at least 1, got 0"
    assert ret.retrieve_many([]) == []
