"""Ctrl-C and SIGTERM during real commands: exit 130/143, one line, nothing kept half-done;
and a full disk under the database: a few lines, no Java stacks.

Each test runs `python -m kdcvg.cli ...` as a real subprocess on a real embedded
database, waits until the command is in the middle of its work (its progress bar
says so), sends SIGINT, runs the command again on the same folder and sends
SIGTERM, then opens the folder with the next command and checks what it holds.
Before `-Xrs`, SIGTERM crashed the JVM (SIGSEGV, `hs_err_pid*.log` in the folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JVM_NOTICE = "WARNING: Using incubator modules"  # the JVM's own, on every start
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
CLIP_FILES = 4

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "120",
            "KDCVG_JVM_HEAP": os.environ.get("KDCVG_JVM_HEAP", "1g"),
            # rich draws its progress bar into the pipe, so the test sees how far the work is
            "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}


def _sigint_default() -> None:
    # a test runner started in the background may hand SIGINT down ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kdcvg(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command to its end."""
    return subprocess.run([sys.executable, "-m", "kdcvg.cli", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


class Running:
    """A command in a subprocess whose progress output is read while it runs."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kdcvg.cli", *args], cwd=cwd,
                                     env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=_sigint_default)
        self._out = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            self._out.extend(chunk)

    @property
    def output(self) -> str:
        return ANSI.sub("", self._out.decode(errors="replace"))

    def wait_for(self, ready: Callable[[str], bool], what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self.output):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode()  # type: ignore[union-attr]
                pytest.fail(f"the command ended (rc {self.proc.returncode}) before {what}: "
                            f"{err[-1500:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"no sign of {what} within {timeout} s")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals) -> tuple[int, list[str]]:
        """Send `sig`; returns the exit status and stderr's lines, the JVM's notice left out."""
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(5)
        lines = [line for line in err.decode().splitlines() if line and JVM_NOTICE not in line]
        return self.proc.returncode, lines


def interrupt_twice(args: list[str], cwd: Path, ready: Callable[[str], bool], what: str,
                    check: Callable[[], None] = lambda: None) -> None:
    """Run `args` and stop it mid-work with SIGINT, then again with SIGTERM."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = Running(args, cwd)
        run.wait_for(ready, what)
        code, lines = run.stop(sig)
        assert (code, lines) == (EXIT[sig], [f"kdcvg: interrupted by {sig.name}: stopped; "
                                             "unfinished work was rolled back"])
        check()


def percent_between(text: str) -> bool:
    """A progress bar shows a share strictly between 0% and 100%."""
    return any(0 < int(p) < 100 for p in re.findall(r"(\d+)%", text))


def no_crash_logs(*folders: Path) -> None:
    found = [p for folder in folders for p in folder.rglob("hs_err_pid*")]
    assert found == [], f"JVM crash logs: {found}"


def stats(db: Path, cwd: Path) -> dict:  # type: ignore[type-arg]
    done = kdcvg("graph", "stats", "--json", "--db", str(db), cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """The demo ACKB (products, selling points, 33 clips with curated links), built once,
    and its stats."""
    home = tmp_path_factory.mktemp("signals-demo")
    done = kdcvg("demo", "build", "--db", str(home / "ackb"), cwd=home, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return home, stats(home / "ackb", home)


@pytest.fixture
def home(demo_home: tuple[Path, dict], tmp_path: Path) -> Path:  # type: ignore[type-arg]
    """A copy of the demo store folder for one test (its clip files stay shared)."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home[0], copy, ignore=shutil.ignore_patterns("demo_clips"))
    return copy


@pytest.fixture
def before(demo_home: tuple[Path, dict]) -> dict:  # type: ignore[type-arg]
    """The demo graph's stats before the test's command."""
    return demo_home[1]


def test_interrupted_graph_ingest_leaves_the_graph_unchanged(home: Path, tmp_path: Path,
                                                            before: dict) -> None:  # type: ignore[type-arg]
    # 200 nodes to embed, then 10,000 links: two chunks of 5,000 in one transaction
    rows = [{"type": "product", "id": "sig-p", "name": "Signal product"}]
    for i in range(100):
        rows.append({"type": "clip", "id": f"sig-c{i}", "uri": f"/nowhere/c{i}.mp4",
                     "caption": f"clip {i}"})
        rows.append({"type": "selling_point", "id": f"sig-s{i}", "product": "sig-p",
                     "text": f"selling point number {i}"})
    rows += [{"type": "link", "rel": "EXPRESSES", "from": f"sig-c{i}", "to": f"sig-s{j}",
              "weight": 0.5} for i in range(100) for j in range(100)]
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = home / "ackb"
    # the bar passes 0% only when a chunk has been written inside the open transaction
    interrupt_twice(["graph", "ingest", str(big), "--db", str(db)], tmp_path, percent_between,
                    "a chunk written mid-transaction")
    assert stats(db, tmp_path) == before
    no_crash_logs(home, tmp_path)


def test_interrupted_clip_ingest_keeps_whole_clips_only(home: Path, tmp_path: Path,
                                                        before: dict) -> None:  # type: ignore[type-arg]
    from tests.generation.adkit import write_pan_clip


    footage = tmp_path / "footage"
    footage.mkdir()
    for i in range(CLIP_FILES):
        write_pan_clip(footage / f"pan{i}.mp4", seconds=3.0, speed=2 + i)
    db = home / "ackb"

    def one_file_done(text: str) -> bool:
        return any(0 < int(d) < int(n) for d, n in re.findall(r"files\D*?(\d+)/(\d+)", text))

    interrupt_twice(["clips", "ingest", str(footage), "--db", str(db)], tmp_path, one_file_done,
                    "one file ingested")
    clips = stats(db, tmp_path)["nodes"]["Clip"]
    committed = clips["nodes"] - before["nodes"]["Clip"]["nodes"]
    assert 1 <= committed < CLIP_FILES and clips["with_embedding"] == clips["nodes"]
    # each file is its own transaction: the ones done stay done, the next run adds the rest
    rerun = kdcvg("clips", "ingest", str(footage), "--db", str(db), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"ingested {CLIP_FILES - committed}, unchanged {committed}, failed 0" in rerun.stdout
    no_crash_logs(home, tmp_path)


def test_interrupted_training_saves_no_model(home: Path, tmp_path: Path,
                                             before: dict) -> None:  # type: ignore[type-arg]
    db = home / "ackb"
    interrupt_twice(["sar", "train", "--db", str(db)], tmp_path, percent_between,
                    "training under way")
    assert not (home / "sar" / "model").exists()
    assert stats(db, tmp_path) == before
    no_crash_logs(home, tmp_path)


def test_interrupted_generation_leaves_no_files(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()

    def rendering(text: str) -> bool:
        return any(int(n) > 0 for n in re.findall(r"rendering\D*?(\d+)/\d+", text))

    def nothing_written() -> None:
        assert sorted(p.name for p in out.iterdir()) == []

    interrupt_twice(["generate", "ad", "--product", "aurora-water", "-s", "sp-aurora-water-1",
                     "-s", "sp-aurora-water-2", "--duration", "30", "--out", str(out / "ad.mp4"),
                     "--db", str(home / "ackb")], tmp_path, rendering, "frames rendered",
                    nothing_written)
    stats(home / "ackb", tmp_path)  # the folder opens again
    no_crash_logs(home, tmp_path)


def test_a_full_disk_under_the_database_is_one_error_line(tmp_path: Path) -> None:
    from tests.small_disk import fill, small_disk

    with small_disk(tmp_path / "disk", "8m") as disk:
        db = disk / "ackb"
        first = kdcvg("graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"), "--db", str(db),
                      cwd=tmp_path)
        assert first.returncode == 0, first.stderr[-2000:]
        fill(disk)
        full = kdcvg("graph", "ingest", str(ROOT / "examples" / "products.csv"), "--db", str(db),
                     cwd=tmp_path)
        (disk / "filler").unlink()  # space again: the user cleared the disk
        after = kdcvg("graph", "stats", "--json", "--db", str(db), cwd=tmp_path)
    # before: about 130 lines of Java stacks
    lines = [line for line in full.stderr.splitlines() if line and JVM_NOTICE not in line]
    assert full.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), full.stderr
    assert "is full" in lines[0], full.stderr
    # the failed transaction left nothing, and the database opens once there is space
    assert after.returncode == 0, after.stderr[-2000:]
    assert [line for line in after.stderr.splitlines() if JVM_NOTICE not in line] == []
    assert json.loads(after.stdout)["nodes"]["Product"]["nodes"] == 1
