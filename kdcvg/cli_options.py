"""Option values the whole CLI shares: `key=value` pairs and ids, checked by one set of rules.

`parse_pairs` reads `-p k=v` (graph queries) and `-o k=v` (generation options);
`id_option` is a Typer callback for options that take an id (`--product`,
`--clip`, ...). Both turn a broken rule into `typer.BadParameter` naming the option,
so the user sees one line and exit status 2. Only typer is imported here.
"""

from __future__ import annotations

import math
from typing import Any

import typer

from kdcvg.jsonl import UnsafeJson, loads
from kdcvg.validation import (
    OPTION_KEY,
    OPTION_MAX_CHARS,
    InputError,
    check_id,
    check_option_value,
    check_text,
    shown,
)

PARAM_MAX_CHARS = 1_000_000  # a query parameter (a list of ids, say) as typed or pasted


def parse_pairs(pairs: list[str] | None, option: str, *, lists: bool = False) -> dict[str, Any]:
    """`["steps=20", "cta=Buy now"]` -> `{"steps": 20, "cta": "Buy now"}`.

    A value that reads as JSON is taken as such (number, true, null, a quoted text,
    and with `lists` a list); other text is taken as typed. Keys are names
    (`[A-Za-z_][A-Za-z0-9_]*`). Every value follows `check_option_value`: no objects,
    no non-finite numbers (`NaN`, `1e999`), text without control characters and at
    most `OPTION_MAX_CHARS` characters (a list, at most `PARAM_MAX_CHARS` as typed).

    Args:
        pairs: the option's values, as typed.
        option: the option's name for messages (`--option`, `--param`).
        lists: accept a JSON list of such values (query parameters such as `ids`).

    Raises:
        typer.BadParameter: naming the option, the key and the rule broken.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not OPTION_KEY.fullmatch(key):
            raise typer.BadParameter(f"{shown(pair)} is not key=value (key: letters, digits "
                                     "and '_', at most 64)", param_hint=option)
        try:
            out[key] = _value(key, text, lists)
        except InputError as e:
            raise typer.BadParameter(str(e), param_hint=option) from e
    return out


def _value(key: str, text: str, lists: bool) -> Any:
    limit = PARAM_MAX_CHARS if lists else OPTION_MAX_CHARS
    if len(text) > limit:
        raise InputError(f"{key}: is {len(text)} characters, the limit is {limit}")
    try:
        value = loads(text)
    except UnsafeJson as e:
        raise InputError(f"{key}: {shown(text)} is refused ({e})") from e
    except ValueError:
        value = text  # not JSON: plain text
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{key}: {shown(text)} is not a finite number")
    if lists and isinstance(value, list):
        return [check_option_value(f"{key}: item {i}", v) for i, v in enumerate(value, start=1)]
    return check_option_value(key, value)


def id_option(value: Any) -> Any:
    """Typer callback: the option's value(s) follow the id rule (None passes through)."""
    if value is None:
        return None
    try:
        if isinstance(value, list | tuple):
            return [check_id("value", v) for v in value]
        return check_id("value", value)
    except InputError as e:
        raise typer.BadParameter(str(e).removeprefix("value: ")) from e


def text_option(value: Any) -> Any:
    """Typer callback: one-line text without control or bidi characters (ids pass too)."""
    if value is None:
        return None
    try:
        if isinstance(value, list | tuple):
            return [check_text("value", v, multiline=False) for v in value]
        return check_text("value", value, multiline=False)
    except InputError as e:
        raise typer.BadParameter(str(e).removeprefix("value: ")) from e
