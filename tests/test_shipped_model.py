"""The model shipped inside the package: loads from DEFAULT_MODEL_DIR and spells what it is asked."""

import os

import pytest
import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.evaluation import character_correct
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
