"""The `kdcvg` command: one Typer sub-app per area, joined here.

Sub-app modules import only typer at module level, so `kdcvg --help` is fast.
A `KdcvgError` from library code becomes one line on stderr and exit status 1.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from kdcvg.errors import KdcvgError

LOG_DIR_NAME = "kdcvg-logs"  # under the system temp folder (or $KDCVG_LOG_DIR)


def write_crash_log(command: str, error: BaseException) -> Path | None:
    """Write `error`'s full traceback to a new owner-only file; None when that fails too.

    The folder is `$KDCVG_LOG_DIR`, or `kdcvg-logs/` in the system temp folder
    (`tempfile.gettempdir()`, usually /tmp); the file is `<UTC time>-<pid>.log`.
    """
    import os
    import tempfile
    import traceback
    from datetime import UTC, datetime

    folder = Path(os.environ.get("KDCVG_LOG_DIR") or Path(tempfile.gettempdir()) / LOG_DIR_NAME)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{stamp}-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"kdcvg {command}\n")
            f.write("".join(traceback.format_exception(error)))
    except (OSError, RecursionError):
        return None
    return path


def unexpected_error_line(command: str, error: BaseException) -> str:
    """The one line a user sees for a bug or an unforeseen failure (the traceback is logged)."""
    log = write_crash_log(command, error)
    first = (str(error).splitlines() or [""])[0][:200]
    where = f"full traceback in {log}" if log else "the traceback could not be written"
    return (f"error: `kdcvg {command}` failed unexpectedly ({type(error).__name__}"
            f"{': ' + first if first else ''}); {where}")


class _Group(TyperGroup):
    """Turns errors into one clear line on stderr and exit status 1, never a traceback.

    A `KdcvgError` is an expected failure: its message is the line. Anything else is a
    bug or an unforeseen failure: one line names it and where its full traceback was
    logged (`write_crash_log`). Either way the command's transactions were rolled back
    on the way out, since the store's context managers closed before we got here.
    """

    def invoke(self, ctx: Any) -> Any:
        rest = list(ctx.args)  # what follows the sub-app's name, before click consumes it
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer's own: usage errors (exit 2), --help, a command's chosen exit
        except Exception as e:
            from kdcvg.interrupts import interrupt_of

            if interrupt_of(e) is not None:
                raise  # raised while unwinding Ctrl-C/SIGTERM: `main` reports the signal
            if isinstance(e, KdcvgError):
                # plain text, not a rich box: validation lists must stay one problem per line
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(1) from e
            # the last line of defence for anything else, logged in full
            typer.echo(unexpected_error_line(self._command_name(ctx, rest), e), err=True)
            raise typer.Exit(1) from None

    def _command_name(self, ctx: Any, rest: list[str]) -> str:
        """The failed command, e.g. "graph ingest" (the sub-app, then its command)."""
        names = [ctx.invoked_subcommand] if ctx.invoked_subcommand else []
        sub = self.get_command(ctx, names[0]) if names else None
        if rest and isinstance(sub, TyperGroup) and sub.get_command(ctx, rest[0]):
            names.append(rest[0])
        return " ".join(names) or "(no command)"


app = typer.Typer(
    cls=_Group,
    help="kdcvg: knowledge-driven creative video generation for advertising.\n\n"
    "Curate a knowledge graph of products, selling points and creative clips, retrieve the "
    "clips that express a selling point (SAR), and generate ad videos from them (MKR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help text is plain text: under Rich markup a "[default: 60]" in a help string is
    # taken for a style tag and vanishes. Sub-apps inherit this from the root.
    rich_markup_mode=None,
)

# (module, attribute, command name)
_SUB_APPS = [
    ("kdcvg.graph.cli", "graph_app", "graph"),
    ("kdcvg.graph.clips_cli", "clips_app", "clips"),
    ("kdcvg.demo.cli", "demo_app", "demo"),
    ("kdcvg.retrieval.cli", "sar_app", "sar"),
    ("kdcvg.generation.cli", "generate_app", "generate"),
]
for _module, _attr, _name in _SUB_APPS:
    app.add_typer(getattr(importlib.import_module(_module), _attr), name=_name)
# single commands: (module, function, command name)
_COMMANDS = [("kdcvg.serve.cli", "serve", "serve")]
for _module, _attr, _name in _COMMANDS:
    app.command(_name)(getattr(importlib.import_module(_module), _attr))


def main() -> None:
    """The `kdcvg` entry point: run the command, then end the process (see `exit_process`).

    Ctrl-C (SIGINT) and SIGTERM stop the command where it is: what it had not finished
    is rolled back or removed on the way out, the embedded server is stopped, one line
    says so on stderr, and the exit status is 130 (SIGINT) or 143 (SIGTERM).
    """
    import sys

    from kdcvg import interrupts
    from kdcvg.graph.server import exit_process

    interrupts.install()
    try:
        app()
    except BaseException as e:  # Typer ends every run with SystemExit
        interrupts.ignore()  # the work is over: a late signal must not break the exit
        stop = interrupts.interrupt_of(e)
        if stop is None and not isinstance(e, SystemExit):
            raise
        if stop is None:
            code = e.code  # type: ignore[attr-defined]
        else:
            print(f"kdcvg: {stop}: stopped; unfinished work was rolled back", file=sys.stderr)
            code = stop.exit_code
        exit_process(code)


if __name__ == "__main__":
    main()
