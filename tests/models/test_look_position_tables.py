"""`length_position_factors`: a position table per text length and per combination of chosen factors' ids."""

import pytest
import torch

from diffusers_textvid import build_pipeline

FACTORS = {"patch_size": (1, 32, 8), "text_length_positions": 9,
           "length_position_factors": ["crossing_frames", "direction"]}


def tables_for(transformer, looks: list[dict]) -> torch.Tensor:
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0]] * len(looks))  # "HI" and [END]
    with torch.no_grad():
        return transformer.length_position_embedding(mask, 16, 1, 4, transformer.encode_looks(looks))


def test_the_named_factors_pick_the_table_and_the_others_do_not():
    transformer = build_pipeline("tiny", looks=True, transformer_overrides=FACTORS).transformer
    assert transformer.look_table_count() == 4 * 3  # crossing: 3 values or left out; direction: 2 or left out
    assert transformer.length_position.shape[0] == 9 * 12
    torch.nn.init.normal_(transformer.length_position)
    base = {"direction": "right_to_left", "crossing_frames": 15, "vertical_offset": 0, "weight": "bold"}
    looks = [base, {**base, "weight": "light", "vertical_offset": 2}, {**base, "direction": "left_to_right"},
             {**base, "crossing_frames": 7}, {}]
    tables = tables_for(transformer, looks)
    assert torch.equal(tables[0], tables[1])  # weight and offset are not named
    for other in tables[2:]:
        assert not torch.equal(tables[0], other)


@pytest.mark.parametrize("overrides, message", [
    ({"length_position_factors": ["colour"]}, "distinct factors of `looks`"),
    ({"length_position_factors": ["direction", "direction"]}, "distinct factors of `looks`"),
    ({"length_position_factors": ["direction"], "text_length_positions": 0}, "needs text_length_positions"),
])
def test_bad_length_position_factors_are_refused_naming_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_pipeline("tiny", looks=True, transformer_overrides={**FACTORS, **overrides})
