"""Batch generation: job-file errors with row numbers, manifest, resume after a kill, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdcvg.errors import GenerationError, ValidationError
from kdcvg.generation.batch import parse_jobs, run_batch
from kdcvg.generation.fallback import FallbackReferences
from kdcvg.generation.references import CuratedReferences
from kdcvg.media import video
from tests.generation.adkit import PRODUCT, SP_COLD, SP_EMPTY, SP_POUR, build_ackb

TINY = "180x320"


def _jsonl(path: Path, rows: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_parse_reports_every_bad_row_with_its_number(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "ok", "product": "p", "selling_points": ["a", "b"]}) + "\n"
        "\n"
        "{not json\n"
        + json.dumps({"product": "p", "selling_point": "a", "format": "4:3"}) + "\n"
        + json.dumps({"product": "p", "selling_point": "a", "duration": 7}) + "\n"
        + json.dumps({"selling_point": "a"}) + "\n"
        + json.dumps({"id": "ok", "product": "p", "selling_point": "a"}) + "\n"
        + json.dumps({"product": "p", "selling_point": "a", "colour": "red"}) + "\n"
        + json.dumps({"product": "p", "selling_point": "a", "format": "1:1", "size": "640x360"})
        + "\n"
    )
    good, bad = parse_jobs(jobs)
    assert [(j.id, j.row, j.job.selling_points) for j in good] == [("ok", 1, ("a", "b"))]
    assert [str(b) for b in bad] == [
        "jobs.jsonl row 3: is not valid JSON (Expecting property name enclosed in double quotes "
        "at column 2)",
        "jobs.jsonl row 4: format '4:3' is not one of 9:16, 1:1, 16:9",
        "jobs.jsonl row 5: duration 7 s is not one of 6, 15, 30",
        "jobs.jsonl row 6: field 'product' is missing",
        "jobs.jsonl row 7: id 'ok' repeats row 1",
        "jobs.jsonl row 8: unknown field 'colour' (known: id, product, selling_points, "
        "selling_point, format, duration, backend, seed, size, model, options)",
        "jobs.jsonl row 9: size 640x360 does not have the 1:1 aspect of format '1:1' "
        "(for example 720x720)",
    ]


def test_parse_csv_rows_and_options(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text('id,product,selling_points,format,duration,seed,options,model\n'
                    'a,p1,sp1|free text here,1:1,15,7,"{""steps"": 4}",/models/x\n'
                    'b,p1,sp2,16:9,30,,,\n')
    good, bad = parse_jobs(jobs)
    assert bad == []
    a, b = good
    assert (a.row, a.job.selling_points, a.job.format, a.job.duration_s, a.job.seed) == \
        (2, ("sp1", "free text here"), "1:1", 15, 7)
    assert dict(a.job.options) == {"steps": 4, "model": "/models/x"}
    assert (b.row, b.job.format, b.job.duration_s, b.job.seed, dict(b.job.options)) == \
        (3, "16:9", 30, 0, {})


def test_example_job_file_parses() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "jobs.jsonl"
    good, bad = parse_jobs(example)
    assert bad == [] and len(good) >= 3


def test_bad_rows_stop_everything_unless_skip_bad(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    jobs = _jsonl(tmp_path / "jobs.jsonl", [
        {"id": "good", "product": PRODUCT, "selling_point": SP_POUR, "size": TINY},
        {"id": "bad", "product": PRODUCT, "selling_point": SP_POUR, "duration": 5},
        {"id": "empty", "product": PRODUCT, "selling_point": SP_EMPTY, "size": TINY},
    ])
    out = tmp_path / "out"
    with pytest.raises(ValidationError) as e:
        run_batch(store, jobs, out)
    assert e.value.problems == ["jobs.jsonl row 2: duration 5 s is not one of 6, 15, 30"]
    assert not out.exists()

    # strict: a selling point without references fails its job instead of falling back
    strict = FallbackReferences(CuratedReferences(store), store, strict=True)
    summary = run_batch(store, jobs, out, skip_bad=True, source=strict)
    states = {j["id"]: (j["state"], j.get("detail", "")) for j in summary.jobs}
    assert states["good"][0] == "done"
    assert states["row-0002"] == ("failed", "bad row 2: duration 5 s is not one of 6, 15, 30")
    assert states["empty"][0] == "failed"
    assert "job empty (row 3): selling point 'sp-empty'" in states["empty"][1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs"]["good"]["state"] == "done"
    assert manifest["jobs"]["empty"]["state"] == "failed"
    assert "has no curated reference clip" in manifest["jobs"]["empty"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["good.jpg", "good.json", "good.mp4",
                                                     "manifest.json"]
    assert summary.failed == 2


def test_rerun_skips_finished_and_redoes_changed_jobs(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    rows = [{"id": "a", "product": PRODUCT, "selling_point": SP_POUR, "size": TINY},
            {"id": "b", "product": PRODUCT, "selling_point": SP_COLD, "size": TINY}]
    jobs = _jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    run_batch(store, jobs, out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    rows[1]["seed"] = 5  # b changes, a does not
    _jsonl(jobs, rows)
    summary = run_batch(store, jobs, out)
    assert [(j["id"], j["state"]) for j in summary.jobs] == [("a", "skipped"), ("b", "done")]
    assert (out / "a.mp4").stat().st_mtime_ns == stamps["a.mp4"]
    assert (out / "b.mp4").stat().st_mtime_ns != stamps["b.mp4"]


def test_workers_render_in_spawned_processes(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    jobs = _jsonl(tmp_path / "jobs.jsonl", [
        {"id": f"w{i}", "product": PRODUCT, "selling_points": [SP_POUR, SP_COLD], "seed": i,
         "size": TINY} for i in range(3)])
    summary = run_batch(store, jobs, tmp_path / "out", workers=2)
    assert [j["state"] for j in summary.jobs] == ["done"] * 3
    for i in range(3):
        info = video.probe(tmp_path / "out" / f"w{i}.mp4")
        assert (info.width, info.height, info.frame_count) == (180, 320, 180)
        assert json.loads((tmp_path / "out" / f"w{i}.json").read_text())["job"]["seed"] == i


def test_output_folder_that_cannot_be_made(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    jobs = _jsonl(tmp_path / "jobs.jsonl", [{"product": PRODUCT, "selling_point": SP_POUR}])
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(GenerationError, match="output folder .*file/out: cannot create it"):
        run_batch(store, jobs, blocker / "out")


def test_a_full_disk_fails_the_job_in_one_line_and_stops_the_batch(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.small_disk import small_disk

    build_ackb(store, tmp_path)
    jobs = _jsonl(tmp_path / "jobs.jsonl", [
        {"id": i, "product": PRODUCT, "selling_point": SP_POUR, "size": TINY} for i in "abc"])
    with small_disk(tmp_path / "disk", "64k") as disk:  # room for the manifest, not for an ad
        out = disk / "out"
        summary = run_batch(store, jobs, out)
        states = {j["id"]: (j["state"], j["detail"]) for j in summary.jobs}
        assert states["a"][0] == "failed"
        assert states["a"][1] == (f"job a (row 1): cannot write {out / 'a.mp4'}: No space left on "
                                  "device; free space there (or choose another --out) and run again")
        assert summary.stopped == "the disk is full (job a)"
        assert states["b"] == states["c"] == ("not run", "the batch stopped: the disk is full (job a)")
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]  # no half-written file
        manifest = json.loads((out / "manifest.json").read_text())
        assert {k: v["state"] for k, v in manifest["jobs"].items()} == {
            "a": "failed", "b": "pending", "c": "pending"}
        assert "No space left on device" in manifest["jobs"]["a"]["error"]


def test_a_disk_too_full_for_the_manifest_runs_nothing(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.small_disk import fill, small_disk

    jobs = _jsonl(tmp_path / "jobs.jsonl", [
        {"id": i, "product": PRODUCT, "selling_point": SP_POUR, "size": TINY} for i in "ab"])
    with small_disk(tmp_path / "disk", "32k") as disk:
        (disk / "out").mkdir()
        fill(disk)
        summary = run_batch(store, jobs, disk / "out")
        assert summary.stopped is not None
        assert summary.stopped.startswith(f"the manifest cannot be saved (cannot write "
                                          f"{disk / 'out' / 'manifest.json'}: No space left")
        assert [j["state"] for j in summary.jobs] == ["not run", "not run"]
        assert list((disk / "out").iterdir()) == []


def _cli_env(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    user, password = store.server.auth
    return {**os.environ, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
            "NEO4J_DATABASE": store.database, "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_killed_batch_resumes_with_exactly_the_missing_jobs(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    ids = [f"k{i}" for i in range(5)]
    jobs = _jsonl(tmp_path / "jobs.jsonl", [
        {"id": i, "product": PRODUCT, "selling_points": [SP_POUR, SP_COLD], "size": TINY}
        for i in ids])
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from kdcvg.cli import main; main()", "generate", "batch",
           str(jobs), "--out", str(out), "--neo4j", store.server.uri]
    proc = subprocess.Popen(cmd, env=_cli_env(store), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            manifest = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {"jobs": {}}
        done = [k for k, v in manifest["jobs"].items() if v.get("state") == "done"]
        if len(done) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert 2 <= len(done) < len(ids)
    # nothing half-written under a final name: every MP4 there is whole
    for mp4 in out.glob("*.mp4"):
        assert video.probe(mp4).frame_count == 180
    finished = {p.stem: p.stat().st_mtime_ns for p in out.glob("*.json")
                if p.name != "manifest.json"}
    assert set(done) <= set(finished)

    rerun = subprocess.run(cmd, env=_cli_env(store), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(ids) - len(finished)} done, {len(finished)} skipped, 0 failed" in rerun.stdout
    for stem, stamp in finished.items():  # finished ads were not touched
        assert (out / f"{stem}.json").stat().st_mtime_ns == stamp
    assert sorted(p.stem for p in out.glob("*.mp4")) == ids
    assert not list(out.glob(".*partial"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v["state"] for k, v in manifest["jobs"].items()} == {i: "done" for i in ids}


def test_job_rows_follow_the_id_number_and_option_rules(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    base = {"product": "p1", "selling_point": "Fits any bag"}
    rows = [
        {**base, "id": "../../escape"},
        {**base, "id": "a\u202eb"},
        {**base, "product": "/abs/path"},
        {**base, "options": {"cta": "x" * 20_000}},
        {**base, "options": {"cta": {"nested": 1}}},
        {**base, "duration": 1e308},
        {**base, "seed": "1e999"},
        {**base, "selling_point": "lone \ud800"},
        {**base, "id": "ok"},
    ]
    jobs.write_text("".join(json.dumps(r) + "\n" for r in rows)
                    + '{"product": "p1", "selling_point": "x", "seed": NaN}\n'
                    + '{"product": "p1", "selling_point": ' + "[" * 10_000 + "]" * 10_000 + "}\n"
                    + '{"product": "p1",\n"selling_point": "x"}\n')
    good, bad = parse_jobs(jobs)
    assert [j.id for j in good] == ["ok"]
    reasons = {b.row: b.reason for b in bad}
    assert reasons[1].startswith("id: '../../escape' is not a valid id")
    assert reasons[2].startswith("id: 'a\\u202eb' is not a valid id")
    assert reasons[3].startswith("product: '/abs/path' is not a valid id")
    assert reasons[4] == "options.cta: is 20000 characters, the limit is 1024"
    assert reasons[5] == ("options.cta: expected text, a number, true/false or null, got dict "
                          "{'nested': 1}")
    assert reasons[6] == "duration: 1e+308 is outside [1, 3600]"
    assert reasons[7] == "seed: '1e999' is not a finite number"
    assert reasons[8] == ("selling_points: item 1: 'lone \\ud800' contains a lone surrogate "
                          "U+D800 at character 6 (not valid Unicode text)")
    assert reasons[10] == ("is not valid JSON (NaN is not a JSON number; numbers must be "
                           "finite)")
    assert reasons[11] == "is not valid JSON (nested too deeply)"
    assert reasons[12].startswith("is not valid JSON (Expecting property name enclosed in double "
                                  "quotes at column 18; the value "
                                  "does not end on this line")
    assert reasons[13].startswith("is not valid JSON (Extra data at column 16")
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13]
    assert all("\n" not in r for r in reasons.values())
