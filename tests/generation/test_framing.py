"""Smart crop and padding."""

from __future__ import annotations

import numpy as np

from kdcvg.generation.framing import crop_window, fit_frame


def _frames_with_motion_at(x0: int, n: int = 6) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.full((180, 320, 3), 90, np.uint8)
        f[60:120, x0 + 3 * i:x0 + 3 * i + 30] = 250  # a bright block moving right
        frames.append(f)
    return frames


def test_crop_keeps_the_moving_region() -> None:
    # 16:9 source into 9:16: the crop may drop at most 45 % of the width
    x, y, w, h = crop_window(_frames_with_motion_at(250), (320, 180), (720, 1280))
    assert (y, h, w) == (0, 180, 176)
    assert x + w >= 280 and x > 100  # the window sits on the right, where the block moves
    x_left, *_ = crop_window(_frames_with_motion_at(10), (320, 180), (720, 1280))
    assert x_left < 40


def test_crop_is_centred_without_evidence_and_whole_when_aspects_match() -> None:
    assert crop_window([], (320, 180), (180, 320)) == (72, 0, 176, 180)
    assert crop_window([], (320, 180), (640, 360)) == (0, 0, 320, 180)
    # a square source into 16:9: full width, height cut to the output aspect (loss < 45 %)
    assert crop_window([], (200, 200), (320, 180)) == (0, 44, 200, 112)


def test_fit_pads_over_a_blurred_backdrop() -> None:
    frame = np.full((180, 320, 3), 255, np.uint8)  # a white 16:9 picture
    out = fit_frame(frame, (360, 640))
    assert out.shape == (640, 360, 3)
    # 16:9 into 9:16 would lose 68 %: the crop keeps 55 % and bands above and below are padding
    window = crop_window([], (320, 180), (360, 640))
    fg_h = round(window[3] * 360 / window[2])
    pad = (640 - fg_h) // 2
    assert pad > 40
    assert out[pad + 2:640 - pad - 2].min() == 255  # the picture itself
    assert out[:pad - 2].max() <= 130 and out[640 - pad + 2:].max() <= 130  # darkened padding
