import importlib.resources
import math

import numpy as np
import pytest

from diffusers_textvid.data import DEFAULT_LOOK, LOOK_FACTORS, all_looks, check_look, render_text_video
from diffusers_textvid.data.render import FONT_FILES, FRAME_SIZE, glyph_atlas
from test_render import PROMPTS, frame_steps


def lit_columns(frame: np.ndarray) -> np.ndarray:
    return np.flatnonzero(frame.any(axis=0))


def lit_rows(video: np.ndarray) -> np.ndarray:
    return np.flatnonzero(video.any(axis=(0, 2)))


def test_there_are_at_least_3_factors_and_24_combinations():
    assert len(LOOK_FACTORS) >= 3
    assert all(isinstance(values, tuple) and len(values) >= 2 for values in LOOK_FACTORS.values())
    assert math.prod(len(values) for values in LOOK_FACTORS.values()) >= 24
    assert len(all_looks()) == math.prod(len(values) for values in LOOK_FACTORS.values())
    assert all_looks()[0] == DEFAULT_LOOK


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_first_value_of_every_factor_is_the_plain_render(prompt):
    np.testing.assert_array_equal(render_text_video(prompt, **DEFAULT_LOOK), render_text_video(prompt))


@pytest.mark.parametrize("prompt", ["A", "HELLO", "M1M1M1"])
def test_every_combination_renders_a_distinct_video(prompt):
    videos = [render_text_video(prompt, **factors) for factors in all_looks()]
    assert all(video.shape == (16, 32, 32) and video.dtype == np.uint8 for video in videos)
    assert len({video.tobytes() for video in videos}) == len(videos)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_left_to_right_enters_at_the_left_edge_and_leaves_at_the_right_edge(prompt):
    video = render_text_video(prompt, direction="left_to_right")
    lit = [frame for frame in video if frame.any()]
    assert not video[0].any() and not video[-1].any()
    assert lit[0][:, 0].any() and not lit[0][:, -1].any()
    assert lit[-1][:, -1].any() and not lit[-1][:, 0].any()
    # The text reads the same way: the first frame's lit columns are the strip's end, on the left.
    assert lit_columns(lit[0]).max() < FRAME_SIZE // 2


def test_left_to_right_moves_right_by_a_constant_step():
    video = render_text_video("HELLO", direction="left_to_right")
    leftward = frame_steps(video[:, :, ::-1])  # mirrored, rightward motion reads as leftward
    assert len(leftward) >= 8 and max(leftward) - min(leftward) <= 1


@pytest.mark.parametrize("crossing_frames", LOOK_FACTORS["crossing_frames"])
@pytest.mark.parametrize("direction", LOOK_FACTORS["direction"])
def test_the_crossing_ends_at_the_frame_asked_for_and_then_stays_black(crossing_frames, direction):
    video = render_text_video("AB", direction=direction, crossing_frames=crossing_frames)
    assert not video[0].any() and not video[crossing_frames:].any()
    # The glyphs' side bearings may keep the first and last moving frame black, never the ones between.
    assert all(frame.any() for frame in video[2 : crossing_frames - 1])


def test_a_shorter_crossing_moves_faster():
    mean_steps = [np.mean(frame_steps(render_text_video("WWW", crossing_frames=c))) for c in (15, 11, 7)]
    assert mean_steps[0] < mean_steps[1] < mean_steps[2]


@pytest.mark.parametrize("offset", LOOK_FACTORS["vertical_offset"])
def test_vertical_offset_shifts_the_text_without_cutting_it(offset):
    centred, shifted = render_text_video("HELLO"), render_text_video("HELLO", vertical_offset=offset)
    np.testing.assert_array_equal(lit_rows(shifted), lit_rows(centred) + offset)
    assert shifted.sum() == centred.sum()  # nothing pushed out of the frame


def test_light_weight_draws_thinner_glyphs_of_the_same_symbols():
    bold, light = glyph_atlas("bold"), glyph_atlas("light")
    assert len({cell.tobytes() for cell in light}) == len(light)
    assert (light > 0).sum() < 0.8 * (bold > 0).sum()
    assert not light[:, 0, :].any() and not light[:, -1, :].any()


def test_every_weight_has_its_font_and_the_licence_beside_it():
    fonts = importlib.resources.files("diffusers_textvid.data").joinpath("fonts")
    assert set(FONT_FILES) == set(LOOK_FACTORS["weight"])
    assert all(fonts.joinpath(name).is_file() for name in FONT_FILES.values())
    licence = fonts.joinpath("OFL.txt").read_text(encoding="utf-8")
    assert all(name in licence for name in FONT_FILES.values())


def test_an_unknown_factor_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'colour'.*direction"):
        render_text_video("AB", colour="red")


@pytest.mark.parametrize("factor, value", [("direction", "up"), ("crossing_frames", 9), ("weight", "Bold")])
def test_an_unknown_value_is_a_value_error_listing_the_values(factor, value):
    with pytest.raises(ValueError, match=f"{factor}={value!r}"):
        render_text_video("AB", **{factor: value})


def test_check_variation_fills_in_the_defaults():
    assert check_look({"direction": "left_to_right"}) == DEFAULT_LOOK | {"direction": "left_to_right"}
