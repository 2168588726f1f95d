"""`kdcvg generate ...` through the root app, against the test session's graph server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.cli import app
from kdcvg.generation.cli import parse_options
from kdcvg.media import video
from tests.generation.adkit import PRODUCT, SP_COLD, SP_EMPTY, SP_POUR, build_ackb

runner = CliRunner()


@pytest.fixture
def served(store, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The fixture store, reachable by the CLI's --neo4j option."""
    build_ackb(store, tmp_path)
    user, password = store.server.auth
    monkeypatch.setenv("NEO4J_USER", user)
    monkeypatch.setenv("NEO4J_PASSWORD", password)
    monkeypatch.setenv("NEO4J_DATABASE", store.database)
    return ["--neo4j", store.server.uri]


def test_generate_ad_writes_video_poster_and_sidecar(served, tmp_path: Path) -> None:
    out = tmp_path / "ad.mp4"
    result = runner.invoke(app, ["generate", "ad", "--product", PRODUCT, "-s", SP_POUR,
                                 "-s", SP_COLD, "--format", "1:1", "--size", "240x240",
                                 "--seed", "4", "-o", "cta=Buy now", "--out", str(out), *served])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (240x240, 6.0 s) with ad.jpg and ad.json" in result.output
    assert "CLIP score n/a" in result.output
    info = video.probe(out)
    assert (info.width, info.height, info.frame_count) == (240, 240, 180)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["job"]["options"] == {"cta": "Buy now"} and sidecar["job"]["seed"] == 4
    assert sidecar["backend"]["metadata"]["settings"]["cta"] == "Buy now"


def test_generate_ad_errors_are_one_line(served, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "ad", "--product", PRODUCT, "-s", SP_EMPTY,
                                 "--strict", "--out", str(tmp_path / "ad.mp4"), *served])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: selling point 'sp-empty' ('Lifetime warranty') of product 'p-aqua' has no "
        "curated reference clip: curate an EXPRESSES link from a clip to it, or train SAR"]
    assert list(tmp_path.glob("ad*")) == []
    result = runner.invoke(app, ["generate", "ad", "--product", PRODUCT, "-s", SP_POUR,
                                 "--duration", "12", "--out", str(tmp_path / "ad.mp4"), *served])
    assert result.exit_code == 1
    assert "error: duration 12 s is not one of 6, 15, 30" in result.output


def test_generate_batch_then_report(served, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("id,product,selling_points,size\n"
                    f"one,{PRODUCT},{SP_POUR}|{SP_COLD},180x320\n"
                    f"two,{PRODUCT},{SP_EMPTY},180x320\n")
    out = tmp_path / "batch"
    result = runner.invoke(app, ["generate", "batch", str(jobs), "--out", str(out), "--strict",
                                 *served])
    assert result.exit_code == 1  # one job failed
    assert "1 done, 0 skipped, 1 failed" in result.output
    assert "has no curated reference clip" in result.output  # the reason in the summary table
    result = runner.invoke(app, ["generate", "report", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'report.html'} (1 ads)" in result.output


def test_batch_with_bad_rows_runs_nothing(served, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"product": PRODUCT, "selling_point": SP_POUR, "format": "2:1"})
                    + "\n")
    result = runner.invoke(app, ["generate", "batch", str(jobs), "--out", str(tmp_path / "o"),
                                 *served])
    assert result.exit_code == 1
    assert "jobs.jsonl row 1: format '2:1' is not one of 9:16, 1:1, 16:9" in result.output
    assert "nothing written" in result.output
    assert not (tmp_path / "o").exists()


def test_parse_options_passes_backend_settings_through() -> None:
    assert parse_options(["steps=20", "beta=0.5", "cta=Buy now", "lora=a=b"], model="/m") == {
        "steps": 20, "beta": 0.5, "cta": "Buy now", "lora": "a=b", "model": "/m"}


def test_generate_help_lists_commands() -> None:
    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    for command in ("ad", "batch", "report"):
        assert command in result.output


def test_without_strict_a_scene_with_no_reference_falls_back_and_exits_0(
    served, tmp_path: Path
) -> None:
    out = tmp_path / "ad.mp4"
    result = runner.invoke(app, ["generate", "ad", "--product", PRODUCT, "-s", SP_POUR, "-s",
                                 SP_EMPTY, "--size", "180x320", "--out", str(out), *served])
    assert result.exit_code == 0, result.output
    assert ("scene 2 ('Lifetime warranty') fell back to a designed text scene: selling point "
            "'sp-empty'") in result.output
    assert json.loads(out.with_suffix(".json").read_text())["fallbacks"][0]["fallback"] == "text"
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("id,product,selling_points,size\n"
                    f"one,{PRODUCT},{SP_EMPTY},180x320\n")
    result = runner.invoke(app, ["generate", "batch", str(jobs), "--out", str(tmp_path / "b"),
                                 *served])
    assert result.exit_code == 0, result.output
    assert "1 done, 0 skipped, 0 failed" in result.output
    sidecar = json.loads((tmp_path / "b" / "one.json").read_text())
    assert [f["fallback"] for f in sidecar["fallbacks"]] == ["text"]


def _flat(output: str) -> str:
    """CLI output as one line of words (the rich error box wraps and frames long lines)."""
    return " ".join(output.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


@pytest.mark.parametrize(("args", "code", "message"), [
    (["-o", "fps=abc"], 1, "error: compose option fps='abc' must be a number"),
    (["-o", "fps=NaN"], 2, "fps: 'NaN' is refused (malformed JSON (NaN is not a JSON number"),
    (["-o", "fps=1e999"], 2, "fps: '1e999' is not a finite number"),
    (["-o", "cta=" + "x" * 20_000], 2, "cta: is 20000 characters, the limit is 1024"),
    (["-o", 'cta={"a": 1}'], 2, "cta: expected text, a number, true/false or null, got dict"),
    (["-o", "cta=" + "x" * 100], 1, "error: compose option cta is 100 characters, the limit "
                                    "is 80"),
    (["--product", "../../escape"], 2, "'../../escape' is not a valid id"),
    (["--product", "p\u202e1"], 2, "'p\\u202e1' is not a valid id"),
    (["-s", "evil\u202etxt"], 2, "contains the bidirectional control U+202E"),
    (["--size", "1e308x2"], 1, "error: size '1e308x2' is not WIDTHxHEIGHT"),
])
def test_generate_ad_checks_arguments_before_the_server_starts(
        monkeypatch, tmp_path: Path, args: list[str], code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    import kdcvg.graph.cli_common as common

    def no_server(*_: object) -> None:
        raise AssertionError("the server was started before the arguments were checked")

    monkeypatch.setattr(common, "store_from_options", no_server)
    base = {"--product": PRODUCT, "-s": SP_POUR}
    for key in args[::2]:
        base.pop(key, None)
    full = ["generate", "ad", *[x for kv in base.items() for x in kv], *args,
            "--out", str(tmp_path / "ad.mp4")]
    result = runner.invoke(app, full)
    assert result.exit_code == code, result.output
    assert message in _flat(result.output)
    assert "Traceback" not in result.output and "AssertionError" not in result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1

