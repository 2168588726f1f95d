"""`kdcvg sar ...` end to end on the real embedded graph server, through the root app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import EXAMPLES
from graphs import load_demo
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.demo import catalog as cat

runner = CliRunner()


def _add_still(cli_env: list[str], folder: Any) -> None:
    """A product photo (a still) that curators say expresses sp-edge-knife-2."""
    from PIL import Image

    from kdcvg.demo.photos import render_photo

    folder.mkdir()
    Image.fromarray(render_photo("bottle", (120, 80, 40), "Edge", size=(240, 240))).save(
        folder / "handle.jpg", quality=90)
    (folder / "handle.jpg.json").write_text(json.dumps(
        {"id": "still-edge-knife-handle", "product": "edge-knife",
         "caption": "The knife's balanced wooden handle rests in an open hand.",
         "selling_points": ["sp-edge-knife-2"]}))
    out = runner.invoke(app, ["clips", "ingest", str(folder), *cli_env])
    assert out.exit_code == 0, out.output


@pytest.mark.slow
def test_train_retrieve_feedback_eval(store, embedder, cli_env, tmp_path):
    load_demo(store, embedder)
    _add_still(cli_env, tmp_path / "photos")
    out = runner.invoke(app, ["sar", "retrieve", "crunchy chips", *cli_env])
    assert out.exit_code == 1
    assert "no trained SAR model in" in out.output and "run `kdcvg sar train` first" in out.output

    out = runner.invoke(app, ["sar", "train", *cli_env, "--epochs", "8", "--ppo-steps", "64"])
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.output.splitlines() if ln.strip()]
    assert lines[-5].startswith("supervised: ") and "val_mrr=" in lines[-5]
    assert lines[-4].startswith("ppo: 64 steps") and (tmp_path / "home/sar/model").is_dir()
    assert lines[-3].startswith("fusion: ") and "w_lexical=" in lines[-3]
    # both objectives of the RL stage, before -> after
    assert lines[-2].startswith("objectives: relevance (validation MRR) ")
    assert "feedback (mean of the top 5, -1 to 1) 0.000 -> 0.000" in lines[-2]

    out = runner.invoke(app, ["sar", "retrieve", "Razor-sharp Japanese steel slices tomatoes "
                              "paper thin.", "--k", "3", "--json", *cli_env])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["known_selling_point"] == "sp-edge-knife-1"
    assert result["hits"][0]["clip_id"] == "clip-edge-knife-slice"
    assert result["hits"][0]["uri"] == "clips/clip-edge-knife-slice.mp4"
    assert len(result["hits"]) == 3
    assert 0 < result["timing"]["retrieve_ms"] < result["timing"]["wall_ms"]

    # SAR retrieves stills like clips: the photo curated for this selling point comes back
    out = runner.invoke(app, ["sar", "retrieve", "A balanced handle for comfortable, precise "
                              "cutting.", "--k", "3", "--json", *cli_env])
    assert out.exit_code == 0, out.output
    hits = {h["clip_id"]: h for h in json.loads(out.output)["hits"]}
    assert hits["still-edge-knife-handle"]["uri"].endswith("handle.jpg")

    out = runner.invoke(app, ["sar", "retrieve", "tasty", "--product", "nope", *cli_env])
    assert out.exit_code == 1 and "error: unknown product id 'nope'" in out.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"clip": "clip-x", "selling_point": "sp-edge-knife-1", "rating": 5}\n')
    out = runner.invoke(app, ["sar", "feedback", str(bad), *cli_env])
    assert out.exit_code == 1 and "unknown clip id 'clip-x'" in out.output
    assert not (tmp_path / "home/sar/feedback.jsonl").exists()
    # a clip users rate highly for a selling point moves up at the next retrieve
    knife = ["sar", "retrieve", "Razor-sharp Japanese steel slices tomatoes paper thin.",
             "--k", "10", "--json", *cli_env]
    ranked = [h["clip_id"] for h in json.loads(runner.invoke(app, knife).output)["hits"]]
    liked = ranked[5]
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"clip": liked, "selling_point": "sp-edge-knife-1",
                                "rating": 5}) + "\n")
    out = runner.invoke(app, ["sar", "feedback", str(good), *cli_env])
    assert out.exit_code == 0 and "recorded 1 feedback row(s)" in out.output
    out = runner.invoke(app, knife)
    assert out.exit_code == 0, out.output
    after = [h["clip_id"] for h in json.loads(out.output)["hits"]]
    assert after.index(liked) < 5 and after[0] == "clip-edge-knife-slice"

    # ratings of whole clips: the RL stage alone, reward all feedback, reports both objectives
    whole = tmp_path / "whole.csv"
    whole.write_text("clip,rating\n" + "".join(f"{c},5\n" for c in ranked[6:9])
                     + "".join(f"{c},1\n" for c in ranked[:3]))
    out = runner.invoke(app, ["sar", "feedback", str(whole), *cli_env])
    assert out.exit_code == 0 and "recorded 6 feedback row(s)" in out.output
    # the pair rated above became a link: the saved supervised model is of another graph
    out = runner.invoke(app, ["sar", "train", *cli_env, "--from-supervised"])
    assert out.exit_code == 1
    assert ("error: the saved supervised model was trained on another version of the graph; "
            "train it again (without --from-supervised)") in out.output
    out = runner.invoke(app, ["sar", "train", *cli_env, "--epochs", "8", "--feedback-weight", "1",
                              "--ppo-steps", "64", "--force", "--json"])
    assert out.exit_code == 0, out.output
    trained = json.loads(out.output)
    objectives = trained["objectives"]
    assert set(objectives) == {"relevance", "feedback"}
    assert all(set(v) == {"before", "after"} for v in objectives.values())
    assert [r["stage"] for r in trained["reports"]] == ["supervised", "ppo", "fusion"]
    assert trained["reports"][1]["metrics"]["feedback_weight"] == 1.0

    out = runner.invoke(app, ["sar", "eval", "--queries", str(EXAMPLES / "queries.jsonl"),
                              "--qrels", str(EXAMPLES / "qrels.trec"), "--baselines", "--json",
                              *cli_env])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.output)
    assert set(metrics) == {"sar", "sar-supervised", "dense", "bm25", "hybrid"}
    # the supervised stage beats dense; the model after it was trained for the ratings
    # alone (--feedback-weight 1, which demoted the three top clips), so it may trade
    # relevance for them
    assert metrics["sar-supervised"]["nDCG@10"] > metrics["dense"]["nDCG@10"]
    names = ["R@1", "R@5", "R@10", "RR", "nDCG@10", "R(rel=2)@10", "RR(rel=2)"]
    assert all(list(m) == names for m in metrics.values())
    # the strict measures count only the exact (grade-2) clips: SAR finds most of them
    assert all(0 <= m[name] <= 1 for m in metrics.values() for name in names)
    assert metrics["sar"]["R(rel=2)@10"] > 0.5 and metrics["sar"]["RR(rel=2)"] > 0.5
    table = runner.invoke(app, ["sar", "eval", "--queries", str(EXAMPLES / "queries.jsonl"),
                                "--qrels", str(EXAMPLES / "qrels.trec"), *cli_env])
    assert table.exit_code == 0, table.output
    header = next(line for line in table.output.splitlines() if "method" in line)
    assert [c.strip() for c in header.strip("┃│ ").replace("┃", "│").split("│")][1:] == names

    # the larger set's qrels name clips of another graph: a clear error, not zeros
    out = runner.invoke(app, ["sar", "eval", "--queries", str(EXAMPLES / "large/queries.jsonl"),
                              "--qrels", str(EXAMPLES / "large/qrels.trec"), *cli_env])
    assert out.exit_code == 1
    assert "qrels name clips that are not in the graph: clip-a-" in out.output
    assert "kdcvg graph ingest examples/sar/large/ackb.jsonl" in out.output


def test_training_refuses_an_empty_graph(store, cli_env, tmp_path):
    out = runner.invoke(app, ["sar", "train", *cli_env])
    assert out.exit_code == 1
    assert "SAR training needs at least 2" in out.output
    assert not (tmp_path / "home" / "sar").exists()


def test_graph_texts_name_each_selling_points_product(store, embedder):
    from kdcvg.retrieval.retrieve import GraphTexts

    load_demo(store, embedder)
    texts = GraphTexts.from_store(store)
    assert {k: v["product"] for k, v in texts.selling_points.items()} == {
        s.id: s.product for s in cat.SELLING_POINTS}
    assert texts.clips["clip-edge-knife-slice"]["product"] == "edge-knife"


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_feedback_weight_is_a_number_from_0_to_1(tmp_path, value):
    out = runner.invoke(app, ["sar", "train", "--db", str(tmp_path / "ackb"),
                              "--feedback-weight", value], env={"COLUMNS": "200"})
    assert out.exit_code == 2
    assert (f"Invalid value for '--feedback-weight': feedback weight must be a number from 0 "
            f"to 1, got {float(value)!r}") in out.output
    assert not (tmp_path / "ackb").exists()


def test_whole_clip_feedback_is_stored_or_refused_whole(store, embedder, cli_env, tmp_path):
    from kdcvg.retrieval.feedback import clip_feedback, load_feedback

    load_demo(store, embedder)
    good = tmp_path / "ratings.jsonl"
    good.write_text('{"clip": "clip-edge-knife-slice", "rating": 5}\n'
                    '{"clip": "clip-edge-knife-slice", "selling_point": null, "rating": 4}\n'
                    '{"clip": "clip-edge-knife-slice", "selling_point": "sp-edge-knife-1", '
                    '"clicks": 3, "impressions": 10}\n')
    out = runner.invoke(app, ["sar", "feedback", str(good), *cli_env])
    assert out.exit_code == 0, out.output
    assert "recorded 3 feedback row(s)" in out.output
    stored = load_feedback(tmp_path / "home" / "sar")
    assert [(r["clip"], r["selling_point"], r["raw"]) for r in stored] == [
        ("clip-edge-knife-slice", None, {"rating": 5}),
        ("clip-edge-knife-slice", None, {"rating": 4}),
        ("clip-edge-knife-slice", "sp-edge-knife-1", {"clicks": 3, "impressions": 10})]
    assert clip_feedback(stored) == {"clip-edge-knife-slice": [1.0, 0.5]}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"clip": "clip-edge-knife-slice", "rating": 3}\n'
                   '{"clip": "clip-edge-knife-slice", "rating": 1e999}\n')
    before = (tmp_path / "home" / "sar" / "feedback.jsonl").read_text()
    out = runner.invoke(app, ["sar", "feedback", str(bad), *cli_env], env={"COLUMNS": "200"})
    assert out.exit_code == 1
    assert f"{bad}:2: rating: inf is not a finite number" in out.output
    assert (tmp_path / "home" / "sar" / "feedback.jsonl").read_text() == before
