"""The named sizes of `build_pipeline`."""

import pytest
import torch

from diffusers_textvid import PRESETS, TextVideoDiTModel, build_pipeline
from diffusers_textvid.data.render import check_video_size
from diffusers_textvid.presets import transformer_arguments

SMALL_SHAPE_KEYS = ("hidden_size", "num_layers", "num_attention_heads", "mlp_ratio", "text_embed_dim",
                    "output_parametrization", "prediction_type", "text_length_positions")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_makes_videos_the_renderer_draws(preset):
    with torch.device("meta"):
        config = TextVideoDiTModel(**transformer_arguments(preset)).config
    check_video_size(config.sample_frames, config.sample_size)


def test_small_64_is_the_small_model_for_16_frames_of_64x64_in_1024_tokens_with_factorised_attention():
    small, large = build_pipeline("small").transformer, build_pipeline("small-64").transformer
    assert {key: large.config[key] for key in SMALL_SHAPE_KEYS} == {key: small.config[key] for key in SMALL_SHAPE_KEYS}
    assert (large.config.sample_frames, large.config.sample_size, tuple(large.config.patch_size)) == (16, 64, (1, 8, 8))
    assert len(large.frame_position) * len(large.row_position) * len(large.column_position) == 1024  # tokens
    assert large.config.attention_layout == "factorised"


def test_small_64_samples_videos_of_its_size():
    pipe = build_pipeline("small-64")
    pipe.set_progress_bar_config(disable=True)
    assert pipe("HI", num_inference_steps=1, output_type="np").frames.shape == (1, 16, 64, 64, 1)
