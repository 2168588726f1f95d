"""Strict JSON Lines: one object per line, each problem at its own line, no poison."""

from __future__ import annotations

import pytest

from kdcvg.jsonl import ONE_PER_LINE, UnsafeJson, loads, parse_lines


def test_one_object_per_line_with_blank_lines_and_crlf() -> None:
    values, problems = parse_lines('{"a": 1}\r\n\n  {"b": [2, 3]}\n{"c": "x\\u00e9"}')
    assert values == [(1, {"a": 1}), (3, {"b": [2, 3]}), (4, {"c": "x\u00e9"})]
    assert problems == []


def test_split_object_and_two_objects_on_a_line_are_reported_at_their_lines() -> None:
    # together these balance out when the lines are joined into one array: the old shortcut
    # accepted this file with the wrong line numbers
    text = '{"type": "category", "name": "a", "x": [1,\n2]}\n{"type": "category", "name": "b"}, ' \
           '{"type": "category", "name": "c"}\n'
    values, problems = parse_lines(text)
    assert values == []
    assert problems == [
        (1, f"malformed JSON (Expecting value at column 43; the value does not end on this "
            f"line: {ONE_PER_LINE})"),
        (2, f"malformed JSON (Extra data at column 2: {ONE_PER_LINE})"),
        (3, f"malformed JSON (Extra data at column 34: {ONE_PER_LINE})"),
    ]


def test_nan_infinity_and_deep_nesting_are_one_line_each() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    text = f'{{"w": NaN}}\n{{"w": -Infinity}}\n{{"deep": {deep}}}\n{{"ok": 1}}\n'
    values, problems = parse_lines(text)
    assert values == [(4, {"ok": 1})]
    assert problems == [
        (1, "malformed JSON (NaN is not a JSON number; numbers must be finite)"),
        (2, "malformed JSON (-Infinity is not a JSON number; numbers must be finite)"),
        (3, "malformed JSON (nested too deeply)"),
    ]


def test_loads_is_strict_and_says_why() -> None:
    assert loads(' {"a": [1, "b"]}\n') == {"a": [1, "b"]}
    with pytest.raises(UnsafeJson, match="NaN is not a JSON number"):
        loads("NaN")
    with pytest.raises(UnsafeJson, match="nested too deeply"):
        loads("{\"a\": " * 10_000)
    with pytest.raises(ValueError, match=r"Extra data at column 10"):
        loads('{"a": 1} {"b": 2}')
