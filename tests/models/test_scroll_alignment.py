"""Scroll alignment (`scroll_cell_widths`): the model's own idea of which symbol each token shows must be
the renderer's, and the factors it is given must fix the scroll it reads."""

import itertools
import json
import pathlib

import pytest
import torch

from diffusers_textvid import PRESETS, TextVideoDiTModel
from diffusers_textvid.data.render import ATLAS_INDEX, glyph_atlas, render_text_video
from diffusers_textvid.data.looks import LOOK_FACTORS
from tests.conftest import perturb_weights

CELL_WIDTHS = {weight: glyph_atlas(weight).shape[2] for weight in LOOK_FACTORS["weight"]}
LOOKS = {factor: list(values) for factor, values in LOOK_FACTORS.items()}
SHIPPED_CONFIG = pathlib.Path(__file__).parents[2] / "training" / "configs" / "looks_scroll.json"


def scroll_model(**overrides) -> TextVideoDiTModel:
    """The tiny model with looks and scroll alignment, one frame and 8x8 pixels per token, weights perturbed."""
    torch.manual_seed(0)
    config = {**PRESETS["tiny"]["transformer"], "patch_size": (1, 8, 8), "looks": LOOKS,
              "scroll_cell_widths": CELL_WIDTHS, **overrides}
    return perturb_weights(TextVideoDiTModel(**config))


def model_inputs(num_symbols: int = 3, batch: int = 2):
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(batch, 1, 16, 32, 32, generator=generator)
    text = torch.randn(batch, 8, PRESETS["tiny"]["transformer"]["text_embed_dim"], generator=generator)
    mask = torch.tensor([[1] * (num_symbols + 1) + [0] * (7 - num_symbols)] * batch)  # symbols and the end token
    return video, torch.tensor([10, 900][:batch]), text, mask


@pytest.mark.parametrize("text, num_frames, frame_size", [
    ("W", 16, 32), ("HELLO", 16, 32), ("AB12", 16, 32), ("M0M0M0", 16, 32), ("AB12", 16, 64), ("AB12", 64, 32),
])
def test_each_tokens_symbols_and_cell_pixel_are_where_the_renderer_draws_them(text, num_frames, frame_size):
    cell_widths = {weight: glyph_atlas(weight, 0, frame_size).shape[2] for weight in LOOK_FACTORS["weight"]}
    model = scroll_model(sample_frames=num_frames, sample_size=frame_size, scroll_cell_widths=cell_widths)
    alignment = model.scroll_text
    tokens_across = frame_size // 8
    # each (R, N), one row per scroll
    left, right, offset = alignment.index_tables(8, num_frames, tokens_across, tokens_across)[:, len(text)]
    assert len(alignment.looks) == 36 and len(alignment.scrolls) == 12
    for look_number in range(len(alignment.looks)):
        look = alignment.look_values(look_number)
        scroll = alignment.scrolls.index(alignment.scroll_of(look_number))
        video = render_text_video(text, num_frames=num_frames, frame_size=frame_size, **look)
        atlas, cell = glyph_atlas(look["weight"], look["vertical_offset"], frame_size), cell_widths[look["weight"]]
        grid = itertools.product(range(num_frames), range(tokens_across), range(tokens_across))
        for token, (frame, row, column) in enumerate(grid):
            rows = slice(8 * row, 8 * row + 8)
            first, last = 8 * column, 8 * column + 7
            for symbol, pixel, in_cell in ((left, first, offset[scroll, token]),
                                           (right, last, (offset[scroll, token] + 7) % cell)):
                index = int(symbol[scroll, token])
                expected = 0 if index == 8 else atlas[ATLAS_INDEX[text[index]], rows, int(in_cell)]
                assert (video[frame, rows, pixel] == expected).all(), (look, frame, row, column)


def test_given_factors_allow_only_the_looks_that_agree_with_them():
    model = scroll_model()
    full_look = {"direction": "left_to_right", "crossing_frames": 7, "weight": "light", "vertical_offset": -2}
    ids = model.encode_looks([{}, {"direction": "left_to_right"}, full_look, {"vertical_offset": 2}])
    allowed = model.scroll_text.allowed(ids)
    assert allowed.sum(dim=1).tolist() == [36, 18, 1, 12]
    (only,) = allowed[2].nonzero()[0].tolist()
    assert model.scroll_text.look_values(only) == full_look
    assert model.scroll_text.true_look(ids[2:3]).item() == only


def test_the_guess_of_the_look_matters_only_for_factors_left_out():
    model = scroll_model()
    video, timestep, text, mask = model_inputs()
    full_look = {"crossing_frames": 11, "direction": "left_to_right", "weight": "bold", "vertical_offset": 0}
    given = model.encode_looks([full_look, full_look])
    left_out = model.encode_looks([{"vertical_offset": 0}, {"vertical_offset": 0}])
    before = {name: model(video, timestep, text, mask, look_ids=ids).sample for name, ids in
              (("given", given), ("left_out", left_out))}
    with torch.no_grad():
        for block in model.blocks:
            block.look_choice.weight.normal_(0, 1.0)
    torch.testing.assert_close(model(video, timestep, text, mask, look_ids=given).sample, before["given"])
    assert not torch.allclose(model(video, timestep, text, mask, look_ids=left_out).sample, before["left_out"])


def test_a_token_reads_the_symbol_only_where_its_scroll_shows_it():
    model = scroll_model()
    _, _, text, mask = model_inputs(num_symbols=1)
    changed_text = text.clone()
    changed_text[:, 0] += 1.0  # the one symbol
    scroll = model.scroll_text.scrolls.index((15, "right_to_left", "bold"))
    shown, shown_changed = (model.scroll_text(model.text_projection(features), torch.tensor([1, 1]), (16, 4, 4))[:, scroll]
                            for features in (text, changed_text))  # each (B, N, D), 16 tokens a frame
    torch.testing.assert_close(shown[:, :16], shown_changed[:, :16])  # frame 0 shows none of the strip
    assert not torch.allclose(shown[:, 8 * 16 : 9 * 16], shown_changed[:, 8 * 16 : 9 * 16])  # frame 8 shows it


def test_scroll_alignment_rejects_what_it_cannot_align():
    with pytest.raises(ValueError, match=r"patch_size\[0\] == 1"):
        scroll_model(patch_size=(4, 8, 8))
    with pytest.raises(ValueError, match="missing \\['weight'\\]"):
        scroll_model(looks={factor: values for factor, values in LOOKS.items() if factor != "weight"})
    with pytest.raises(ValueError, match="no width for weight"):
        scroll_model(scroll_cell_widths={"bold": 35})
    with pytest.raises(ValueError, match="right_to_left and left_to_right"):
        scroll_model(looks={**LOOKS, "direction": ["up", "down"]})
    video, timestep, text, _ = model_inputs()
    with pytest.raises(ValueError, match="encoder_attention_mask"):
        scroll_model()(video, timestep, text)


def test_scroll_alignment_round_trips_through_save_and_load(tmp_path):
    model = scroll_model()
    model.save_pretrained(tmp_path)
    loaded = TextVideoDiTModel.from_pretrained(tmp_path)
    assert loaded.config.scroll_cell_widths == CELL_WIDTHS
    video, timestep, text, mask = model_inputs()
    ids = model.encode_looks([{"direction": "left_to_right"}, {}])
    torch.testing.assert_close(loaded(video, timestep, text, mask, look_ids=ids).sample,
                               model(video, timestep, text, mask, look_ids=ids).sample)


def test_the_training_config_has_the_cell_widths_of_the_shipped_fonts():
    assert json.loads(SHIPPED_CONFIG.read_text())["scroll_cell_widths"] == CELL_WIDTHS
