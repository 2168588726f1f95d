import pytest

from kdcvg.errors import RetrievalError
from kdcvg.generation.base import Reference
from kdcvg.retrieval.retrieve import SarRetriever


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


def test_references_for_the_generation_front_end(retriever):
    refs = retriever.references("Chips tumble into a bowl with a loud crunch", "crunch-chips", 2)
    assert len(refs) == 2 and all(isinstance(r, Reference) for r in refs)
    assert refs[0].uri.startswith("clips/") and refs[0].score >= refs[1].score


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
