"""The `kdcvg` command as a whole: exact help text, and nothing on stderr but what a user can act on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer._click import core
from typer.testing import CliRunner

from kdcvg.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_option_with_a_default_shows_it_in_help() -> None:
    hidden = []
    for path, command in _commands(typer.main.get_command(app)):
        ctx = core.Context(command, info_name=path[-1])
        for param in command.params:
            if getattr(param, "param_type_name", "") != "option" or param.name == "help":
                continue
            if param.default in (None, False, [], ()) or param.required:
                continue  # optional with no value, an off flag, or required: nothing to show
            record = param.get_help_record(ctx)
            if record is None or "[default: " not in record[1]:
                hidden.append(f"{' '.join(path)} {param.opts[0]}")
    assert hidden == []


def test_help_keeps_defaults_written_in_the_help_text() -> None:
    out = CliRunner().invoke(app, ["sar", "train", "--help"]).output
    flat = " ".join(out.split())
    assert "Supervised epochs (max). [default: 60; x>=1]" in flat
    assert "Embedded database folder [default: ./.kdcvg/ackb, or $KDCVG_DB]." in flat


def test_a_command_that_starts_the_embedded_server_prints_nothing_on_stderr(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "kdcvg.cli", "graph", "stats", "--json",
                             "--db", str(tmp_path / "ackb")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert '"Product"' in result.stdout
