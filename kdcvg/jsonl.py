"""Strict JSON and JSON Lines reading, shared by every reader of files from outside.

Strict means: only JSON (`NaN`, `Infinity` and `-Infinity` are refused: they are
not JSON and they poison scores and training), nesting deep enough to exhaust the
parser is a one-line problem (not a `RecursionError`), and in JSON Lines each
line holds exactly one value: a value split over two lines or two values on one
line are problems, each reported at its own line.

Numbers too large for a float (`1e999`) parse as infinity; the field checks of
`kdcvg.validation` refuse them with the field's name.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ONE_PER_LINE = "a JSONL file holds one JSON object per line"
_WS = re.compile(r"[ \t\r]*")  # JSON whitespace that can sit inside one line
_WS_ANY = re.compile(r"[ \t\r\n]*")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic containers.

    Parsed JSON and the rows built from it hold no reference cycles; without the pause
    the collector scans them again and again as they accumulate (parsing 300k lines
    took about 2.5x longer). Plain reference counting still frees everything.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class UnsafeJson(ValueError):
    """Text that is refused as JSON, not merely malformed: NaN or Infinity, or nesting too
    deep to parse."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number; numbers must be finite")


# one decoder: its C scanner parses a value starting at an index and says where it ended
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN: Any = _DECODER.scan_once  # type: ignore[attr-defined]  # set by __init__, not declared


def _end_of_whitespace(pattern: re.Pattern[str], text: str, pos: int = 0) -> int:
    """Where the run of whitespace at `pos` ends (the patterns match the empty string too)."""
    found = pattern.match(text, pos)
    return found.end() if found else pos


def _problem(error: Exception, text: str, start: int) -> str:
    """One line describing why `text` did not parse as one value from `start`."""
    if isinstance(error, StopIteration):  # the scanner's "no value here", with its position
        at = error.value if isinstance(error.value, int) else start
        return f"malformed JSON (Expecting value at column {at + 1})"
    if isinstance(error, json.JSONDecodeError):
        return f"malformed JSON ({error.msg} at column {error.pos + 1})"
    if isinstance(error, RecursionError):
        return "malformed JSON (nested too deeply)"
    return f"malformed JSON ({error})"  # a refused constant, an integer with too many digits


def loads(text: str) -> Any:
    """One strict JSON value from `text`.

    Raises:
        UnsafeJson: NaN, Infinity or nesting too deep to parse ("malformed JSON (...)").
        ValueError: otherwise malformed, with a one-line reason ("malformed JSON (...)").
    """
    start = _end_of_whitespace(_WS_ANY, text)
    try:
        value, end = _SCAN(text, start)
    except (UnsafeJson, RecursionError) as e:
        raise UnsafeJson(_problem(e, text, start)) from None
    except (StopIteration, ValueError) as e:
        raise ValueError(_problem(e, text, start)) from None
    rest = text[end:].strip(" \t\r\n")
    if rest:
        raise ValueError(f"malformed JSON (Extra data at column {len(text) - len(rest) + 1})")
    return value


def parse_lines(text: str) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """Values of a JSON Lines text by line number, and problems by line number.

    Blank lines are skipped; lines are separated by `\\n` (a `\\r` before it is
    whitespace). About as fast as one `json.loads` of the whole file.

    Returns:
        `(values, problems)`: `[(line, value)]` and `[(line, reason)]`, in line order.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line break
    with gc_paused():
        try:  # fast path: every line is one value from its first to its last character
            # (a StopIteration, the scanner's "no value here", silently ends `map` early)
            scanned = list(map(_SCAN, lines, [0] * len(lines)))
        except (ValueError, RecursionError):
            pass  # a problem: the careful pass below names it
        else:
            if len(scanned) == len(lines) and \
                    all(map(int.__eq__, [end for _, end in scanned], map(len, lines))):
                return [(n, value) for n, (value, _) in enumerate(scanned, start=1)], []
        return _parse_lines_carefully(lines)


def _parse_lines_carefully(lines: list[str]) -> tuple[list[tuple[int, Any]],
                                                       list[tuple[int, str]]]:
    """`parse_lines`, line by line: skips blank lines, names each problem's line."""
    values: list[tuple[int, Any]] = []
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        start = _end_of_whitespace(_WS, line)
        if start == len(line):
            continue
        try:
            value, end = _SCAN(line, start)
        except (StopIteration, ValueError, RecursionError) as e:
            reason = _problem(e, line, start)
            at = e.pos if isinstance(e, json.JSONDecodeError) else \
                e.value if isinstance(e, StopIteration) else 0
            if isinstance(at, int) and at >= len(line.rstrip(" \t\r")):
                reason = f"{reason[:-1]}; the value does not end on this line: {ONE_PER_LINE})"
            problems.append((number, reason))
            continue
        if end != len(line) and (extra := _end_of_whitespace(_WS, line, end)) != len(line):
            problems.append((number, f"malformed JSON (Extra data at column {extra + 1}: "
                                     f"{ONE_PER_LINE})"))
            continue
        values.append((number, value))
    return values, problems
