import json

import pytest
import torch

from diffusers_textvid import PRESETS, TextVideoDiTModel, TextVideoDiTOutput, build_scheduler
from diffusers_textvid.models.modeling_textvid import patchify, unpatchify
from diffusers_textvid.models.noise_schedule import (
    clean_video_to_prediction, signal_and_noise_scales, training_alphas_cumprod,
)

from conftest import build_tiny_transformer, perturb_weights

TEXT_WIDTH = PRESETS["tiny"]["transformer"]["text_embed_dim"]


def model_inputs(batch: int = 2, frames: int = 16, size: int = 32, seed: int = 0):
    """Noisy video `(B, 1, F, H, W)`, timesteps `(B,)`, text `(B, 8, D_text)` and a mask with 3 real tokens."""
    generator = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, 1, frames, size, size, generator=generator)
    text = torch.randn(batch, 8, TEXT_WIDTH, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0]] * batch)
    return video, torch.tensor([10, 900][:batch] + [500] * max(0, batch - 2)), text, mask


def public_config(config) -> dict:
    """The config's arguments, without bookkeeping keys; JSON turns tuples into lists, so compare as tuples."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items() if not key.startswith("_")}


@pytest.fixture
def model():
    return build_tiny_transformer()


def test_patchify_and_unpatchify_are_inverse():
    video = torch.randn(2, 1, 16, 32, 32)
    tokens = patchify(video, (4, 8, 8))
    assert tokens.shape == (2, 4 * 4 * 4, 4 * 8 * 8)
    torch.testing.assert_close(unpatchify(tokens, (4, 8, 8), tuple(video.shape)), video, rtol=0, atol=0)


@pytest.mark.parametrize("return_dict", [True, False])
def test_output_has_the_shape_of_the_input(model, return_dict):
    video, timestep, text, mask = model_inputs()
    output = model(video, timestep, text, mask, return_dict=return_dict)
    if return_dict:
        assert isinstance(output, TextVideoDiTOutput)
        sample = output.sample
    else:
        assert isinstance(output, tuple) and len(output) == 1
        sample = output[0]
    assert sample.shape == video.shape


def test_output_for_a_shorter_video_has_its_shape(model):
    video, timestep, text, mask = model_inputs(frames=8, size=16)
    assert model(video, timestep, text, mask).sample.shape == video.shape


@pytest.mark.parametrize("timestep", [500, 500.0, torch.tensor(500), torch.tensor([500, 500]), torch.tensor([500.0, 500.0])])
def test_int_and_float_scalar_and_batched_timesteps_agree(model, timestep):
    video, _, text, mask = model_inputs()
    reference = model(video, torch.tensor([500, 500]), text, mask).sample
    torch.testing.assert_close(model(video, timestep, text, mask).sample, reference)


def test_each_sample_uses_its_own_timestep(model):
    video, _, text, mask = model_inputs()
    video, text = video[:1].repeat(2, 1, 1, 1, 1), text[:1].repeat(2, 1, 1)
    sample = model(video, torch.tensor([10, 900]), text, mask).sample
    assert not torch.allclose(sample[0], sample[1])


def test_untrained_direct_model_predicts_zeros():
    video, timestep, text, mask = model_inputs()
    torch.manual_seed(0)
    model = TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "output_parametrization": "direct"})
    assert torch.count_nonzero(model(video, timestep, text, mask).sample) == 0


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon", "sample"])
def test_untrained_clean_video_model_estimates_a_blank_video_through_the_scheduler(prediction_type):
    """The network's zero output is a clean-video estimate of 0, whatever target the model returns."""
    video, timestep, text, mask = model_inputs()
    torch.manual_seed(0)
    model = TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "prediction_type": prediction_type})
    sample = model(video, timestep, text, mask).sample
    scheduler = build_scheduler(prediction_type)
    for i, t in enumerate(timestep.tolist()):
        estimate = scheduler.step(sample[i : i + 1], t, video[i : i + 1]).pred_original_sample
        torch.testing.assert_close(estimate, torch.zeros_like(estimate), atol=1e-4, rtol=0)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_clean_video_conversion_gives_the_schedulers_target_for_the_true_clean_video(prediction_type):
    scheduler = build_scheduler(prediction_type)
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(3, 1, 4, 8, 8, generator=generator) * 2 - 1
    noise = torch.randn(clean.shape, generator=generator)
    timesteps = torch.tensor([0, 500, 999])
    noisy = scheduler.add_noise(clean, noise, timesteps)
    signal, noise_scale = signal_and_noise_scales(training_alphas_cumprod(1000, 1e-4, 0.02, "linear"), timesteps)
    converted = clean_video_to_prediction(clean, noisy, signal, noise_scale, prediction_type)
    expected = scheduler.get_velocity(clean, noise, timesteps) if prediction_type == "v_prediction" else noise
    torch.testing.assert_close(converted, expected, atol=2e-3, rtol=0)  # t = 0 divides by sqrt(1 - abar) = 0.01


def test_fractional_timesteps_interpolate_the_noise_level():
    alphas_cumprod = training_alphas_cumprod(1000, 1e-4, 0.02, "linear")
    signal, noise = signal_and_noise_scales(alphas_cumprod, torch.tensor([400.0, 400.5, 401.0]))
    assert signal[0] > signal[1] > signal[2] and noise[0] < noise[1] < noise[2]
    torch.testing.assert_close(signal**2 + noise**2, torch.ones(3))


@pytest.mark.parametrize("key, value", [("output_parametrization", "x0"), ("prediction_type", "flow"),
                                        ("beta_schedule", "cosine")])
def test_unknown_parametrization_target_or_schedule_is_rejected(key, value):
    with pytest.raises(ValueError, match=key):
        TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], key: value})


def test_masked_padding_tokens_do_not_change_the_output(model):
    video, timestep, text, mask = model_inputs()
    reference = model(video, timestep, text, mask).sample
    changed_padding = text.clone()
    changed_padding[:, 3:] = torch.randn_like(changed_padding[:, 3:]) * 10
    torch.testing.assert_close(model(video, timestep, changed_padding, mask).sample, reference)
    changed_real_token = text.clone()
    changed_real_token[:, 1] += 1.0
    assert not torch.allclose(model(video, timestep, changed_real_token, mask).sample, reference)


def test_without_a_mask_every_token_counts(model):
    video, timestep, text, _ = model_inputs()
    changed_padding = text.clone()
    changed_padding[:, 3:] += 1.0
    assert not torch.allclose(model(video, timestep, changed_padding).sample, model(video, timestep, text).sample)


@pytest.mark.parametrize("frames, size", [(6, 32), (16, 12)])
def test_video_not_divisible_by_the_patch_size_is_rejected(model, frames, size):
    video, timestep, text, mask = model_inputs(frames=frames, size=size)
    with pytest.raises(ValueError, match="patch"):
        model(video, timestep, text, mask)


def test_config_whose_patch_size_does_not_divide_the_video_is_rejected():
    with pytest.raises(ValueError, match="patch"):
        TextVideoDiTModel(sample_size=36, patch_size=(4, 8, 8), hidden_size=32, num_attention_heads=2)


def test_video_larger_than_the_position_table_is_rejected(model):
    video, timestep, text, mask = model_inputs(frames=20)
    with pytest.raises(ValueError, match="larger"):
        model(video, timestep, text, mask)


def gradients(model: TextVideoDiTModel) -> dict[str, torch.Tensor]:
    video, timestep, text, mask = model_inputs()
    text.requires_grad_(True)
    model.zero_grad()
    model(video, timestep, text, mask).sample.square().mean().backward()
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters()} | {"text": text.grad}


def test_gradient_checkpointing_gives_the_same_gradients_and_recomputes_the_blocks():
    plain, checkpointed = build_tiny_transformer(), build_tiny_transformer()
    checkpointed.enable_gradient_checkpointing()
    assert checkpointed.gradient_checkpointing and checkpointed.is_gradient_checkpointing
    assert not plain.gradient_checkpointing
    calls = []
    block_forward = checkpointed.blocks[0].forward
    checkpointed.blocks[0].forward = lambda *args: calls.append(1) or block_forward(*args)
    expected, actual = gradients(plain), gradients(checkpointed)
    assert len(calls) == 2, "a checkpointed block runs again during the backward pass"
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], msg=name)


def test_save_and_load_round_trip_preserves_outputs(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TextVideoDiTModel.from_pretrained(tmp_path)
    assert public_config(loaded.config) == public_config(model.config)
    video, timestep, text, mask = model_inputs()
    torch.testing.assert_close(loaded(video, timestep, text, mask).sample, model(video, timestep, text, mask).sample)


def test_config_is_registered_and_rebuilds_the_same_model(model):
    assert model.config.hidden_size == PRESETS["tiny"]["transformer"]["hidden_size"]
    assert tuple(model.config.patch_size) == PRESETS["tiny"]["transformer"]["patch_size"]
    rebuilt = TextVideoDiTModel.from_config(model.config)
    assert public_config(rebuilt.config) == public_config(model.config)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())


def length_table_model() -> TextVideoDiTModel:
    """The tiny model with a position table per text length (0 to 8 real tokens), every weight perturbed."""
    torch.manual_seed(0)
    return perturb_weights(TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "text_length_positions": 9}))


def test_new_length_tables_start_at_zero_and_change_nothing():
    plain = build_tiny_transformer()
    with_tables = TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "text_length_positions": 9})
    with_tables.load_state_dict(plain.state_dict(), strict=False)  # the tables stay at their zero start
    video, timestep, text, mask = model_inputs()
    torch.testing.assert_close(with_tables(video, timestep, text, mask).sample, plain(video, timestep, text, mask).sample)


def test_each_video_uses_the_table_of_its_own_text_length():
    model = length_table_model()
    video, timestep, text, mask = model_inputs()
    longer = mask.clone()
    longer[1, 3] = 1  # second text: 4 real tokens instead of 3
    reference, changed = model(video, timestep, text, mask).sample, model(video, timestep, text, longer).sample
    torch.testing.assert_close(changed[0], reference[0])
    with torch.no_grad():
        model.length_position[3].zero_()  # the first text's table; the second now uses table 4
    assert not torch.allclose(model(video, timestep, text, longer).sample[0], reference[0])
    torch.testing.assert_close(model(video, timestep, text, longer).sample[1], changed[1])


def test_length_tables_follow_the_grid_of_a_shorter_video():
    model = length_table_model()
    video, timestep, text, mask = model_inputs(frames=8, size=16)
    output = model(video, timestep, text, mask).sample
    with torch.no_grad():
        model.length_position[:, 2:].zero_()  # frames beyond the short video's token grid
        model.length_position[:, :, 2:].zero_()
        model.length_position[:, :, :, 2:].zero_()
    torch.testing.assert_close(model(video, timestep, text, mask).sample, output)


def test_length_tables_need_the_mask_and_a_text_they_cover():
    model = TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "text_length_positions": 3})
    video, timestep, text, mask = model_inputs()
    with pytest.raises(ValueError, match="encoder_attention_mask"):
        model(video, timestep, text)
    with pytest.raises(ValueError, match="3 tokens is longer"):
        model(video, timestep, text, mask)
    with pytest.raises(ValueError, match="text_length_positions"):
        TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "text_length_positions": -1})


def test_length_tables_round_trip_through_save_and_load(tmp_path):
    model = length_table_model()
    model.save_pretrained(tmp_path)
    loaded = TextVideoDiTModel.from_pretrained(tmp_path)
    assert loaded.config.text_length_positions == 9
    video, timestep, text, mask = model_inputs()
    torch.testing.assert_close(loaded(video, timestep, text, mask).sample, model(video, timestep, text, mask).sample)


LOOKS = {"direction": ["right_to_left", "left_to_right"], "weight": ["bold", "light"]}


def test_a_config_with_length_position_factors_but_no_length_tables_is_refused_naming_the_key(tmp_path):
    model = TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "looks": LOOKS})
    model.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    (tmp_path / "old" / "config.json").write_text(json.dumps(config | {"length_position_factors": None}))
    assert TextVideoDiTModel.from_pretrained(tmp_path / "old").config.looks == model.config.looks
    (tmp_path / "old" / "config.json").write_text(json.dumps(config | {"length_position_factors": ["direction"]}))
    with pytest.raises(ValueError, match="length_position_factors needs text_length_positions"):
        TextVideoDiTModel.from_pretrained(tmp_path / "old")
