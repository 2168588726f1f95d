"""Product photos as references: stills through `clips ingest`, from files and from URLs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.demo.photos import render_photo

runner = CliRunner()


def _photo(path: Path, colour: tuple[int, int, int] = (200, 40, 60)) -> Path:
    from PIL import Image

    image = Image.fromarray(render_photo("bottle", colour, "Fizz", size=(240, 240)))
    image.save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    return path


def _rows(db: Path, cypher: str) -> list[dict]:
    result = runner.invoke(app, ["graph", "cypher", cypher, "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stills")
    (folder / "shop.jsonl").write_text(
        '{"type": "product", "id": "p-fizz", "name": "Fizz"}\n'
        '{"type": "selling_point", "id": "sp-fizz-1", "product": "p-fizz", "text": "Bubbles"}\n')
    db = folder / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(folder / "shop.jsonl"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return folder


def test_images_are_ingested_as_stills_with_sidecars_thumbs_and_no_motion(
    catalogue: Path, tmp_path: Path
) -> None:
    db = catalogue / "ackb"
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "front.jpg")
    _photo(photos / "side.webp")
    _photo(photos / "Fizz Front.png")
    (photos / "Fizz Front.png.json").write_text(json.dumps(
        {"id": "fizz-png", "product": "p-fizz", "caption": "Fizz on a table",
         "selling_points": ["sp-fizz-1"]}))
    (photos / "notes.txt").write_text("not a photo")  # not an image suffix: not looked at
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff this is not a jpeg")
    result = runner.invoke(app, ["clips", "ingest", str(photos), "--db", str(db)])
    assert result.exit_code == 1
    assert "ingested 3, unchanged 0, failed 1" in result.stdout
    assert f"failed: {photos / 'broken.jpg'}: not a readable image" in result.stderr
    rows = _rows(db, "MATCH (c:Clip) RETURN c.id AS id, c.kind AS kind, c.motion AS motion, "
                     "c.width AS w, c.thumb AS thumb ORDER BY id")
    assert [r["id"] for r in rows] == ["fizz-png", "front", "side"]
    assert all(r["kind"] == "still" and r["motion"] is None and r["w"] == 240 for r in rows)
    assert all(Path(r["thumb"]).is_file() for r in rows)
    links = _rows(db, "MATCH (c:Clip {id: 'fizz-png'})-[r]->(n) RETURN type(r) AS t, "
                      "coalesce(n.id, n.name) AS n ORDER BY t")
    assert links == [{"t": "EXPRESSES", "n": "sp-fizz-1"}, {"t": "SHOWS", "n": "p-fizz"}]
    assert _rows(db, "MATCH (:Clip)-[r:HAS_MOTION]->() RETURN count(r) AS n") == [{"n": 0}]


def test_a_sidecar_naming_an_absent_product_ingests_with_ignore_product_or_no_sidecars(
    catalogue: Path, tmp_path: Path
) -> None:
    db = catalogue / "ackb"
    photo = _photo(tmp_path / "other.png")
    (tmp_path / "other.png.json").write_text(json.dumps(
        {"id": "other", "product": "p-gone", "selling_points": ["sp-gone"]}))
    refused = runner.invoke(app, ["clips", "ingest", str(photo), "--db", str(db)])
    assert refused.exit_code == 1 and "names product 'p-gone', which does not exist" in \
        refused.stderr
    kept = runner.invoke(app, ["clips", "ingest", str(photo), "--ignore-product", "--db",
                               str(db)])
    assert kept.exit_code == 0, kept.output
    assert "note: " in kept.stderr and "product 'p-gone' does not exist" in kept.stderr
    assert "selling point 'sp-gone' does not exist" in kept.stderr
    assert _rows(db, "MATCH (c:Clip {id: 'other'}) RETURN c.kind AS kind, "
                     "COUNT { (c)-->() } AS links") == [{"kind": "still", "links": 0}]
    plain = runner.invoke(app, ["clips", "ingest", str(photo), "--no-sidecars", "--db", str(db)])
    assert plain.exit_code == 0, plain.output
    assert _rows(db, "MATCH (c:Clip {id: 'other'}) RETURN c.id AS id") == [{"id": "other"}]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "web"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_a_manifest_url_is_downloaded_once_into_the_store(
    catalogue: Path, tmp_path: Path, web: tuple[str, Path]
) -> None:
    db = catalogue / "ackb"
    base, root = web
    _photo(root / "fizz.png")
    (root / "page.html").write_text("<html></html>")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("url,id,product,caption\n"
                        f"{base}/fizz.png,fizz-web,p-fizz,Fizz from the web\n"
                        f"{base}/page.html,not-a-photo,p-fizz,\n")
    first = runner.invoke(app, ["clips", "ingest", "--manifest", str(manifest), "--db", str(db),
                                str(tmp_path / "empty-folder-that-does-not-exist")])
    assert "downloaded 1 files" in first.stdout
    assert "Content-Type 'text/html' is not an image or video type" in first.stderr
    [row] = _rows(db, "MATCH (c:Clip {id: 'fizz-web'})-[:SHOWS]->(p) RETURN c.uri AS uri, "
                      "c.kind AS kind, p.id AS product")
    assert row["kind"] == "still" and row["product"] == "p-fizz"
    assert Path(row["uri"]).parent == db.parent / "downloads"
    again = runner.invoke(app, ["clips", "ingest", "--manifest", str(manifest), "--db", str(db),
                                str(tmp_path / "empty-folder-that-does-not-exist")])
    assert "downloaded" not in again.stdout and "unchanged 1" in again.stdout
