"""The id, text and number rules and the safe path helper, one value at a time."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kdcvg.validation import (
    ID_RULE,
    InputError,
    check_id,
    check_number,
    check_options,
    check_text,
    safe_child,
)


@pytest.mark.parametrize("value", ["p1", "sp-cold-brew-1", "clip_7.v2", "A" * 128])
def test_ids_that_pass(value: str) -> None:
    assert check_id("product", value) == value


@pytest.mark.parametrize("value", [
    "/abs/path", "../../escape", "a/b", "a\\b", "..", "a..b", ".hidden", "-x", "", " p1",
    "p\x00", "p\x1b[31m", "p\u202e1", "p\ud800", "\u0440\u0440", "A" * 129, "p 1",
])
def test_ids_that_are_refused_name_field_value_and_rule(value: str) -> None:
    with pytest.raises(InputError) as e:
        check_id("product", value)
    assert str(e.value).startswith(f"product: {value!r}"[:60])
    assert ID_RULE in str(e.value) and "\n" not in str(e.value)


def test_an_id_that_is_not_text() -> None:
    with pytest.raises(InputError, match=r"^id: expected an id \(text\), got list \['a'\]$"):
        check_id("id", ["a"])


@pytest.mark.parametrize(("value", "reason"), [
    ("caf\ud800", "a lone surrogate U+D800 at character 4 (not valid Unicode text)"),
    ("a\x1b[2Jb", "the control character U+001B at character 2"),
    ("a\x00b", "the control character U+0000 at character 2"),
    ("evil\u202etxt.exe", "the bidirectional control U+202E at character 5"),
    ("two\nlines", "the control character U+000A at character 4"),
])
def test_names_refuse_unsafe_characters(value: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        check_text("name", value, 200)
    assert str(e.value) == f"name: {value!r} contains {reason}"


def test_free_text_keeps_line_breaks_and_joiners_but_no_surrogates() -> None:
    assert check_text("description", " two\nlines\tand \u200d ") == "two\nlines\tand \u200d"
    assert check_text("name", "Caf\u00e9 \u05e9\u05dc\u05d5\u05dd", 200) == "Caf\u00e9 \u05e9\u05dc\u05d5\u05dd"
    with pytest.raises(InputError, match="lone surrogate"):
        check_text("description", "x\udfff")


@pytest.mark.parametrize(("value", "kind", "message"), [
    (float("nan"), float, "weight: nan is not a finite number"),
    ("NaN", float, "weight: 'NaN' is not a finite number"),
    (math.inf, float, "weight: inf is not a finite number"),
    ("-Infinity", float, "weight: '-Infinity' is not a finite number"),
    (True, float, "weight: expected a number, got True"),
    ("abc", float, "weight: expected a number, got 'abc'"),
    ([1], float, "weight: expected a number, got [1]"),
    (1e308, int, "weight: 1e+308 is outside [1, 16384]"),
    (2.5, int, "weight: expected an integer, got 2.5"),
])
def test_numbers_are_finite_typed_and_bounded(value: object, kind: type, message: str) -> None:
    with pytest.raises(InputError) as e:
        check_number("weight", value, kind, 1, 16384)
    assert str(e.value) == message


def test_numbers_that_pass() -> None:
    assert check_number("fps", "24", float, 0, 1000) == 24.0
    assert check_number("width", 256.0, int, 1, 16384) == 256
    assert isinstance(check_number("width", "256", int, 1, 16384), int)


def test_options_are_scalars_with_bounded_text() -> None:
    assert check_options("options", {"steps": 20, "cta": "Buy now", "lora": True,
                                     "x": None}) == {"steps": 20, "cta": "Buy now",
                                                     "lora": True, "x": None}
    for options, message in [
        ({"cta": "x" * 20_000}, "options.cta: is 20000 characters, the limit is 1024"),
        ({"cta": {"a": 1}}, "options.cta: expected text, a number, true/false or null, got "
                            "dict {'a': 1}"),
        ({"fps": math.nan}, "options.fps: nan is not a finite number"),
        ({"bad key": 1}, "options: option name 'bad key' is not a name (letters, digits and "
                         "'_', at most 64)"),
    ]:
        with pytest.raises(InputError) as e:
            check_options("options", options)
        assert str(e.value) == message


def test_safe_child_stays_inside_its_folder(tmp_path: Path) -> None:
    assert safe_child(tmp_path, "a.jpg") == (tmp_path / "a.jpg").resolve()
    assert safe_child(tmp_path, "sub/a.jpg") == (tmp_path / "sub" / "a.jpg").resolve()
    (tmp_path / "link").symlink_to("/etc")
    for name in ("../x.jpg", "/etc/passwd", "a/../../x", "link/passwd", ".", ""):
        with pytest.raises(InputError, match="leaves its folder"):
            safe_child(tmp_path, name)
