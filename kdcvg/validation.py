"""The rules every value from outside passes: ids, names, free text, numbers, option values.

One place for each rule, used by every reader (curator files, clip sidecars and
manifests, feedback, job files) and every CLI option that takes an id. A check
returns the clean value or raises `InputError`, whose one-line message names the
field, shows the value (shortened) and states the rule:

    >>> check_id("product", "p-1")
    'p-1'
    >>> check_id("product", "../x")
    Traceback (most recent call last):
    ...
    kdcvg.validation.InputError: product: '../x' is not a valid id (ids are 1 to 128 ...

Paths built from ids go through `safe_child`, which resolves the path and checks
that it stays inside its folder: the guard is the resolved path, not the id rule.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from kdcvg.errors import KdcvgError

ID_MAX_CHARS = 128
NAME_MAX_CHARS = 200  # short human-entered texts: names, brands, categories, tags
TEXT_MAX_CHARS = 2000  # free text: descriptions, captions, selling points
OPTION_MAX_CHARS = 1024  # a `key=value` option's text (a model folder path fits)
OPTION_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ID_RULE = (f"ids are 1 to {ID_MAX_CHARS} characters: ASCII letters, digits, '.', '_' or '-', "
           "starting with a letter or digit, without '..'")
_ID_MATCH = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{ID_MAX_CHARS - 1}}}").fullmatch
# Bidirectional embeddings, overrides and isolates: they make text display in another
# order than it is stored ("Trojan Source"); never needed in a name or an ad's text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SHOWN_CHARS = 60

# Bounds of the numbers a clip row carries (inclusive): a 24 h clip, 1000 fps, 16K frames.
CLIP_NUMBER_BOUNDS: dict[str, tuple[type, float, float]] = {
    "duration_s": (float, 0.0, 86_400.0),
    "fps": (float, 0.0, 1000.0),
    "width": (int, 1, 16_384),
    "height": (int, 1, 16_384),
}


class InputError(KdcvgError):
    """One value from outside broke a rule; the message names the field, value and rule."""


def shown(value: Any) -> str:
    """`repr(value)` for messages, shortened to about 60 characters."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS - 3]}... ({len(text)} characters)"


def check_id(field: str, value: Any) -> str:
    """An id: it names nodes, files and folders, so only a small safe alphabet.

    Raises:
        InputError: not a string, empty, too long, or a character outside the rule.
    """
    if type(value) is str and _ID_MATCH(value) and ".." not in value:
        return value
    if not isinstance(value, str):
        raise InputError(f"{field}: expected an id (text), got {type(value).__name__} "
                         f"{shown(value)}")
    if not _ID_MATCH(value) or ".." in value:
        raise InputError(f"{field}: {shown(value)} is not a valid id ({ID_RULE})")
    return value


def _bad_char(value: str, multiline: bool) -> str | None:
    """Why a string cannot be stored or shown safely, or None."""
    for i, ch in enumerate(value):
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return f"a lone surrogate U+{code:04X} at character {i + 1} (not valid Unicode text)"
        if (code < 0x20 or 0x7F <= code <= 0x9F) and not (multiline and ch in "\t\n\r"):
            return f"the control character U+{code:04X} at character {i + 1}"
        if ch in _BIDI_CONTROLS:
            return f"the bidirectional control U+{code:04X} at character {i + 1}"
    return None


def check_text(field: str, value: Any, limit: int = TEXT_MAX_CHARS, *,
               multiline: bool | None = None) -> str:
    """Text as stored: stripped, non-empty, at most `limit` characters.

    Valid Unicode (no lone surrogates), no control characters (tab and line breaks
    only in multi-line text: by default text allowed over `NAME_MAX_CHARS`), no
    bidirectional overrides.

    Raises:
        InputError: naming the field, the value and the rule broken.
    """
    if type(value) is str and len(value) <= limit and value.isascii() and value.isprintable():
        text = value.strip()
        if text:  # the common case: plain printable ASCII
            return text
    if not isinstance(value, str):
        raise InputError(f"{field}: expected text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InputError(f"{field}: is empty")
    if len(text) > limit:
        raise InputError(f"{field}: is {len(text)} characters, the limit is {limit}")
    if not (text.isascii() and text.isprintable()):
        bad = _bad_char(text, limit > NAME_MAX_CHARS if multiline is None else multiline)
        if bad:
            raise InputError(f"{field}: {shown(text)} contains {bad}")
    return text


def check_number(field: str, value: Any, kind: type = float, lo: float | None = None,
                 hi: float | None = None) -> float | int:
    """A finite number (an integer when `kind` is int) within [lo, hi].

    Text is accepted when it reads as a number (CSV cells are text); booleans are not.

    Raises:
        InputError: not a number, not finite, not whole, or out of range.
    """
    if type(value) is float and kind is float and math.isfinite(value) and \
            (lo is None or value >= lo) and (hi is None or value <= hi):
        return value  # the common case
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{field}: expected {what}, got {shown(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise InputError(f"{field}: expected {what}, got {shown(value)}") from None
    if not math.isfinite(number):
        raise InputError(f"{field}: {shown(value)} is not a finite number")
    if kind is int and not number.is_integer():
        raise InputError(f"{field}: expected {what}, got {shown(value)}")
    result = int(number) if kind is int else number
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise InputError(f"{field}: {shown(value) if kind is int else result} is outside "
                         f"[{lo}, {hi}]")
    return result


def check_option_value(field: str, value: Any) -> Any:
    """A backend option's value: text, a finite number, true/false or null, never a list
    or an object (no backend option takes one).

    Raises:
        InputError: naming the option.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        check_number(field, value)
        return value  # an integer stays one
    if isinstance(value, str):  # checked, kept as given (spaces included)
        if value.strip():
            check_text(field, value, OPTION_MAX_CHARS, multiline=False)
        elif len(value) > OPTION_MAX_CHARS:
            raise InputError(f"{field}: is {len(value)} characters, the limit is "
                             f"{OPTION_MAX_CHARS}")
        return value
    raise InputError(f"{field}: expected text, a number, true/false or null, got "
                     f"{type(value).__name__} {shown(value)}")


def check_options(field: str, options: Any) -> dict[str, Any]:
    """A mapping of backend options: keys as `OPTION_KEY`, each value as `check_option_value`.

    Raises:
        InputError: naming the first bad key or value.
    """
    if not isinstance(options, dict):
        raise InputError(f"{field}: expected an object of options, got {type(options).__name__}")
    out = {}
    for key, value in options.items():
        if not isinstance(key, str) or not OPTION_KEY.fullmatch(key):
            raise InputError(f"{field}: option name {shown(key)} is not a name (letters, "
                             "digits and '_', at most 64)")
        out[key] = check_option_value(f"{field}.{key}", value)
    return out


def safe_child(folder: str | Path, name: str) -> Path:
    """`folder / name`, resolved, checked to stay inside `folder` (symlinks followed).

    Raises:
        InputError: the path would leave the folder (an absolute name, `..`, a link).
    """
    base = Path(folder).resolve()
    path = (base / name).resolve()
    if path == base or not path.is_relative_to(base):
        raise InputError(f"path {shown(name)} leaves its folder {base}; names must stay inside it")
    return path
