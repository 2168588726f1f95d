"""`kdcvg sar ...` end to end on the real embedded graph server, through the root app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.demo import catalog as cat

runner = CliRunner()


def _load_demo(store: Any, embedder: Any) -> None:
    from kdcvg.demo.build import catalogue_batch
    from kdcvg.graph.ingest import write_batch

    batch = catalogue_batch()
    for c in cat.DEMO_CLIPS:
        batch.add_node("Clip", {"id": c.id, "uri": f"clips/{c.id}.mp4", "caption": c.caption,
                                "product": c.product})
        batch.add_link("SHOWS", c.id, c.product)
        for sp, w in c.expresses:
            batch.add_link("EXPRESSES", c.id, sp, {"weight": w, "source": "curated"})
        for m in (c.motion, *c.creative):
            batch.add_link("HAS_MOTION", c.id, m, {"score": 1.0, "source": "curated"})
    write_batch(store, batch, embedder)


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
    _load_demo(store, embedder)
    _add_still(cli_env, tmp_path / "photos")
    out = runner.invoke(app, ["sar", "retrieve", "crunchy chips", *cli_env])
    assert out.exit_code == 1
    assert "no trained SAR model in" in out.output and "run `kdcvg sar train` first" in out.output

    out = runner.invoke(app, ["sar", "train", *cli_env, "--epochs", "8", "--ppo-steps", "64"])
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.output.splitlines() if ln.strip()]
    assert lines[-4].startswith("supervised: ") and "val_mrr=" in lines[-4]
    assert lines[-3].startswith("ppo: 64 steps") and (tmp_path / "home/sar/model").is_dir()
    assert lines[-2].startswith("fusion: ") and "w_lexical=" in lines[-2]

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

    out = runner.invoke(app, ["sar", "eval", "--queries", str(EXAMPLES / "queries.jsonl"),
                              "--qrels", str(EXAMPLES / "qrels.trec"), "--baselines", "--json",
                              *cli_env])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.output)
    assert set(metrics) == {"sar", "sar-supervised", "dense", "bm25", "hybrid"}
    assert metrics["sar"]["nDCG@10"] > metrics["dense"]["nDCG@10"]
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

    _load_demo(store, embedder)
    texts = GraphTexts.from_store(store)
    assert {k: v["product"] for k, v in texts.selling_points.items()} == {
        s.id: s.product for s in cat.SELLING_POINTS}
    assert texts.clips["clip-edge-knife-slice"]["product"] == "edge-knife"
