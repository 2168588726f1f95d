"""`kdcvg graph link-motion` and `similar_products` on a graph without curated motion links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app

runner = CliRunner()

CATALOGUE = """\
{"type": "category", "name": "beverages"}
{"type": "category", "name": "skincare"}
{"type": "product", "id": "p-fizz", "name": "Fizz", "description": "Sparkling water", "category": "beverages"}
{"type": "product", "id": "p-brew", "name": "Brew", "description": "Cold brew coffee", "category": "beverages"}
{"type": "product", "id": "p-glow", "name": "Glow", "description": "Vitamin C serum", "category": "skincare"}
{"type": "product", "id": "p-dew", "name": "Dew", "description": "Hydrating face mist", "category": "skincare"}
{"type": "selling_point", "id": "sp-fizz-1", "product": "p-fizz", "text": "Pour it over ice, watch bubbles rise."}
{"type": "selling_point", "id": "sp-brew-1", "product": "p-brew", "text": "Pour it over ice for a smooth cascade."}
{"type": "selling_point", "id": "sp-glow-1", "product": "p-glow", "text": "A few drops a day for brighter skin."}
{"type": "selling_point", "id": "sp-dew-1", "product": "p-dew", "text": "A fine mist sprays on in one touch."}
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kdcvg.graph.motion_patterns import MOTION_PATTERNS

    folder = tmp_path_factory.mktemp("link")
    source = folder / "catalogue.jsonl"
    patterns = "".join(json.dumps({"type": "motion_pattern", **m.row()}) + "\n"
                       for m in MOTION_PATTERNS)
    source.write_text(patterns + CATALOGUE)
    path = folder / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(source), "--no-link-motion", "--db",
                                 str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_link_motion_writes_auto_links_for_every_selling_point(db: Path) -> None:
    result = runner.invoke(app, ["graph", "link-motion", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert not report["calibrated"] and report["linked_points"] == 4
    assert report["written"] == 4 * report["settings"]["top_k"]
    rows = runner.invoke(app, ["graph", "cypher", "MATCH (:SellingPoint)-[r:SUGGESTS]->() "
                               "RETURN r.source AS source, count(*) AS n", "--db", str(db),
                               "--json"])
    assert json.loads(rows.output) == [{"source": "auto", "n": report["written"]}]
    text = runner.invoke(app, ["graph", "link-motion", "--db", str(db)])
    assert text.exit_code == 0, text.output
    assert "default settings (too few curated links to calibrate)" in text.output


def test_similar_products_answers_from_category_and_embeddings(db: Path) -> None:
    result = runner.invoke(app, ["graph", "query", "similar_products", "-p", "product=p-fizz",
                                 "-p", "limit=5", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["product"]: r for r in json.loads(result.output)}
    # same category and a near-identical selling point; no curated SUGGESTS link anywhere
    assert rows["p-brew"]["same_category"] is True
    assert rows["p-brew"]["text_similarity"] >= 0.6
    assert list(rows)[0] == "p-brew"


def test_graph_ingest_links_new_selling_points_and_warns_about_hygiene(tmp_path: Path) -> None:
    source = tmp_path / "shop.jsonl"
    fits = "Make sure this fits by entering your model number."
    lines = [CATALOGUE]
    for p in ("p-fizz", "p-brew", "p-glow", "p-dew"):
        lines.append(json.dumps({"type": "selling_point", "id": f"sp-{p}-fits", "product": p,
                                 "text": fits}) + "\n")
    lines.append(json.dumps({"type": "selling_point", "id": "sp-fizz-2", "product": "p-fizz",
                             "text": "Pour it over ice, watch the bubbles rise."}) + "\n")
    source.write_text("".join(lines))
    db = str(tmp_path / "ackb")
    result = runner.invoke(app, ["graph", "ingest", str(source), "--db", db])
    assert result.exit_code == 0, result.output
    assert "motion vocabulary: 22 motion patterns added" in result.stdout
    assert "motion links: 18 automatic SUGGESTS links for 9 selling points" in result.stdout
    assert ("warning: 1 near-duplicate selling points (cosine >= 0.92 to another of the same "
            "product), e.g. sp-fizz-2 ~ sp-fizz-1") in result.stderr
    assert ("warning: 1 boilerplate texts shared by many products (4 selling points), e.g. "
            f"{fits!r} x4") in result.stderr
    assert "ingested them anyway" in result.stderr

    again = runner.invoke(app, ["graph", "ingest", str(source), "--db", db, "--json",
                                "--skip-duplicates", "--skip-boilerplate"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)[str(source)]
    assert report["embedded"] == 0  # unchanged texts keep their embeddings
    assert report["hygiene"]["skipped"] == sorted(
        ["sp-fizz-2", *(f"sp-{p}-fits" for p in ("p-fizz", "p-brew", "p-glow", "p-dew"))])
