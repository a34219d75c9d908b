import contextlib

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.utils import export_to_gif
from PIL import Image

from diffusers_textvid import TextVideoPipeline, TextVideoPipelineOutput, render_text_video
from diffusers_textvid.data.dataset import video_to_model_space
from diffusers_textvid.models import TextVideoDiTOutput

from conftest import build_tiny_pipeline

STEPS = 3
SCHEDULER_STEPS = 4  # PNDM's Runge-Kutta warm-up needs at least 4 steps

# (scheduler class, extra call arguments): every scheduler the pipeline promises to work with.
SCHEDULERS = {
    "ddpm": (DDPMScheduler, {}),
    "ddim-eta0": (DDIMScheduler, {"eta": 0.0}),
    "ddim-eta1": (DDIMScheduler, {"eta": 1.0}),
    "dpm-solver": (DPMSolverMultistepScheduler, {}),
    "euler": (EulerDiscreteScheduler, {}),
    "euler-ancestral": (EulerAncestralDiscreteScheduler, {}),
    "unipc": (UniPCMultistepScheduler, {}),
    "pndm": (PNDMScheduler, {}),
    "heun": (HeunDiscreteScheduler, {}),
}
# A perfect noise prediction lands exactly on the target, except with PNDM: it stops at the first training
# step's noise level (alphas_cumprod[0] = 1 - 1e-4), leaving noise of std 0.01 (0.005 in [0, 1] frames).
PERFECT_PREDICTION_TOLERANCE = {"pndm": 0.03}
# Schedulers that accept a clean-video ("sample") prediction; PNDM and Euler ancestral do not.
SAMPLE_PREDICTION_SCHEDULERS = ["ddpm", "ddim-eta0", "ddim-eta1", "dpm-solver", "euler", "unipc", "heun"]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_valid_frames(frames: np.ndarray, batch: int = 1):
    assert frames.shape == (batch, 16, 32, 32, 1)
    assert np.isfinite(frames).all()
    assert frames.min() >= 0.0 and frames.max() <= 1.0


@contextlib.contextmanager
def recorded_calls(module: torch.nn.Module):
    """Within the block, record the first positional argument of every call of `module`."""
    calls = []
    hook = module.register_forward_pre_hook(lambda _, args: calls.append(args[0].clone() if args else None))
    try:
        yield calls
    finally:
        hook.remove()


def perfect_denoiser(pipe, target: torch.Tensor):
    """A stand-in for the transformer's forward that knows the clean video `target` `(1, 1, F, H, W)`
    and returns the exact noise, velocity or clean video, as the scheduler's prediction type asks."""

    def forward(hidden_states, timestep, encoder_hidden_states, encoder_attention_mask=None, look_ids=None,
                return_dict=True):
        clean = target.expand_as(hidden_states)
        prediction_type = pipe.scheduler.config.prediction_type
        if prediction_type == "sample":
            return TextVideoDiTOutput(sample=clean)
        alpha_bar = pipe.scheduler.alphas_cumprod[timestep.round().long()].view(-1, 1, 1, 1, 1)
        noise = (hidden_states - alpha_bar.sqrt() * clean) / (1 - alpha_bar).sqrt()
        if prediction_type == "epsilon":
            return TextVideoDiTOutput(sample=noise)
        return TextVideoDiTOutput(sample=alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * clean)

    return forward


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------


def test_np_output_is_float_frames_in_unit_range(perturbed_pipeline):
    output = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded())
    assert isinstance(output, TextVideoPipelineOutput)
    assert output.frames.dtype == np.float32
    assert_valid_frames(output.frames)
    assert output.frames.std() > 0


def test_untrained_clean_video_predicting_pipeline_gives_mid_grey():
    pipe = build_tiny_pipeline("sample", perturbed=False)  # adaLN-Zero: it predicts the all-zero video
    frames = pipe("HI", num_inference_steps=STEPS, generator=seeded()).frames
    np.testing.assert_allclose(frames, 0.5)


def test_pt_output_is_a_tensor_of_the_same_frames(perturbed_pipeline):
    frames = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(), output_type="pt").frames
    expected = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded()).frames
    assert isinstance(frames, torch.Tensor)
    assert frames.shape == (1, 16, 1, 32, 32)
    np.testing.assert_allclose(frames.permute(0, 1, 3, 4, 2).numpy(), expected, atol=1e-6)


def test_latent_output_is_the_model_space_video(perturbed_pipeline):
    latents = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(), output_type="latent").frames
    frames = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded()).frames
    assert latents.shape == (1, 1, 16, 32, 32)
    np.testing.assert_allclose((latents.clamp(-1, 1)[:, 0, ..., None].numpy() + 1) / 2, frames, atol=1e-6)


def test_return_dict_false_gives_a_tuple(perturbed_pipeline):
    output = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(), return_dict=False)
    assert isinstance(output, tuple) and len(output) == 1
    assert_valid_frames(output[0])


def test_pil_output_exports_to_a_16_frame_gif(perturbed_pipeline, tmp_path):
    # Every frame differs from the one before, so the GIF writer merges none of them.
    target = video_to_model_space(render_text_video("HELLO1"))[None]

    def set_latents_to_target(pipe, step, timestep, tensors):
        return {"latents": target.clone()}

    frames = perturbed_pipeline(
        "HI", num_inference_steps=STEPS, output_type="pil", callback_on_step_end=set_latents_to_target
    ).frames
    assert len(frames) == 1 and len(frames[0]) == 16
    assert all(isinstance(frame, Image.Image) and frame.size == (32, 32) for frame in frames[0])
    path = export_to_gif(frames[0], str(tmp_path / "hi.gif"))
    with Image.open(path) as gif:
        assert gif.n_frames == 16
        gif.seek(8)
        np.testing.assert_array_equal(np.asarray(gif.convert("L")), render_text_video("HELLO1")[8])


def test_num_videos_per_prompt_multiplies_the_batch(perturbed_pipeline):
    frames = perturbed_pipeline(["AB", "CD"], num_inference_steps=STEPS, num_videos_per_prompt=3, generator=seeded()).frames
    assert_valid_frames(frames, batch=6)
    assert not np.allclose(frames[0], frames[1]), "each video of a prompt starts from its own noise"


def test_videos_are_grouped_by_prompt():
    pipe = build_tiny_pipeline("epsilon")
    swap_scheduler(pipe, "ddim-eta0")  # deterministic given the starting noise
    latents = torch.randn(4, 1, 16, 32, 32, generator=seeded())
    both = pipe(["AB", "CD"], num_inference_steps=STEPS, num_videos_per_prompt=2, latents=latents).frames
    second = pipe("CD", num_inference_steps=STEPS, num_videos_per_prompt=2, latents=latents[2:]).frames
    np.testing.assert_allclose(both[2:], second, rtol=0, atol=1e-4)  # batch size changes float rounding only


def test_same_generator_seed_gives_the_same_video_and_another_seed_another(perturbed_pipeline):
    first = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(1)).frames
    np.testing.assert_array_equal(perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(1)).frames, first)
    assert not np.allclose(perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(2)).frames, first)


def test_lower_case_prompt_gives_the_same_video_as_upper_case(perturbed_pipeline):
    lower = perturbed_pipeline("hi", num_inference_steps=STEPS, generator=seeded()).frames
    np.testing.assert_array_equal(lower, perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded()).frames)


def test_given_latents_are_used_as_the_starting_noise(perturbed_pipeline):
    generator = seeded(5)
    latents = torch.randn(1, 1, 16, 32, 32, generator=generator)  # the draw the pipeline would make itself
    from_latents = perturbed_pipeline("HI", num_inference_steps=STEPS, latents=latents, generator=generator).frames
    from_generator = perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(5)).frames
    np.testing.assert_allclose(from_latents, from_generator, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------

BAD_INPUTS = {
    "unknown character": ({"prompt": "HI!"}, "'!'"),
    "non-ascii character": ({"prompt": "ſ"}, "unknown character"),
    "prompt too long": ({"prompt": "ABCDEFGH"}, "too long"),
    "empty prompt": ({"prompt": ""}, "empty"),
    "empty prompt list": ({"prompt": []}, "empty list"),
    "bad output type": ({"prompt": "HI", "output_type": "gif"}, "output_type"),
    "wrong latents shape": ({"prompt": "HI", "latents": torch.zeros(1, 1, 8, 32, 32)}, "latents"),
    "latents for the wrong batch": ({"prompt": ["HI", "YO"], "latents": torch.zeros(1, 1, 16, 32, 32)}, "latents"),
    "negative prompt count mismatch": ({"prompt": ["HI", "YO"], "negative_prompt": ["A", "B", "C"]}, "negative_prompt"),
    "unknown character in negative prompt": ({"prompt": "HI", "negative_prompt": "A#"}, "'#'"),
    "zero steps": ({"prompt": "HI", "num_inference_steps": 0}, "num_inference_steps"),
    "zero videos per prompt": ({"prompt": "HI", "num_videos_per_prompt": 0}, "num_videos_per_prompt"),
    "negative guidance": ({"prompt": "HI", "guidance_scale": -1.0}, "guidance_scale"),
    "unknown callback tensor": ({"prompt": "HI", "callback_on_step_end_tensor_inputs": ["noise"]}, "noise"),
}


@pytest.mark.parametrize("arguments, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_inputs_raise_value_error_before_any_model_runs(tiny_pipeline, arguments, message):
    with recorded_calls(tiny_pipeline.text_encoder) as text_encoder_calls:
        with recorded_calls(tiny_pipeline.transformer) as transformer_calls:
            with pytest.raises(ValueError, match=message):
                tiny_pipeline(**{"num_inference_steps": STEPS} | arguments)
    assert text_encoder_calls == [] and transformer_calls == []


# ----------------------------------------------------------------------------------------------
# Guidance and callbacks
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("guidance_scale, batch_factor", [(1.0, 1), (3.0, 2)])
def test_guidance_above_one_runs_the_transformer_on_a_doubled_batch(perturbed_pipeline, guidance_scale, batch_factor):
    with recorded_calls(perturbed_pipeline.transformer) as calls:
        perturbed_pipeline(["AB", "CD"], num_inference_steps=STEPS, guidance_scale=guidance_scale, generator=seeded())
    assert [inputs.shape[0] for inputs in calls] == [2 * batch_factor] * STEPS
    if batch_factor == 2:  # the unconditional and conditional halves see the same noisy video
        assert all(torch.equal(inputs[:2], inputs[2:]) for inputs in calls)


def test_guidance_changes_the_video_and_the_negative_prompt_matters(perturbed_pipeline):
    def sample(**arguments):
        return perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded(), **arguments).frames

    unguided, guided = sample(), sample(guidance_scale=4.0)
    assert not np.allclose(unguided, guided)
    assert not np.allclose(guided, sample(guidance_scale=4.0, negative_prompt="XYZ"))


def test_callback_runs_once_per_step_and_its_latents_feed_the_next_step(perturbed_pipeline):
    seen_steps, seen_timesteps = [], []

    def replace_latents(pipe, step, timestep, tensors):
        assert set(tensors) == {"latents"} and tensors["latents"].shape == (1, 1, 16, 32, 32)
        seen_steps.append(step)
        seen_timesteps.append(int(timestep))
        return {"latents": torch.full_like(tensors["latents"], 0.1 * (step + 1))}

    with recorded_calls(perturbed_pipeline.transformer) as transformer_inputs:
        frames = perturbed_pipeline("HI", num_inference_steps=STEPS, callback_on_step_end=replace_latents).frames
    assert seen_steps == list(range(STEPS))
    assert seen_timesteps == perturbed_pipeline.scheduler.timesteps.tolist()
    for step in range(1, STEPS):  # DDPM does not scale model inputs
        torch.testing.assert_close(transformer_inputs[step], torch.full((1, 1, 16, 32, 32), 0.1 * step))
    np.testing.assert_allclose(frames, (0.1 * STEPS + 1) / 2, atol=1e-6)


def test_setting_interrupt_from_a_callback_skips_the_remaining_steps(perturbed_pipeline):
    def stop_after_the_third_step(pipe, step, timestep, tensors):
        pipe._interrupt = step == 2
        return tensors

    with recorded_calls(perturbed_pipeline.transformer) as interrupted:
        perturbed_pipeline("HI", num_inference_steps=8, callback_on_step_end=stop_after_the_third_step)
    assert len(interrupted) == 3 and perturbed_pipeline.interrupt
    with recorded_calls(perturbed_pipeline.transformer) as next_run:
        perturbed_pipeline("HI", num_inference_steps=8)
    assert len(next_run) == 8 and not perturbed_pipeline.interrupt


def guidance_record(pipe):
    """Record each step's transformer output `(2B, ...)` and the guided prediction the scheduler gets."""
    outputs, predictions = [], []
    pipe.transformer.register_forward_hook(lambda module, args, output: outputs.append(output.sample))
    step = pipe.scheduler.step

    def recording_step(model_output, *args, **kwargs):
        predictions.append(model_output)
        return step(model_output, *args, **kwargs)

    pipe.scheduler.step = recording_step
    return outputs, predictions


def test_guidance_scale_is_read_at_every_step_so_a_callback_can_change_it(perturbed_pipeline):
    outputs, predictions = guidance_record(perturbed_pipeline)

    def raise_guidance(pipe, step, timestep, tensors):
        pipe._guidance_scale += 1.0
        return tensors

    perturbed_pipeline("HI", num_inference_steps=STEPS, guidance_scale=2.0, callback_on_step_end=raise_guidance)
    assert perturbed_pipeline.guidance_scale == 2.0 + STEPS
    for step, (output, prediction) in enumerate(zip(outputs, predictions)):
        unconditional, conditional = output.chunk(2)
        torch.testing.assert_close(prediction, unconditional + (2.0 + step) * (conditional - unconditional))


def test_a_callback_can_turn_guidance_off_for_the_remaining_steps(perturbed_pipeline):
    outputs, predictions = guidance_record(perturbed_pipeline)

    def guidance_off_after_the_first_step(pipe, step, timestep, tensors):
        pipe._guidance_scale = 1.0
        return tensors

    perturbed_pipeline("HI", num_inference_steps=STEPS, guidance_scale=4.0,
                       callback_on_step_end=guidance_off_after_the_first_step)
    assert [output.shape[0] for output in outputs] == [2] + [1] * (STEPS - 1)
    for output, prediction in zip(outputs[1:], predictions[1:]):
        torch.testing.assert_close(prediction, output)  # the conditional prediction alone


def test_a_callback_cannot_turn_guidance_on_in_a_run_that_started_without_it(perturbed_pipeline):
    def guidance_on(pipe, step, timestep, tensors):
        pipe._guidance_scale = 4.0
        return tensors

    with pytest.raises(ValueError, match="started without guidance"):
        perturbed_pipeline("HI", num_inference_steps=STEPS, callback_on_step_end=guidance_on)


def test_from_pipe_shares_every_component_and_samples_the_same(perturbed_pipeline):
    from_pipe = TextVideoPipeline.from_pipe(perturbed_pipeline)
    assert from_pipe.components.keys() == perturbed_pipeline.components.keys()
    assert all(from_pipe.components[name] is component for name, component in perturbed_pipeline.components.items())
    np.testing.assert_array_equal(
        from_pipe("HI", num_inference_steps=STEPS, generator=seeded()).frames,
        perturbed_pipeline("HI", num_inference_steps=STEPS, generator=seeded()).frames,
    )


def test_from_pipe_takes_replacement_components(perturbed_pipeline):
    scheduler = DDIMScheduler.from_config(perturbed_pipeline.scheduler.config)
    from_pipe = TextVideoPipeline.from_pipe(perturbed_pipeline, scheduler=scheduler)
    assert from_pipe.scheduler is scheduler and from_pipe.transformer is perturbed_pipeline.transformer


# ----------------------------------------------------------------------------------------------
# Prediction types and schedulers
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_every_prediction_type_samples_finite_frames_in_range(prediction_type):
    pipe = build_tiny_pipeline(prediction_type)
    assert pipe.scheduler.config.prediction_type == prediction_type
    assert_valid_frames(pipe("HI", num_inference_steps=STEPS, generator=seeded()).frames)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_a_perfect_prediction_of_each_type_reproduces_the_target_video(prediction_type, monkeypatch):
    pipe = build_tiny_pipeline(prediction_type)
    target = video_to_model_space(render_text_video("HI"))[None]
    monkeypatch.setattr(pipe.transformer, "forward", perfect_denoiser(pipe, target))
    frames = pipe("HI", num_inference_steps=4, generator=seeded()).frames
    np.testing.assert_allclose(frames[0, ..., 0], render_text_video("HI") / 255, atol=1e-4)


def swap_scheduler(pipe, name: str) -> dict:
    scheduler_class, call_arguments = SCHEDULERS[name]
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
    return call_arguments


@pytest.mark.parametrize("name", SCHEDULERS)
def test_swapped_in_scheduler_samples_reproducibly(name):
    pipe = build_tiny_pipeline("epsilon")  # the one prediction type every scheduler here supports
    original = pipe.scheduler.config
    arguments = swap_scheduler(pipe, name)
    assert type(pipe.scheduler) is SCHEDULERS[name][0]
    for key in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type"):
        assert pipe.scheduler.config[key] == original[key], key
    first = pipe("HI", num_inference_steps=SCHEDULER_STEPS, generator=seeded(), **arguments).frames
    second = pipe("HI", num_inference_steps=SCHEDULER_STEPS, generator=seeded(), **arguments).frames
    assert_valid_frames(first)
    assert first.std() > 0
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_swapped_in_scheduler_feeds_the_transformer_unit_variance_noise_first(name):
    pipe = build_tiny_pipeline("epsilon")
    arguments = swap_scheduler(pipe, name)
    with recorded_calls(pipe.transformer) as inputs:
        pipe("HI", num_inference_steps=SCHEDULER_STEPS, generator=seeded(), **arguments)
    assert abs(inputs[0].std().item() - 1.0) < 0.05  # starting noise scaled by init_noise_sigma, then scale_model_input


@pytest.mark.parametrize("name", SCHEDULERS)
def test_swapped_in_scheduler_turns_a_perfect_noise_prediction_into_the_target(name, monkeypatch):
    pipe = build_tiny_pipeline("epsilon")
    arguments = swap_scheduler(pipe, name)
    target = video_to_model_space(render_text_video("HI"))[None]
    monkeypatch.setattr(pipe.transformer, "forward", perfect_denoiser(pipe, target))
    frames = pipe("HI", num_inference_steps=SCHEDULER_STEPS, generator=seeded(), **arguments).frames
    tolerance = PERFECT_PREDICTION_TOLERANCE.get(name, 1e-3)
    np.testing.assert_allclose(frames[0, ..., 0], render_text_video("HI") / 255, atol=tolerance)


@pytest.mark.parametrize("name", SAMPLE_PREDICTION_SCHEDULERS)
def test_swapped_in_scheduler_keeps_a_perfect_clean_video_prediction(name, monkeypatch):
    pipe = build_tiny_pipeline("sample")
    arguments = swap_scheduler(pipe, name)
    target = video_to_model_space(render_text_video("HI"))[None]
    monkeypatch.setattr(pipe.transformer, "forward", perfect_denoiser(pipe, target))
    frames = pipe("HI", num_inference_steps=SCHEDULER_STEPS, generator=seeded(), **arguments).frames
    np.testing.assert_allclose(frames[0, ..., 0], render_text_video("HI") / 255, atol=1e-3)


def test_eta_reaches_ddim_and_is_left_out_for_schedulers_without_it():
    pipe = build_tiny_pipeline("epsilon")
    assert_valid_frames(pipe("HI", num_inference_steps=SCHEDULER_STEPS, eta=1.0, generator=seeded()).frames)  # DDPM
    swap_scheduler(pipe, "ddim-eta0")
    deterministic = pipe("HI", num_inference_steps=SCHEDULER_STEPS, eta=0.0, generator=seeded()).frames
    stochastic = pipe("HI", num_inference_steps=SCHEDULER_STEPS, eta=1.0, generator=seeded()).frames
    assert not np.allclose(deterministic, stochastic)
