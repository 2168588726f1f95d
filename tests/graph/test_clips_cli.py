"""`kdcvg clips ingest` end to end: CliRunner, a real embedded database, a good and a bad file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.demo.catalog import DEMO_CLIPS, PRODUCTS
from kdcvg.demo.footage import render_clip
from kdcvg.media.video import write_mp4

runner = CliRunner()


def test_ingest_reports_the_bad_file_and_keeps_the_good_one(tmp_path: Path) -> None:
    spec = next(c for c in DEMO_CLIPS if c.id == "clip-edge-knife-pan")
    product = next(p for p in PRODUCTS if p.id == spec.product)
    folder = tmp_path / "footage"
    folder.mkdir()
    write_mp4(folder / "Knife Pan.mp4", render_clip(spec, product), spec.fps)
    (folder / "broken.mp4").write_text("this is not a video")
    db = tmp_path / "ackb"

    result = runner.invoke(app, ["clips", "ingest", str(folder), "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert "ingested 1, unchanged 0, failed 1" in result.stdout
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 1
    assert failures[0].startswith(f"failed: {folder / 'broken.mp4'}: not a readable video")

    rows = runner.invoke(
        app,
        [
            "graph",
            "cypher",
            "MATCH (c:Clip)-[r:HAS_MOTION]->(m:MotionPattern) "
            "RETURN c.id AS id, c.width AS w, m.name AS m, r.source AS s ORDER BY r.score DESC",
            "--db",
            str(db),
            "--json",
        ],
    )
    assert rows.exit_code == 0, rows.output
    links = json.loads(rows.stdout)
    assert {r["id"] for r in links} == {"knife-pan"}  # the file name's slug
    assert links[0] == {"id": "knife-pan", "w": 192, "m": "pan_left", "s": "auto"}
    assert (db.parent / "thumbs" / "knife-pan.jpg").exists()  # keyframes beside the database

    again = runner.invoke(app, ["clips", "ingest", str(folder / "Knife Pan.mp4"), "--db", str(db)])
    assert again.exit_code == 0, again.output
    assert "ingested 0, unchanged 1, failed 0" in again.stdout
