import numpy as np
import pytest
import torch

from diffusers_textvid.data import all_looks, render_text_video
from diffusers_textvid.data.render import ATLAS_INDEX, glyph_atlas
from diffusers_textvid.data.symbol_layout import INK_LEVEL, render_symbol_map, token_symbols


@pytest.mark.parametrize("size", [{}, {"frame_size": 64}, {"num_frames": 64, "frame_size": 64}], ids=str)
@pytest.mark.parametrize("look", all_looks()[::5])
def test_symbol_map_marks_exactly_the_inked_pixels(look, size):
    video = render_text_video("HELLO", **size, **look)
    symbols = render_symbol_map("HELLO", **size, **look)
    assert symbols.shape == video.shape
    np.testing.assert_array_equal(symbols >= 0, video >= INK_LEVEL)
    assert set(np.unique(symbols)) == {-1, 0, 1, 2, 3, 4}


def test_each_symbol_of_a_larger_video_is_labelled_with_all_the_ink_of_its_glyph():
    look = {"direction": "left_to_right", "crossing_frames": 11, "vertical_offset": -2, "weight": "light"}
    symbols = render_symbol_map("I0", num_frames=64, frame_size=64, **look)
    atlas = glyph_atlas("light", -2, 64)
    for index, symbol in enumerate("I0"):  # the frames that show the whole glyph label every inked pixel of it
        most_labelled = (symbols == index).sum(axis=(1, 2)).max()
        assert most_labelled == (atlas[ATLAS_INDEX[symbol]] >= INK_LEVEL).sum()


def test_labels_tell_the_symbols_apart():
    look = {"direction": "left_to_right", "crossing_frames": 11, "vertical_offset": 2, "weight": "light"}
    symbols = render_symbol_map("I0", **look)
    assert 0 < (symbols == 0).sum() < (symbols == 1).sum()  # "I" has less ink than "0"


def test_symbols_follow_the_direction():
    right_to_left = render_symbol_map("AB", direction="right_to_left")
    left_to_right = render_symbol_map("AB", direction="left_to_right")
    first_frame_with_ink = [int(np.argmax((m >= 0).any(axis=(1, 2)))) for m in (right_to_left, left_to_right)]
    # Entering from the right, the first symbol shows first; entering from the left, the last.
    assert set(np.unique(right_to_left[first_frame_with_ink[0]])) - {-1} == {0}
    assert set(np.unique(left_to_right[first_frame_with_ink[1]])) - {-1} == {1}


def test_token_symbols_collects_every_symbol_a_patch_shows():
    maps = torch.full((1, 2, 4, 4), -1, dtype=torch.int16)
    maps[0, 0, 0, 0] = 0  # token (frame 0, left half) shows symbol 0
    maps[0, 0, 3, 1] = 2  # ... and symbol 2
    maps[0, 1, 2, 3] = 1  # token (frame 1, right half) shows symbol 1
    truth = token_symbols(maps, (1, 4, 2), num_text_tokens=4)  # tokens: frame x 1 row x 2 columns
    assert truth.shape == (1, 4, 4)
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 0, [0, 2]] = True
    expected[0, 3, 1] = True
    assert torch.equal(truth, expected)
