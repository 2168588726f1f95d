"""Video-file ingest into the real embedded graph: rows, links, failures, no-op re-ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.demo.build import catalogue_batch
from kdcvg.demo.catalog import DEMO_CLIPS, PRODUCTS
from kdcvg.demo.footage import render_clip
from kdcvg.graph.clips import ClipError, ingest_clips, read_manifest, read_sidecar, slug
from kdcvg.graph.ingest import write_batch
from kdcvg.media.video import write_mp4

PRODUCT = {p.id: p for p in PRODUCTS}


def _clip(folder: Path, clip_id: str) -> Path:
    spec = next(c for c in DEMO_CLIPS if c.id == clip_id)
    path = folder / f"{clip_id}.mp4"
    write_mp4(path, render_clip(spec, PRODUCT[spec.product]), spec.fps)
    return path


def test_slug_and_sidecars(tmp_path: Path) -> None:
    assert slug("My Pour_Shot (2).final.MP4") == "my-pour-shot-2"
    video = tmp_path / "a.mp4"
    (tmp_path / "a.mp4.json").write_text(
        json.dumps(
            {"id": "a1", "product": "p", "selling_points": ["sp-1", {"id": "sp-2", "weight": 0.5}]}
        )
    )
    side = read_sidecar(video)
    assert (side.id, side.product, side.selling_points) == (
        "a1",
        "p",
        (("sp-1", 1.0), ("sp-2", 0.5)),
    )
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,id,caption,product,selling_points,tags\n"
        "a.mp4,a2,A pour,p,sp-1:0.9;sp-2,demo;x\nb.mp4,,,,sp-3:2,\n"
    )
    with pytest.raises(
        ClipError, match=r"m\.csv:3: selling point weight must be in \(0, 1\], got 2"
    ):
        read_manifest(manifest)
    manifest.write_text("file,id\na.mp4,a2\n")
    assert read_manifest(manifest)[str(video.resolve())].id == "a2"


def test_ingest_writes_rows_links_and_reports_failures(store, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_batch(store, catalogue_batch(), embedder)
    pour = _clip(tmp_path, "clip-aurora-water-pour")
    (tmp_path / "clip-aurora-water-pour.mp4.json").write_text(
        json.dumps(
            {
                "id": "pour-1",
                "caption": "Water pours",
                "product": "aurora-water",
                "selling_points": [{"id": "sp-aurora-water-3", "weight": 0.8}],
            }
        )
    )
    (tmp_path / "text.mp4").write_text("just text")
    (tmp_path / "empty.mov").write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(pour.read_bytes()[:2000])
    ghost = _clip(tmp_path, "clip-peak-cold-brew-still")
    (tmp_path / "clip-peak-cold-brew-still.mp4.json").write_text(json.dumps({"product": "no-such"}))

    summary = ingest_clips(store, [tmp_path], tmp_path / "home", embedder)
    assert summary.ingested == ["pour-1"]
    reasons = dict(summary.failed)
    assert set(reasons) == {
        str(tmp_path / n)
        for n in ("text.mp4", "empty.mov", "truncated.mp4", "clip-peak-cold-brew-still.mp4")
    }
    assert reasons[str(tmp_path / "empty.mov")].endswith("file is empty (0 bytes)")
    assert "not a readable video" in reasons[str(tmp_path / "text.mp4")]
    assert "names product 'no-such', which does not exist" in reasons[str(ghost)]
    # nothing of a failed file was written
    ids = [r["id"] for r in store.cypher("MATCH (c:Clip) RETURN c.id AS id", {})]
    assert ids == ["pour-1"]
    row = store.cypher(
        "MATCH (c:Clip {id: 'pour-1'})-[:SHOWS]->(p:Product) RETURN c, p.id AS p", {}
    )[0]
    clip = row["c"]
    assert row["p"] == "aurora-water" and len(clip["motion"]) == 25 and clip["fps"] == 12.0
    assert (clip["width"], clip["height"]) == (192, 192) and len(clip["content_hash"]) == 64
    assert Path(clip["thumb"]).exists() and clip["motion_magnitude"] > 0
    links = store.cypher(
        "MATCH (:Clip {id: 'pour-1'})-[r:HAS_MOTION]->(m) "
        "RETURN m.name AS m, r.source AS s, r.score AS score ORDER BY score DESC",
        {},
    )
    assert links[0]["m"] == "pour" and {x["s"] for x in links} == {"auto"}

    # a curator's link survives re-analysis; an unchanged file is a no-op
    store.write(
        "ingest_link_has_motion",
        rows=[{"source": "pour-1", "target": "pour", "props": {"score": 0.5, "source": "curated"}}],
    )
    again = ingest_clips(store, [pour], tmp_path / "home", embedder)
    assert (again.ingested, again.unchanged, again.failed) == ([], ["pour-1"], [])
    # auto links the new analysis no longer earns go; curated ones stay whatever they say
    store.write(
        "ingest_link_has_motion",
        rows=[
            {"source": "pour-1", "target": "spin", "props": {"score": 0.9, "source": "auto"}},
            {"source": "pour-1", "target": "zoom_in", "props": {"score": 1.0, "source": "curated"}},
        ],
    )
    pour.write_bytes(pour.read_bytes() + b"\0")  # changed bytes: analysed and written again
    events: list[tuple[str, int]] = []
    finished: list[tuple[str, int]] = []
    changed = ingest_clips(
        store,
        [pour],
        tmp_path / "home",
        embedder,
        progress=lambda p, n: finished.append((p, n)),
        on_frames=lambda p, n: events.append((p, n)),
    )
    assert changed.ingested == ["pour-1"] and finished == [(str(pour), 24)]  # 3 s at 8 fps
    assert {p for p, _ in events} == {str(pour)} and sum(n for _, n in events) == 24
    assert len(events) > 1  # live counts while the file is analysed, not only at the end
    after = store.cypher(
        "MATCH (:Clip {id: 'pour-1'})-[r:HAS_MOTION]->(m) "
        "RETURN m.name AS m, r.source AS s, r.score AS score ORDER BY m",
        {},
    )
    by_name = {r["m"]: (r["s"], r["score"]) for r in after}
    assert "spin" not in by_name
    assert by_name["pour"] == ("curated", 0.5) and by_name["zoom_in"] == ("curated", 1.0)
    assert {s for s, _ in by_name.values()} == {"auto", "curated"}
    # the named query alone: deletes only auto links outside $keep, and says how many
    auto = sorted(m for m, (s, _) in by_name.items() if s == "auto")
    gone = store.write("clip_prune_auto_motion", clip="pour-1", keep=auto[1:])
    assert gone == [{"deleted": 1}]
    left = store.cypher(
        "MATCH (:Clip {id: 'pour-1'})-[r:HAS_MOTION]->(m) RETURN m.name AS m ORDER BY m", {}
    )
    assert [r["m"] for r in left] == sorted(auto[1:] + ["pour", "zoom_in"])


def test_workers_give_the_same_rows(store, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    paths = [_clip(tmp_path, c) for c in ("clip-edge-knife-pan", "clip-orbit-watch-roll")]
    frames: dict[str, int] = {}
    finished: dict[str, int] = {}

    def on_frames(path: str, n: int) -> None:
        frames[path] = frames.get(path, 0) + n

    summary = ingest_clips(
        store,
        paths,
        tmp_path / "home",
        embedder,
        workers=2,
        progress=finished.__setitem__,
        on_frames=on_frames,
    )
    assert sorted(summary.ingested) == ["clip-edge-knife-pan", "clip-orbit-watch-roll"]
    # the workers' live frame counts come through their queue and add up per file
    assert frames == finished and all(n >= 24 for n in frames.values())
    tops = store.cypher(
        "MATCH (c:Clip)-[r:HAS_MOTION]->(m) RETURN c.id AS c, m.name AS m, "
        "r.score AS s ORDER BY c, s DESC",
        {},
    )
    first: dict[str, str] = {}
    for r in tops:
        first.setdefault(r["c"], r["m"])
    assert first == {"clip-edge-knife-pan": "pan_left", "clip-orbit-watch-roll": "rotate"}


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    from kdcvg.cli import app

    result = CliRunner().invoke(app, ["clips", "ingest", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    result = CliRunner().invoke(
        app, ["clips", "ingest", str(tmp_path), "--manifest", str(tmp_path / "none.csv")]
    )
    assert result.exit_code == 2 and "Invalid value" in result.output


@pytest.mark.parametrize(("sidecar", "message"), [
    ({"id": "/abs/path"}, "id: '/abs/path' is not a valid id"),
    ({"id": "../../escape"}, "id: '../../escape' is not a valid id"),
    ({"id": ["a"]}, "id: expected an id (text), got list ['a']"),
    ({"id": "a\u202eb"}, "id: 'a\\u202eb' is not a valid id"),
    ({"product": "p\u0000"}, "product: 'p\\x00' is not a valid id"),
    ({"selling_points": [{"id": "sp-1", "weight": "1e999"}]},
     "selling point sp-1 weight: '1e999' is not a finite number"),
    ({"caption": "x\ud800"}, "caption: 'x\\ud800' contains a lone surrogate"),
    ({"tags": "demo"}, "tags must be a list of at most 20 texts, got 'demo'"),
    ({"colour": "red"}, "colour: unknown sidecar field (expected id, caption, product, "
                        "selling_points, tags)"),
])
def test_bad_sidecars_are_one_clean_error(tmp_path: Path, sidecar: dict, message: str) -> None:
    video = tmp_path / "a.mp4"
    (tmp_path / "a.mp4.json").write_text(json.dumps(sidecar))
    with pytest.raises(ClipError) as e:
        read_sidecar(video)
    assert str(e.value).startswith(f"{tmp_path / 'a.mp4.json'}: {message}")
    assert "\n" not in str(e.value)


def test_sidecar_nan_and_deep_nesting_are_clean_errors(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    side = tmp_path / "a.mp4.json"
    side.write_text('{"selling_points": [{"id": "sp-1", "weight": NaN}]}')
    with pytest.raises(ClipError, match="NaN is not a JSON number"):
        read_sidecar(video)
    side.write_text('{"tags": ' + "[" * 10_000 + "]" * 10_000 + "}")
    with pytest.raises(ClipError, match="nested too deeply"):
        read_sidecar(video)


def test_manifest_ids_follow_the_id_rule(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,id\na.mp4,ok\nb.mp4,../../escape\n")
    with pytest.raises(ClipError, match=r"m\.csv:3: id: '\.\./\.\./escape' is not a valid id"):
        read_manifest(manifest)
    manifest.write_text("file,selling_points\na.mp4,../x:0.5\n")
    with pytest.raises(ClipError, match=r"m\.csv:2: selling_points: '\.\./x' is not a valid id"):
        read_manifest(manifest)


def test_escaping_sidecar_ids_write_nothing_outside_the_store(store, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before: the JPEG landed outside the store and the id was stored; a list id gave a
    traceback after the other clips were committed."""
    write_batch(store, catalogue_batch(), embedder)
    clips = tmp_path / "clips"
    clips.mkdir()
    good = _clip(clips, "clip-edge-knife-pan")
    bad_ids = {"x-abs": "/abs/path", "x-up": "../../escape", "x-list": ["a"]}
    for name, clip_id in bad_ids.items():
        (clips / f"{name}.mp4").write_bytes(good.read_bytes())
        (clips / f"{name}.mp4.json").write_text(json.dumps({"id": clip_id}))
    home = tmp_path / "home"
    summary = ingest_clips(store, [clips], home, embedder)
    assert summary.ingested == ["clip-edge-knife-pan"]
    reasons = dict(summary.failed)
    assert sorted(reasons) == sorted(str(clips / f"{n}.mp4") for n in bad_ids)
    assert "'/abs/path' is not a valid id" in reasons[str(clips / "x-abs.mp4")]
    assert "'../../escape' is not a valid id" in reasons[str(clips / "x-up.mp4")]
    assert "expected an id (text), got list ['a']" in reasons[str(clips / "x-list.mp4")]
    ids = [r["id"] for r in store.cypher("MATCH (c:Clip) RETURN c.id AS id", {})]
    assert ids == ["clip-edge-knife-pan"]
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg"))
    assert written == ["home/thumbs/clip-edge-knife-pan.jpg"]
