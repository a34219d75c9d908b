"""The model shipped inside the package: loads from DEFAULT_MODEL_DIR and spells what it is asked."""

import os

import pytest
import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.evaluation import character_correct, evaluate_pipeline
from diffusers_textvid.schedulers import swap_scheduler


@pytest.fixture(scope="module")
def shipped_pipeline():
    pipe = TextVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_shipped_weights_are_small_safetensors_loaded_as_float32(shipped_pipeline):
    weights = os.path.join(DEFAULT_MODEL_DIR, "transformer", "diffusion_pytorch_model.safetensors")
    assert os.path.getsize(weights) < 15 * 2**20
    assert shipped_pipeline.transformer.dtype == torch.float32
    assert shipped_pipeline.text_encoder.dtype == torch.float32


@pytest.mark.parametrize("prompt", ["HELLO", "AS"])  # "AS" was never seen in training
def test_shipped_model_spells_the_prompt_with_ddim_25_steps(shipped_pipeline, prompt):
    swap_scheduler(shipped_pipeline, "ddim", 25)
    video = shipped_pipeline(prompt, num_inference_steps=25, generator=torch.Generator().manual_seed(0)).frames
    assert all(character_correct(video[0, ..., 0], prompt))


HANDFUL = ["HELLO", "AB12", "Z9", "QX7W", "M3K0P8"]


@pytest.fixture(scope="module")
def ddim_scores(shipped_pipeline) -> dict[int, dict]:
    """Scores of DDIM at 8, 25 and 50 steps on a handful of prompts, one seeded video each."""
    swap_scheduler(shipped_pipeline, "ddim")
    return {steps: evaluate_pipeline(shipped_pipeline, HANDFUL, num_inference_steps=steps, seed=0, batch_size=5)
            for steps in (8, 25, 50)}


def test_ddim_25_steps_spell_every_symbol_well_above_the_old_noise_floor(ddim_scores):
    """Clean videos: every symbol right, and far above the PSNR of speckled ones."""
    assert ddim_scores[25]["char_accuracy"] == 1.0
    assert ddim_scores[25]["psnr_db"] > 22.0


def test_more_ddim_steps_give_no_worse_videos(ddim_scores):
    """A denoiser that denoises: the longer trajectory loses neither symbols nor sharpness."""
    assert ddim_scores[50]["char_accuracy"] >= ddim_scores[8]["char_accuracy"]
    assert ddim_scores[50]["psnr_db"] >= ddim_scores[8]["psnr_db"] - 0.3
