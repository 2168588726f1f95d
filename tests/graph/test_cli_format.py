"""Query output for people and programs: tables never cut ids; --format csv and json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app

runner = CliRunner()
PRODUCT = "p-" + "a" * 30  # 32 characters, as marketplace ids are
SPS = [f"sp-{i}-" + "b" * 27 for i in range(2)]  # 32 characters


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fmt")
    source = folder / "shop.jsonl"
    rows = [{"type": "product", "id": PRODUCT, "name": "A product with a rather long name"}]
    rows += [{"type": "selling_point", "id": sp, "product": PRODUCT,
              "text": f"Selling point number {i} says something quite long about it"}
             for i, sp in enumerate(SPS)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(source), "--no-link-motion", "--db",
                                 str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_a_narrow_table_keeps_every_id_whole(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    result = runner.invoke(app, ["graph", "query", "selling_points_of_product", "-p",
                                 f"product={PRODUCT}", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert all(sp in result.output for sp in SPS) and "…" not in result.output
    gaps = runner.invoke(app, ["graph", "query", "coverage_gaps", "--db", str(db)])
    assert gaps.exit_code == 0, gaps.output
    assert PRODUCT in gaps.output and all(sp in gaps.output for sp in SPS)
    assert "…" not in gaps.output


def test_csv_and_json_formats(db: Path) -> None:
    result = runner.invoke(app, ["graph", "query", "coverage_gaps", "--format", "csv", "--db",
                                 str(db)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["selling_point"] for r in rows) == SPS and rows[0]["product"] == PRODUCT
    as_json = runner.invoke(app, ["graph", "query", "coverage_gaps", "--format", "json", "--db",
                                  str(db)])
    assert sorted(r["selling_point"] for r in json.loads(as_json.stdout)) == SPS
    bad = runner.invoke(app, ["graph", "query", "coverage_gaps", "--format", "xml", "--db",
                              str(db)])
    assert bad.exit_code == 2 and "'xml' is not one of table, csv, json" in bad.output
