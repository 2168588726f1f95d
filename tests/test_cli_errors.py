"""Any unexpected failure of any command: one line, a logged traceback, exit 1, rolled back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kdcvg.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _one_line_and_log(output: str, command: str, error: str, log_dir: Path) -> Path:
    # the bundled JVM's own start-up notice is not ours (silenced on main)
    lines = [x for x in output.strip().splitlines() if not x.startswith("WARNING: Using incubator")]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"error: `kdcvg {command}` failed unexpectedly ({error}); "
                               f"full traceback in {log_dir}")
    assert "Traceback" not in output
    log = Path(lines[0].rsplit(" ", 1)[1])
    assert log.parent == log_dir and oct(log.stat().st_mode & 0o777) == "0o600"
    return log


def test_a_bug_is_one_line_and_a_logged_traceback(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import kdcvg.generation.report as report

    def broken(*_: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(report, "write_report", broken)
    monkeypatch.setenv("KDCVG_LOG_DIR", str(tmp_path / "logs"))
    result = runner.invoke(app, ["generate", "report", str(tmp_path)])
    assert result.exit_code == 1
    log = _one_line_and_log(result.output, "generate report", "RuntimeError: disk on fire",
                            tmp_path / "logs")
    text = log.read_text()
    assert text.startswith("kdcvg generate report\nTraceback (most recent call last):")
    assert "RuntimeError: disk on fire" in text and "in broken" in text


def test_expected_errors_and_usage_errors_keep_their_own_lines(tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "README.md")])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert "failed unexpectedly" not in result.output
    result = runner.invoke(app, ["graph", "stats", "--no-such-option"])
    assert result.exit_code == 2 and "failed unexpectedly" not in result.output


def test_a_failure_inside_an_ingest_rolls_back(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import kdcvg.graph.ingest as ingest
    from kdcvg.config import resolve_store
    from kdcvg.graph.store import open_store

    real = ingest._chunks

    def failing(rows: list, size: int = ingest.BATCH_ROWS) -> list:
        if rows and isinstance(rows[0], dict) and "source" in rows[0]:  # links: nodes are in
            raise RuntimeError("injected after the nodes were written")
        return real(rows, size)

    monkeypatch.setattr(ingest, "_chunks", failing)
    monkeypatch.setenv("KDCVG_LOG_DIR", str(tmp_path / "logs"))
    db = tmp_path / "ackb"
    result = runner.invoke(app, ["graph", "ingest", str(ROOT / "examples" / "ackb.jsonl"),
                                 "--db", str(db)])
    assert result.exit_code == 1
    _one_line_and_log(result.output, "graph ingest",
                      "RuntimeError: injected after the nodes were written", tmp_path / "logs")
    with open_store(resolve_store(db=db)) as store:
        assert store.query("label_counts") == []  # type: ignore[attr-defined]


def test_the_process_exits_1_not_134_with_the_server_running(tmp_path: Path) -> None:
    code = ("import sys, kdcvg.graph.ingest as i\n"
            "def boom(*a, **k): raise ValueError('cannot pack 1e308')\n"
            "i.write_batch = boom\n"
            "from kdcvg.cli import main\n"
            f"sys.argv = ['kdcvg', 'graph', 'ingest', {str(ROOT / 'examples' / 'ackb.jsonl')!r},"
            f" '--db', {str(tmp_path / 'ackb')!r}]\n"
            "main()\n")
    env = {**os.environ, "KDCVG_LOG_DIR": str(tmp_path / "logs"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    _one_line_and_log(done.stderr, "graph ingest", "ValueError: cannot pack 1e308",
                      tmp_path / "logs")
    assert "FATAL" not in done.stderr and "exception not rethrown" not in done.stderr
    assert not list((tmp_path / "ackb").rglob("hs_err_pid*.log"))
