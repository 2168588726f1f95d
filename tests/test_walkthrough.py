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
    # 1. ingest the catalogue: products, categories, selling points (no clip, no link);
    #    the boilerplate bullet is reported and left out, the rest linked to motion patterns
    result = runner.invoke(app, ["graph", "ingest", str(folder / "catalogue.jsonl"), "--db", db,
                                 "--skip-boilerplate"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 boilerplate texts shared by many products (8 selling points)" in \
        result.stderr
    assert "motion vocabulary: 22 motion patterns added" in result.stdout
    assert "default settings (too few curated links to calibrate)" in result.stdout
    # 2. the product photos, drawn by the project, as stills linked to their products
    from kdcvg.demo.photos import render_catalogue_photos

    render_catalogue_photos(folder)
    photos = _run("clips", "ingest", str(folder / "photos"), "--db", db)
    assert "ingested 20, unchanged 0, failed 0" in photos
    # the linker again over the whole graph: nothing new to link
    linked = _run("graph", "link-motion", "--db", db)
    assert "(0 new or changed" in linked
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
        # the product's one photo first (moved as its selling point suggests), then a
        # designed scene in the photo's colours
        assert [f["fallback"] for f in sidecar["fallbacks"]] == ["still", "text"]
        first, second = sidecar["scenes"]
        assert first["references"][0]["clip_id"] == f"photo-{row['product'][2:]}"
        assert second["palette"]
        assert all(s["suggested_motion"] for s in sidecar["scenes"])  # the linker's patterns
        assert sidecar["backend"]["metadata"]["scenes"][0]["mode"] != "clip"
        assert sidecar["output"]["frames"] == 180
    report = _run("generate", "report", str(out))
    assert "(20 ads)" in report
    page = (out / "report.html").read_text()
    assert page.count("fell back to a photo of the product") == 20
    assert page.count("fell back to a designed text scene") == 20
