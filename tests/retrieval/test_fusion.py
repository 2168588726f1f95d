"""The fused score (`kdcvg/retrieval/fusion.py`): learned weights, lexical-only matches."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from conftest import catalogue_texts
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.retrieval.config import FusionConfig
from kdcvg.retrieval.fusion import (
    LexicalIndex,
    documents,
    fit_weights,
    merge_candidates,
)

runner = CliRunner()


def _batch(lexical_says: bool, n: int = 40, k: int = 12, seed: int = 0
           ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[list[int]]]:
    """Queries whose positive (row 0) the lexical feature marks, or does not."""
    rng = np.random.default_rng(seed)
    batch, pos = [], []
    for _ in range(n):
        sar = rng.normal(size=k).astype(np.float32)
        lex = rng.uniform(0, 0.5, size=k).astype(np.float32)
        if lexical_says:
            lex[0] = 1.0
        batch.append((np.arange(k), np.stack([sar, lex], axis=1)))
        pos.append([0])
    return batch, pos


def test_the_weights_are_learned_from_the_links():
    """Where the words find the linked clip, the lexical term gains weight; where they
    do not, it stays near 0: the data sets the weights, not a constant."""
    config = FusionConfig()
    words = fit_weights(*_batch(True), config)
    noise = fit_weights(*_batch(False), config)
    assert words.weights["lexical"] > 2.0, words.weights
    assert noise.weights["lexical"] < 0.5, noise.weights
    assert words.report["fusion_loss"] < words.report["fusion_loss_before"]
    assert min(noise.weights.values()) >= 0.0  # a term never counts against a clip


def test_bm25_candidates_join_scgats_without_duplicates():
    lexical = np.array([0.0, 0.9, 0.2, 1.0, 0.0], dtype=np.float32)
    merged = merge_candidates(np.array([3, 4, -1]), lexical, depth=2)
    assert merged.tolist() == [3, 4, 1]  # clip 0 and 4 have no words in common: not added


def test_documents_hold_captions_and_linked_selling_points():
    docs = documents(["a red mug", "a blue kettle"], ["keeps tea hot", "dishwasher safe"],
                     torch.tensor([[1, 1], [0, 1]]))
    assert docs == ["a red mug", "a blue kettle keeps tea hot dishwasher safe"]
    index = LexicalIndex(docs)
    scores = index.normalised(["dishwasher kettle"])
    assert scores[0, 1] == 1.0 and scores[0, 0] == 0.0
    assert index.matched("Is the kettle dishwasher-safe?", [1, 0]) == [
        ["kettle", "dishwasher", "safe"], []]
    assert index.matched("kettle", []) == []


def test_weights_survive_save_and_load(trained, tmp_path):
    from kdcvg.retrieval.model import SarModel

    _, model = trained
    assert model.fusion is not None
    model.save_pretrained(tmp_path / "m")
    loaded = SarModel.from_pretrained(tmp_path / "m")
    assert loaded.fusion is not None
    assert loaded.fusion.weights == model.fusion.weights
    assert loaded.fusion.depth == model.fusion.depth
    assert [r["stage"] for r in loaded.reports][-1] == "fusion"


def test_fused_scores_are_the_sum_of_named_terms(trained, demo_graph, embedder):
    """Every hit names each term's share, and they add up to its score; SC-GAT's share
    is the index's inner product (the one scoring path)."""
    from kdcvg.retrieval.retrieve import SarRetriever

    _, model = trained
    retriever = SarRetriever(model, *demo_graph, catalogue_texts(), embedder)
    result = retriever.retrieve("cold brew coffee steeped for twenty hours", k=5)
    vec, _, _ = retriever.query_vectors([result.query], [None])
    for hit in result.hits:
        terms = dict(hit.terms)
        assert set(terms) == {"scgat", "lexical"}
        assert hit.score == pytest.approx(sum(terms.values()), abs=1e-4)
        row = retriever.inputs.index_of("clip")[hit.clip_id]
        inner = float((retriever.index.vectors(np.array([row])) @ vec[0])[0])
        assert terms["scgat"] == pytest.approx(model.fusion.weights["scgat"] * inner, rel=1e-4)


def test_the_feedback_term_joins_the_fused_score_at_scgat_scale(trained, demo_graph, embedder):
    """With rated clips each hit names three terms that add up to its score; the feedback
    share is `w_scgat x prior_weight x prior`, and a strongly rated clip rises."""
    from dataclasses import replace

    from kdcvg.retrieval.retrieve import SarRetriever

    _, model = trained
    text = "cold brew coffee steeped for twenty hours"
    plain = SarRetriever(model, *demo_graph, catalogue_texts(), embedder).retrieve(text, k=33)
    last = plain.hits[-1].clip_id
    rows = SarRetriever(model, *demo_graph, catalogue_texts(), embedder).inputs.index_of("clip")
    prior = np.zeros(len(rows), dtype=np.float32)
    prior[rows[last]] = 1.0
    rated = replace(model, prior_weight=50.0)
    retriever = SarRetriever(rated, *demo_graph, catalogue_texts(), embedder, prior=prior)
    result = retriever.retrieve(text, k=5)
    w = model.fusion.weights["scgat"]
    for hit in result.hits:
        terms = dict(hit.terms)
        assert set(terms) == {"scgat", "lexical", "feedback"}
        assert hit.score == pytest.approx(sum(terms.values()), abs=1e-4)
        expected = w * 50.0 * float(prior[rows[hit.clip_id]])
        assert terms["feedback"] == pytest.approx(expected, abs=1e-4)
    assert w > 0  # the demo's fit keeps SC-GAT's weight: the rated clip comes first
    assert result.hits[0].clip_id == last


CODES = ["zorvane", "quillex", "brantoq", "velmira", "tashkor", "yondrel", "pruvast", "kelmora",
         "dravix", "sunquel", "morbith", "taviren", "glendox", "ravosk", "hemtral", "cordwyn",
         "plasmek", "ultrov", "fendrik", "noxarel", "jolvane", "tressik", "wyndral", "ombrisk"]
SCENES = ["A dog runs along the beach at sunrise.", "A chef stirs pasta in a busy kitchen.",
          "Two friends hike up a snowy mountain.", "A child paints at a kitchen table."]
# the scenes again, in other words: what a curator who watched another ad might write
RETOLD = ["A puppy sprints across the seashore", "A cook mixes noodles on the stove",
          "Pals trek up a frosty peak", "A kid draws with crayons at home"]


def _code_graph(path: Any) -> Any:
    """24 ads in one category: each clip's caption is one of four scenes and names its
    product's made-up code; its three selling points name the code in the words of the
    three *other* scenes. Only the code tells which ad a selling point belongs to."""
    rows: list[dict[str, Any]] = [{"type": "category", "name": "home"}]
    for i, code in enumerate(CODES):
        rows += [{"type": "product", "id": f"p{i}", "name": "home gadget", "category": "home"},
                 {"type": "clip", "id": f"c{i}", "uri": f"clips/c{i}.mp4", "product": f"p{i}",
                  "caption": f"{SCENES[i % 4]} Featuring the {code}."}]
        for j in range(1, 4):
            rows += [{"type": "selling_point", "id": f"s{i}-{j}", "product": f"p{i}",
                      "text": f"{RETOLD[(i + j) % 4]} with the {code}."},
                     {"type": "link", "rel": "EXPRESSES", "from": f"c{i}", "to": f"s{i}-{j}"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_a_word_only_match_is_found_through_sar_retrieve(store, embedder, cli_env, tmp_path):
    """A query naming clip c1's code in the words of another scene: dense retrieval ranks
    the beach clips first; SAR's learned lexical term finds c1 and says why."""
    out = runner.invoke(app, ["graph", "ingest", str(_code_graph(tmp_path / "ackb.jsonl")),
                              *cli_env])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["sar", "train", *cli_env, "--epochs", "6", "--rl", "none"])
    assert out.exit_code == 0, out.output
    fusion = next(ln for ln in out.output.splitlines() if ln.startswith("fusion: "))
    weight = float(fusion.split("w_lexical=")[1].split()[0])
    assert weight > 0.5, fusion  # the held-out links taught the words' weight

    query = "A puppy sprints across the seashore with the quillex."
    dense = embedder.embed([query]) @ embedder.embed(
        [f"{SCENES[i % 4]} Featuring the {c}." for i, c in enumerate(CODES)]).T
    assert 1 not in np.argsort(-dense[0])[:3].tolist()  # the dense path misses c1

    out = runner.invoke(app, ["sar", "retrieve", query, "--k", "3", "--json", *cli_env])
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)["hits"]
    top = hits[0]
    assert top["clip_id"] == "c1"
    terms = dict(top["terms"])
    assert terms["lexical"] > 0 and "quillex" in top["matched_words"]
    assert top["score"] == pytest.approx(terms["scgat"] + terms["lexical"], abs=1e-3)

    out = runner.invoke(app, ["sar", "retrieve", query, "--k", "1", *cli_env])
    assert out.exit_code == 0, out.output
    assert "lexical" in out.output and "quillex" in out.output
