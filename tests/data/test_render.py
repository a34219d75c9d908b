import hashlib
import importlib.resources

import numpy as np
import pytest

from diffusers_textvid.data.prompts import VOCABULARY
from diffusers_textvid.data.render import (
    FONT_FILE, FRAME_SIZE, NUM_FRAMES, font_bytes, glyph_atlas, render_text_video, text_windows,
)

FONT_SHA256 = "0637fea8f858cd1d9a6e0ff786bed3d8cc2dc59b871a28e268a5a0106f052a92"
PROMPTS = ["A", "I", "W", "AB", "ZZ9", "HELLO", "M1M1M1", "WWWWWW"]


def frame_steps(video: np.ndarray) -> list[int]:
    """Leftward shift in pixels between consecutive frames, for each pair where a single shift
    makes the overlapping parts of the two frames identical and that overlap has lit pixels."""
    steps = []
    for before, after in zip(video[:-1], video[1:]):
        matches = [
            shift for shift in range(1, FRAME_SIZE)
            if before[:, shift:].any() and np.array_equal(after[:, : FRAME_SIZE - shift], before[:, shift:])
        ]
        if len(matches) == 1:
            steps.append(matches[0])
    return steps


def test_render_gives_uint8_frames_of_the_declared_size():
    video = render_text_video("HELLO")
    assert video.dtype == np.uint8
    assert video.shape == (NUM_FRAMES, FRAME_SIZE, FRAME_SIZE) == (16, 32, 32)


def test_render_is_deterministic_and_ignores_case():
    first = render_text_video("Hello1")
    np.testing.assert_array_equal(first, render_text_video("Hello1"))
    np.testing.assert_array_equal(first, render_text_video("HELLO1"))


def test_render_of_different_prompts_differs():
    assert not np.array_equal(render_text_video("AB"), render_text_video("BA"))


def test_render_rejects_an_invalid_prompt():
    with pytest.raises(ValueError, match="'!'"):
        render_text_video("HI!")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_first_and_last_frames_are_black(prompt):
    video = render_text_video(prompt)
    assert not video[0].any()
    assert not video[-1].any()
    assert video[1:-1].any()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_text_enters_at_the_right_edge_and_leaves_at_the_left_edge(prompt):
    video = render_text_video(prompt)
    lit_frames = [frame for frame in video if frame.any()]
    assert lit_frames[0][:, -1].any() and not lit_frames[0][:, 0].any()
    assert lit_frames[-1][:, 0].any() and not lit_frames[-1][:, -1].any()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_text_moves_right_to_left_by_a_constant_step_within_one_pixel(prompt):
    steps = frame_steps(render_text_video(prompt))
    assert len(steps) >= 8, "too few frame pairs to measure the motion"
    assert min(steps) > 0
    assert max(steps) - min(steps) <= 1


def test_a_longer_prompt_scrolls_faster():
    mean_steps = [np.mean(frame_steps(render_text_video("W" * n))) for n in (1, 3, 6)]
    assert mean_steps[0] < mean_steps[1] < mean_steps[2]


@pytest.mark.parametrize("look", [{}, {"direction": "left_to_right", "vertical_offset": 2, "weight": "light"}])
def test_text_windows_hold_the_video_and_its_one_pixel_shifts(look):
    windows, starts = text_windows("ab12", **look)
    video = render_text_video("AB12", **look)
    np.testing.assert_array_equal(windows[starts], video)
    shifted = windows[starts + 1]  # one pixel further along the strip: columns move left by one
    np.testing.assert_array_equal(shifted[:, :, :-1], video[:, :, 1:])
    assert not np.array_equal(shifted, video)


def test_glyph_atlas_has_one_non_empty_distinct_cell_per_symbol():
    atlas = glyph_atlas()
    assert atlas.shape[:2] == (len(VOCABULARY), FRAME_SIZE)
    assert all(cell.any() for cell in atlas)
    assert len({cell.tobytes() for cell in atlas}) == len(VOCABULARY)


def test_every_glyph_is_fully_visible_inside_its_cell():
    atlas = glyph_atlas()
    assert not atlas[:, 0, :].any() and not atlas[:, -1, :].any()  # top and bottom rows
    assert not atlas[:, :, 0].any() and not atlas[:, :, -1].any()  # left and right columns


def test_font_file_is_the_pinned_one():
    assert hashlib.sha256(font_bytes()).hexdigest() == FONT_SHA256


def test_font_licence_ships_beside_the_font():
    fonts = importlib.resources.files("diffusers_textvid.data").joinpath("fonts")
    assert fonts.joinpath(FONT_FILE).is_file()
    licence = fonts.joinpath("OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence.upper()
