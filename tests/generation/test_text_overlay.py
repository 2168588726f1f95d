"""Captions, tags and the end card stay inside the format's safe margins and are legible."""

from __future__ import annotations

import numpy as np
import pytest

from kdcvg.generation import text_overlay as tx


@pytest.mark.parametrize("size", [(720, 1280), (720, 720), (1280, 720), (1080, 1920)])
def test_overlays_sit_inside_the_safe_box(size: tuple[int, int]) -> None:
    left, top, right, bottom = tx.safe_box(size)
    long_text = "Keeps water ice cold for twenty four hours even on the hottest summer day"
    for overlay in (tx.caption(long_text, size), tx.brand_tag("AquaPure Bottle", size),
                    tx.end_card("AquaPure Bottle", "Shop now", size, (232, 72, 85))):
        h, w = overlay.rgba.shape[:2]
        assert left <= overlay.x and overlay.x + w <= right
        assert top <= overlay.y and overlay.y + h <= bottom


def test_nine_sixteen_keeps_the_bottom_fifth_clear() -> None:
    assert tx.safe_box((720, 1280)) == (50, 128, 669, 998)


def test_wrap_respects_the_width() -> None:
    font = tx.font(40)
    lines = tx.wrap("one two three four five six seven eight nine ten", font, 300)
    assert len(lines) > 1 and all(font.getlength(line) <= 300 for line in lines)
    assert " ".join(lines) == "one two three four five six seven eight nine ten"


def test_caption_is_white_on_a_dark_box() -> None:
    overlay = tx.caption("Pours smoothly", (720, 1280))
    rgb, alpha = overlay.rgba[..., :3], overlay.rgba[..., 3]
    assert rgb[alpha > 200].max() == 255  # white text
    assert 120 < alpha[alpha > 0].min() and np.median(rgb[..., 0][alpha > 0]) < 60  # dark box


def test_blend_touches_only_the_overlay_region() -> None:
    frame = np.full((200, 300, 3), 100, np.uint8)
    patch = np.zeros((20, 30, 4), np.uint8)
    patch[..., 0] = 255
    patch[..., 3] = 255
    tx.blend(frame, tx.Overlay(patch, 10, 40))
    assert (frame[40:60, 10:40, 0] == 254).all()  # (255 * 255 + 100) >> 8
    frame[40:60, 10:40] = 100
    assert (frame == 100).all()
    tx.blend(frame, tx.Overlay(patch, 290, 190), opacity=0.5)  # clipped at the corner
    assert frame[195, 295, 0] == 176 and frame[195, 285, 0] == 100  # (255*127 + 100*129) >> 8


def test_format_of_picks_the_nearest_aspect() -> None:
    assert [tx.format_of(s) for s in ((1080, 1920), (500, 500), (1920, 1080))] == [
        "9:16", "1:1", "16:9"]


LONG_NAME = ("Northbean Reserve Single-Origin Ethiopian Yirgacheffe Nitro Cold Brew Coffee "
             "with Oat Milk, a Twelve-Pack of Tall Cans!!")


def _words_kept_whole(lines: list[str], text: str) -> bool:
    """The lines are the text's words in order, each whole or hyphen-split, with at most a
    trailing ellipsis after a whole word."""
    joined = " ".join(lines).replace("- ", "").replace("-\n", "")
    if joined.endswith(tx.ELLIPSIS):
        kept = joined.removesuffix(tx.ELLIPSIS).split()
        return kept == text.split()[:len(kept)]
    return joined.split() == text.split()


@pytest.mark.parametrize("size", [(720, 1280), (720, 720), (1280, 720), (360, 640)])
def test_a_120_character_name_is_wrapped_or_shrunk_never_cut_at_the_edge(
    size: tuple[int, int]
) -> None:
    assert len(LONG_NAME) == 120
    left, top, right, bottom = tx.safe_box(size)
    for overlay in (tx.brand_tag(LONG_NAME, size),
                    tx.end_card(LONG_NAME, "Shop now", size, (232, 72, 85)),
                    tx.caption(LONG_NAME, size), tx.headline(LONG_NAME, size)):
        h, w = overlay.rgba.shape[:2]
        assert left <= overlay.x and overlay.x + w <= right
        assert 0 <= overlay.y and overlay.y + h <= size[1]
    start = max(16, int(min(size) * 0.085))
    fitted = tx.fit_text(LONG_NAME, right - left, 3, start, max(12, int(start * 0.5)), 22)
    assert all(fitted.font.getlength(line) + 2 * fitted.stroke + 2 <= right - left
               for line in fitted.lines)
    assert len(fitted.lines) <= 3 and _words_kept_whole(fitted.lines, LONG_NAME)


def test_fit_text_shrinks_before_it_drops_words() -> None:
    fitted = tx.fit_text(LONG_NAME, 600, 3, 60, 20)
    assert fitted.font.size < 60 and len(fitted.lines) <= 3
    assert not fitted.lines[-1].endswith(tx.ELLIPSIS)  # fits whole at a smaller size
    squeezed = tx.fit_text(LONG_NAME, 200, 2, 40, 30)
    assert squeezed.lines[-1].endswith(tx.ELLIPSIS) and _words_kept_whole(squeezed.lines,
                                                                           LONG_NAME)


def test_a_word_wider_than_the_line_is_hyphenated_not_cut() -> None:
    font = tx.font(40)
    lines = tx.wrap("Supercalifragilisticexpialidocious", font, 150)
    assert len(lines) > 1 and all(font.getlength(line) <= 150 for line in lines)
    assert "".join(line.removesuffix("-") for line in lines) == "Supercalifragilisticexpialidocious"
