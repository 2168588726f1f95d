"""The README's catalogue walk-through, end to end through the CLI: a catalogue with no
curated links and no footage goes from ingest to a batch of ads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app

CATALOGUE = Path(__file__).resolve().parents[1] / "examples" / "catalogue"
runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_catalogue_to_a_batch_of_ads_without_curators_or_footage(tmp_path: Path) -> None:
    db = str(tmp_path / "ackb")
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE, folder)
    # 1. ingest the catalogue: products, categories, selling points (no clip, no link)
    _run("graph", "ingest", str(folder / "catalogue.jsonl"), "--db", db)
    # 2. motion knowledge without curators
    linked = _run("graph", "link-motion", "--db", db)
    assert "motion vocabulary: 22 motion patterns added" in linked
    assert "default settings (too few curated links to calibrate)" in linked
    similar = json.loads(_run("graph", "query", "similar_products", "-p",
                              "product=p-brisa-kettle", "-p", "limit=5", "--db", db, "--json"))
    assert similar and all(r["shared"] > 0 or r["same_category"] for r in similar)
    # 3. a batch of ads, one per product (small frames keep the test quick)
    jobs = tmp_path / "jobs.jsonl"
    rows = [json.loads(line) | {"size": "180x320"}
            for line in (folder / "jobs.jsonl").read_text().splitlines()]
    jobs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "ads"
    summary = _run("generate", "batch", str(jobs), "--out", str(out), "--db", db)
    assert "20 done, 0 skipped, 0 failed" in summary
    for row in rows:
        sidecar = json.loads((out / f"{row['id']}.json").read_text())
        assert [f["fallback"] for f in sidecar["fallbacks"]] == ["text", "text"]
        assert all(s["suggested_motion"] for s in sidecar["scenes"])  # the linker's patterns
        assert sidecar["output"]["frames"] == 180
    report = _run("generate", "report", str(out))
    assert "(20 ads)" in report
