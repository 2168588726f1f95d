"""The `kdcvg` command: one Typer sub-app per area, joined here.

Sub-app modules import only typer at module level, so `kdcvg --help` is fast.
A `KdcvgError` from library code becomes one line on stderr and exit status 1.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from kdcvg.errors import KdcvgError


class _Group(TyperGroup):
    """Turns expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KdcvgError as e:
            # plain text, not a rich box: validation lists must stay one problem per line
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from e


app = typer.Typer(
    cls=_Group,
    help="kdcvg: knowledge-driven creative video generation for advertising.\n\n"
    "Curate a knowledge graph of products, selling points and creative clips, retrieve the "
    "clips that express a selling point (SAR), and generate ad videos from them (MKR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (module, attribute, command name)
_SUB_APPS = [
    ("kdcvg.graph.cli", "graph_app", "graph"),
    ("kdcvg.graph.clips_cli", "clips_app", "clips"),
    ("kdcvg.graph.clips_cli", "demo_app", "demo"),
    ("kdcvg.retrieval.cli", "sar_app", "sar"),
    ("kdcvg.generation.cli", "generate_app", "generate"),
]
for _module, _attr, _name in _SUB_APPS:
    app.add_typer(getattr(importlib.import_module(_module), _attr), name=_name)


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
