import hashlib
import importlib.resources

import numpy as np
import pytest

from diffusers_textvid.data.looks import LOOK_FACTORS, all_looks
from diffusers_textvid.data.prompts import VOCABULARY
from diffusers_textvid.data.render import (
    FONT_FILE, FRAME_SIZE, MIN_FRAME_SIZE, MIN_NUM_FRAMES, NUM_FRAMES, font_bytes, glyph_atlas, render_text_video,
    text_windows,
)
from diffusers_textvid.data.scrolling import crossing_frames_at, strip_left_edges

FONT_SHA256 = "0637fea8f858cd1d9a6e0ff786bed3d8cc2dc59b871a28e268a5a0106f052a92"
PROMPTS = ["A", "I", "W", "AB", "ZZ9", "HELLO", "M1M1M1", "WWWWWW"]
LARGER_SIZES = [(16, 64), (64, 64)]  # (num_frames, frame_size)
CELL_WIDTHS_AT_32 = {"bold": 35, "light": 34}  # the atlas cells the renderer drew before it took other sizes


def frame_steps(video: np.ndarray) -> list[int]:
    """Leftward shift in pixels between consecutive frames, for each pair where a single shift
    makes the overlapping parts of the two frames identical and that overlap has lit pixels."""
    steps = []
    width = video.shape[2]
    for before, after in zip(video[:-1], video[1:]):
        matches = [
            shift for shift in range(1, width)
            if before[:, shift:].any() and np.array_equal(after[:, : width - shift], before[:, shift:])
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
    windows, starts = text_windows("ab12", look)
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


def test_the_default_size_is_16_frames_of_32x32_drawn_with_the_cells_of_old():
    for look in all_looks()[::7]:
        for prompt in ("HELLO", "M1M1M1"):
            np.testing.assert_array_equal(render_text_video(prompt, **look),
                                          render_text_video(prompt, num_frames=16, frame_size=32, **look))
    assert {weight: glyph_atlas(weight).shape for weight in CELL_WIDTHS_AT_32} == {
        weight: (len(VOCABULARY), 32, width) for weight, width in CELL_WIDTHS_AT_32.items()
    }
    assert [crossing_frames_at(value, 16) for value in LOOK_FACTORS["crossing_frames"]] == [15, 11, 7]


@pytest.mark.parametrize("num_frames, frame_size", LARGER_SIZES)
@pytest.mark.parametrize("look", all_looks()[::5])
def test_a_larger_video_has_the_asked_shape_and_shows_the_text_only_while_it_crosses(num_frames, frame_size, look):
    video = render_text_video("HELLO", num_frames=num_frames, frame_size=frame_size, **look)
    assert video.dtype == np.uint8 and video.shape == (num_frames, frame_size, frame_size)
    assert not video[0].any() and not video[-1].any() and video[1:-1].any()


@pytest.mark.parametrize("weight", LOOK_FACTORS["weight"])
def test_the_glyphs_of_a_larger_frame_lie_inside_it_at_every_vertical_offset(weight):
    centred = glyph_atlas(weight, 0, 64)
    assert not centred[:, :4].any() and not centred[:, -4:].any()  # margins of 4 rows, 2 at 32 scaled
    assert not centred[:, :, 0].any() and not centred[:, :, -1].any()
    for offset in LOOK_FACTORS["vertical_offset"]:
        assert glyph_atlas(weight, offset, 64).sum() == centred.sum()  # shifted within the margins, none cut


@pytest.mark.parametrize("num_frames, crossings", [(16, (15, 11, 7)), (64, (63, 46, 29))])
@pytest.mark.parametrize("direction", LOOK_FACTORS["direction"])
def test_the_crossing_takes_its_frames_scaled_to_the_video_length(num_frames, crossings, direction):
    assert [crossing_frames_at(value, num_frames) for value in LOOK_FACTORS["crossing_frames"]] == list(crossings)
    for value, crossing in zip(LOOK_FACTORS["crossing_frames"], crossings):
        look = {"crossing_frames": value, "direction": direction}
        video = render_text_video("WWW", num_frames=num_frames, frame_size=64, **look)
        lit = np.flatnonzero(video.any(axis=(1, 2)))
        assert not video[crossing:].any()
        # The glyphs' side bearings may keep a frame or a tenth of the crossing at either end black, no more.
        blank_ends = 1 + crossing // 10
        assert lit[0] <= blank_ends and lit[-1] >= crossing - 1 - blank_ends


def test_the_text_of_a_longer_video_moves_by_a_constant_smaller_step():
    steps = {num_frames: frame_steps(render_text_video("HELLO", num_frames=num_frames, frame_size=64))
             for num_frames in (16, 64)}
    for frame_steps_of_size in steps.values():
        assert max(frame_steps_of_size) - min(frame_steps_of_size) <= 1
    assert np.mean(steps[64]) < np.mean(steps[16]) / 3  # 63 frames cross what 15 frames did


@pytest.mark.parametrize("weight", LOOK_FACTORS["weight"])
def test_glyphs_grow_with_the_frame(weight):
    small, large = glyph_atlas(weight, 0, 32), glyph_atlas(weight, 0, 64)
    assert large.shape[1] == 64 and 1.8 * small.shape[2] < large.shape[2] < 2.2 * small.shape[2]
    assert 3.5 < large.astype(np.float64).sum() / small.astype(np.float64).sum() < 4.5  # ink grows with the area
    heights = [np.ptp(np.flatnonzero(atlas.any(axis=(0, 2)))) + 1 for atlas in (small, large)]  # of all glyphs
    assert 1.8 * heights[0] < heights[1] <= 64 - 2 * 4  # fits between the margins, 4 pixels at 64
    assert len({cell.tobytes() for cell in large}) == len(VOCABULARY)


@pytest.mark.parametrize("offset", LOOK_FACTORS["vertical_offset"])
def test_vertical_offset_scales_with_the_frame(offset):
    centred = render_text_video("HELLO", frame_size=64)
    shifted = render_text_video("HELLO", frame_size=64, vertical_offset=offset)
    lit_rows = [np.flatnonzero(video.any(axis=(0, 2))) for video in (centred, shifted)]
    np.testing.assert_array_equal(lit_rows[1], lit_rows[0] + 2 * offset)
    assert shifted.sum() == centred.sum()  # nothing pushed out of the frame


def test_the_smallest_video_still_draws_every_symbol_and_every_look_apart():
    atlas = glyph_atlas("light", 0, MIN_FRAME_SIZE)
    assert all(cell.any() for cell in atlas) and len({cell.tobytes() for cell in atlas}) == len(VOCABULARY)
    videos = [render_text_video("AB", num_frames=MIN_NUM_FRAMES, frame_size=MIN_FRAME_SIZE, **look)
              for look in all_looks()]
    assert all(video.any() for video in videos)
    assert len({video.tobytes() for video in videos}) == len(videos)
    # One frame fewer, and the fastest crossing takes 2 frames: the text shows in frame 1 only, centred either way.
    assert crossing_frames_at(7, MIN_NUM_FRAMES - 1) == 2
    edges = [strip_left_edges(34, direction, 7, MIN_FRAME_SIZE, MIN_NUM_FRAMES - 1)
             for direction in LOOK_FACTORS["direction"]]
    assert edges[0][1] == edges[1][1] == (MIN_FRAME_SIZE - 34) // 2


@pytest.mark.parametrize(
    "size, message",
    [
        ({"num_frames": MIN_NUM_FRAMES - 1}, f"num_frames must be at least {MIN_NUM_FRAMES}"),
        ({"num_frames": -16}, "num_frames must be at least"),
        ({"frame_size": MIN_FRAME_SIZE - 1}, f"frame_size must be at least {MIN_FRAME_SIZE}.*glyphs"),
        ({"frame_size": 0}, "frame_size must be at least"),
        ({"num_frames": 16.0}, "num_frames must be an int, got 16.0"),
        ({"frame_size": "64"}, "frame_size must be an int, got '64'"),
        ({"frame_size": True}, "frame_size must be an int, got True"),
    ],
)
def test_a_size_the_renderer_cannot_draw_is_a_value_error_naming_it(size, message):
    with pytest.raises(ValueError, match=message):
        render_text_video("AB", **size)


def test_font_file_is_the_pinned_one():
    assert hashlib.sha256(font_bytes()).hexdigest() == FONT_SHA256


def test_font_licence_ships_beside_the_font():
    fonts = importlib.resources.files("diffusers_textvid.data").joinpath("fonts")
    assert fonts.joinpath(FONT_FILE).is_file()
    licence = fonts.joinpath("OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence.upper()
