"""`sar train` on thin supervision: counts, a refusal that says what to do, a warning, and
a saved model that validated better is kept unless --force."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.demo import catalog as cat
from kdcvg.retrieval.supervision import (
    Supervision,
    keep_new,
    recall_warning,
    require,
    validation_recall,
)

runner = CliRunner()


def _reports(recall: float, mrr: float = 0.1) -> list[dict[str, Any]]:
    return [{"stage": "supervised", "metrics": {"val_mrr": mrr, "val_recall@10": recall}}]


def test_keep_new_only_refuses_a_worse_model() -> None:
    assert validation_recall(_reports(0.4)) == ("recall@10", 0.4)
    assert keep_new(None, _reports(0.0)) is None
    assert keep_new(_reports(0.2), _reports(0.3)) is None
    assert keep_new(_reports(0.5, 0.9), _reports(0.5, 0.2)) is not None
    assert keep_new(_reports(0.5), _reports(0.0)) == (
        "the new model validated worse (recall@10 0.000, MRR 0.100) than the saved model "
        "(0.500, MRR 0.100); the saved model is kept (--force replaces it)")


def test_near_zero_recall_is_warned() -> None:
    assert recall_warning(_reports(0.3)) is None
    assert recall_warning(_reports(0.0)).startswith(  # type: ignore[union-attr]
        "warning: validation recall@10 is 0.000: the model retrieves almost nothing")


def test_refusal_names_the_commands_that_add_supervision() -> None:
    with pytest.raises(Exception, match="kdcvg graph link --clip ID --selling-point ID") as e:
        require(Supervision(1000, 0, 0, 0), 2)
    assert str(e.value).startswith("found 1000 clips (0 stills), 0 curated EXPRESSES links on "
                                   "0 selling points; SAR training needs at least 2")
    assert "kdcvg clips ingest" in str(e.value)
    require(Supervision(3, 1, 2, 2), 2)


@pytest.mark.slow
def test_thin_supervision_is_said_warned_and_does_not_replace_a_better_model(
    store: Any, embedder: Any, cli_env: list[str], tmp_path: Any
) -> None:
    from kdcvg.demo.build import catalogue_batch
    from kdcvg.graph.ingest import write_batch

    batch = catalogue_batch()
    for c in cat.DEMO_CLIPS:
        batch.add_node("Clip", {"id": c.id, "uri": f"clips/{c.id}.mp4", "caption": c.caption})
    # two curated links, as a new curator has: the serum and the watch
    batch.add_link("EXPRESSES", "clip-lumen-serum-drip", "sp-lumen-serum-1",
                   {"weight": 1.0, "source": "curated"})
    batch.add_link("EXPRESSES", "clip-orbit-watch-roll", "sp-orbit-watch-1",
                   {"weight": 1.0, "source": "curated"})
    write_batch(store, batch, embedder)
    args = ["sar", "train", *cli_env, "--epochs", "4", "--rl", "none"]

    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == (
        f"found {len(cat.DEMO_CLIPS)} clips (0 stills), 2 curated EXPRESSES links on 2 selling "
        "points")
    config = tmp_path / "home" / "sar" / "model" / "config.json"
    metrics = json.loads(config.read_text())["reports"][0]["metrics"]
    # one validation selling point: the warning follows its recall
    assert ("warning: validation recall@10" in out.stderr) == (metrics["val_recall@10"] < 0.05)
    # a saved model that validated better (as if trained on more links) is kept
    meta = json.loads(config.read_text())
    meta["reports"][0]["metrics"].update({"val_recall@10": 1.0, "val_mrr": 1.0})
    config.write_text(json.dumps(meta))
    out = runner.invoke(app, args)
    assert out.exit_code == 1
    assert "not saved: the new model validated worse" in out.output
    assert json.loads(config.read_text())["reports"][0]["metrics"]["val_mrr"] == 1.0
    out = runner.invoke(app, [*args, "--force"])
    assert out.exit_code == 0, out.output
    assert json.loads(config.read_text())["reports"][0]["metrics"]["val_mrr"] == \
        metrics["val_mrr"]
