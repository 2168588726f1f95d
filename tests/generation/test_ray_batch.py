"""Batch generation on Ray: a local runtime of 2 CPUs, real workers, real kills.

The CLI runs in a subprocess with its own short temporary folder (Ray's sockets
live there), so that the test can find the worker processes it kills and check
that nothing of the runtime is left once the command ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdcvg.errors import GenerationError
from kdcvg.generation.batch import run_batch
from kdcvg.generation.ray_batch import RaySettings
from kdcvg.media import video
from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR, build_ackb

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

TINY = "180x320"


def _jsonl(path: Path, rows: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _jobs(folder: Path, count: int, duration: int = 6) -> tuple[Path, list[str]]:
    ids = [f"r{i}" for i in range(count)]
    rows = [{"id": i, "product": PRODUCT, "selling_points": [SP_POUR, SP_COLD], "seed": n,
             "duration": duration, "size": TINY} for n, i in enumerate(ids)]
    return _jsonl(folder / "jobs.jsonl", rows), ids


def _manifest(out: Path) -> dict:  # type: ignore[type-arg]
    try:
        return json.loads((out / "manifest.json").read_text())["jobs"]  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError):
        return {}


def _frames(path: Path) -> int:
    """Frames PyAV decodes from the whole file (a truncated MP4 fails or comes up short)."""
    return sum(1 for _ in video.iter_frames(path))


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path: Ray's Unix sockets must fit in 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="kr", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _leftovers(folder: Path) -> list[str]:
    """Processes whose command line names `folder` (the runtime's raylet, GCS, workers)."""
    found = subprocess.run(["pgrep", "-af", str(folder)], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def _cli(store, jobs: Path, out: Path, tmp: Path, *extra: str) -> tuple[list[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    user, password = store.server.auth
    env = {**os.environ, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": store.database, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp),
           "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from kdcvg.cli import main; main()", "generate", "batch",
           str(jobs), "--out", str(out), "--neo4j", store.server.uri, "--ray", "auto",
           "--workers", "2", *extra]
    return cmd, env


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(GenerationError, match="^--ray-transfer 'ftp' is not one of path, "
                                              "object-store$"):
        RaySettings(transfer="ftp")
    with pytest.raises(GenerationError, match="^num_cpus 2 applies to a local runtime"):
        RaySettings(address="ray://head:10001", num_cpus=2)
    assert RaySettings().resources("compose") == {"num_cpus": 1.0}
    assert RaySettings().resources("diffusers") == {"num_cpus": 1.0, "num_gpus": 1.0}


def test_a_cluster_that_does_not_answer_is_one_line() -> None:
    import socket

    from kdcvg.generation.ray_batch import ray_runtime

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(GenerationError) as refused, ray_runtime(RaySettings(address=address)):
            pass
        assert str(refused.value) == (f"cannot reach the Ray cluster at {address} (Connection "
                                      "refused); is `ray start --head` running there?")
    with pytest.raises(GenerationError, match=r"^--ray 'head' is not 'auto' or a Ray cluster "
                                              r"address \(head:6379, or ray://head:10001\)$"):
        with ray_runtime(RaySettings(address="head")):
            pass


def test_missing_ray_is_one_line_with_the_install_command(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the extra
    jobs, _ = _jobs(tmp_path, 1)
    result = CliRunner().invoke(app, ["generate", "batch", str(jobs), "--out",
                                      str(tmp_path / "out"), "--db", str(tmp_path / "db"),
                                      "--ray", "auto"])
    assert result.exit_code == 1
    assert result.output == ("error: --ray needs the optional package 'ray', which is not "
                             "installed: pip install 'kdcvg[ray]'\n")
    assert not (tmp_path / "db").exists() and not (tmp_path / "out").exists()  # checked first


def test_ray_options_without_their_use_are_refused(tmp_path: Path) -> None:
    from kdcvg.cli import app

    jobs, _ = _jobs(tmp_path, 1)
    base = ["generate", "batch", str(jobs), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*base, "--ray-transfer", "object-store"])
    assert result.exit_code == 2 and "--ray-transfer applies with --ray only" in result.output
    result = CliRunner().invoke(app, [*base, "--ray", "ray://head:10001", "--workers", "2"])
    assert result.exit_code == 2 and "--workers sizes a local Ray runtime" in result.output


@pytest.mark.slow
def test_object_store_transfer_makes_the_same_ads_and_gpu_jobs_need_a_gpu(  # type: ignore[no-untyped-def]
        store, tmp_path: Path, short_tmp: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(short_tmp))  # the workers' temporary folders
    monkeypatch.setattr(tempfile, "tempdir", str(short_tmp))  # this process's
    from kdcvg.generation.ray_batch import native_signal_actions

    clips = build_ackb(store, tmp_path)
    def handlers() -> dict[int, bytes]:  # each handler's address: struct sigaction's first field
        return {signum: raw[:8] for signum, raw in native_signal_actions().items()}

    jvm_handlers = handlers()  # the session's graph server (a JVM) runs in this process
    assert jvm_handlers[signal.SIGSEGV] != bytes(8)  # HotSpot's own, not the default
    rows = [{"id": "a", "product": PRODUCT, "selling_points": [SP_POUR, SP_COLD],
             "size": TINY},
            {"id": "gpu", "product": PRODUCT, "selling_point": SP_POUR,
             "backend": "diffusers", "size": TINY}]
    jobs = _jsonl(tmp_path / "jobs.jsonl", rows)
    by_store = run_batch(store, jobs, tmp_path / "store",
                         ray=RaySettings(num_cpus=2, transfer="object-store"))
    assert [(j["id"], j["state"]) for j in by_store.jobs] == [("a", "done"), ("gpu", "failed")]
    assert by_store.jobs[1]["detail"] == (
        "job gpu (row 2): backend 'diffusers' asks Ray for 1 GPU per job, but the Ray "
        "cluster has 0; join a cluster with GPUs, or run it without --ray")
    by_path = run_batch(store, _jsonl(tmp_path / "one.jsonl", rows[:1]), tmp_path / "path",
                        ray=RaySettings(num_cpus=2))
    assert [j["state"] for j in by_path.jobs] == ["done"]
    # same seed, same bytes: the worker's copies of the clips were the clips
    assert (tmp_path / "store" / "a.mp4").read_bytes() == (tmp_path / "path" / "a.mp4").read_bytes()
    sidecar = json.loads((tmp_path / "store" / "a.json").read_text())
    uris = {r["uri"] for s in sidecar["scenes"] for r in s["references"]}
    assert uris == {str(clips["pan"]), str(clips["still"])}  # the clips' own paths
    assert sidecar["video"] == "a.mp4"
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
        "a.jpg", "a.json", "a.mp4", "manifest.json"]
    assert _leftovers(short_tmp) == []
    # Ray resets the JVM's crash-signal handlers (its null checks are SIGSEGVs): put back
    assert handlers() == jvm_handlers
    assert store.cypher("MATCH (c:Clip) RETURN count(c) AS n") == [{"n": 4}]


@pytest.mark.slow
def test_ten_jobs_survive_a_killed_worker(store, tmp_path: Path, short_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    jobs, ids = _jobs(tmp_path, 10, duration=15)
    out = tmp_path / "out"
    cmd, env = _cli(store, jobs, out, short_tmp)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed: tuple[str, int] | None = None
    deadline = time.monotonic() + 180
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        for job_id, entry in _manifest(out).items():
            if entry.get("state") == "running":  # the task reported its worker process
                killed = job_id, entry["worker"]["pid"]
                os.kill(killed[1], signal.SIGKILL)
                break
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed is not None, stderr.decode()[-2000:]
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert "10 done, 0 skipped, 0 failed" in stdout.decode()
    manifest = _manifest(out)
    assert {k: v["state"] for k, v in manifest.items()} == {i: "done" for i in ids}
    retried = [k for k, v in manifest.items() if v["attempt"] == 2]
    assert retried, manifest  # the job on the killed worker ran again, and finished
    assert all(v["worker"]["pid"] != killed[1] for v in manifest.values() if v["attempt"] == 2)
    for i in ids:
        assert _frames(out / f"{i}.mp4") == 450
        assert json.loads((out / f"{i}.json").read_text())["job"]["seed"] == ids.index(i)
    assert not list(out.glob(".*partial"))
    assert _leftovers(short_tmp) == []
    assert list(short_tmp.iterdir()) == []  # the killed worker's files went with Ray's folder


@pytest.mark.slow
def test_a_killed_run_resumes_without_touching_finished_ads(store, tmp_path: Path, short_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    jobs, ids = _jobs(tmp_path, 8)
    out = tmp_path / "out"
    cmd, env = _cli(store, jobs, out, short_tmp)
    # its own process group: killing the group kills the driver and the whole runtime
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    done: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        done = [k for k, v in _manifest(out).items() if v.get("state") == "done"]
        if len(done) >= 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert 2 <= len(done) < len(ids)
    for mp4 in out.glob("*.mp4"):  # only whole ads under final names
        assert _frames(mp4) == 180
    finished = {p.stem: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem != "manifest"}
    assert set(done) <= set(finished)
    deadline = time.monotonic() + 30
    while _leftovers(short_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)  # the killed group's processes are gone once reaped

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stderr.strip() == ""  # Ray starts and stops without a word
    assert f"{len(ids) - len(finished)} done, {len(finished)} skipped, 0 failed" in rerun.stdout
    for stem, stamp in finished.items():
        assert (out / f"{stem}.json").stat().st_mtime_ns == stamp
        assert (out / f"{stem}.mp4").stat().st_mtime_ns <= stamp
    assert sorted(p.stem for p in out.glob("*.mp4")) == sorted(ids)
    assert {k: v["state"] for k, v in _manifest(out).items()} == {i: "done" for i in ids}
    assert not list(out.glob(".*partial"))
    assert _leftovers(short_tmp) == []


@pytest.mark.slow
def test_sigterm_stops_the_run_and_the_runtime(store, tmp_path: Path, short_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    build_ackb(store, tmp_path)
    jobs, ids = _jobs(tmp_path, 10, duration=15)
    out = tmp_path / "out"
    cmd, env = _cli(store, jobs, out, short_tmp)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any(v.get("state") == "running" for v in _manifest(out).values()):
            proc.send_signal(signal.SIGTERM)  # the driver only, as `kill` or `timeout` do
            break
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr.decode()[-2000:]
    assert stderr.decode().endswith("kdcvg: interrupted by SIGTERM: stopped; unfinished work "
                                    "was rolled back\n")
    assert not list(out.glob(".*partial"))
    for mp4 in out.glob("*.mp4"):
        assert _frames(mp4) == 450
    assert _leftovers(short_tmp) == []
    assert list(short_tmp.iterdir()) == []  # Ray's folder and the workers' files are gone
