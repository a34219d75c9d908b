"""The second shipped model, trained with looks: loads from LOOKS_MODEL_DIR, draws the look it is
asked for and picks a spread of looks when left to choose."""

import os

import pytest
import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, LOOKS_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.evaluation import evaluate_looks
from diffusers_textvid.schedulers import swap_scheduler

HANDFUL = ["HELLO", "AB12", "Z9", "QX7W", "M3K0P8", "AS"]  # "AS" was never seen in training


@pytest.fixture(scope="module")
def looks_pipeline():
    pipe = TextVideoPipeline.from_pretrained(LOOKS_MODEL_DIR)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, "ddim", 25)
    return pipe


@pytest.fixture(scope="module")
def look_scores(looks_pipeline) -> dict:
    """`evaluate_looks` at DDIM 25: one random full look per prompt, and 8 videos of each prompt
    with every factor left out."""
    return evaluate_looks(looks_pipeline, HANDFUL, num_inference_steps=25, seed=0, batch_size=64)


def test_the_varied_model_is_a_second_small_model_and_the_default_stays_without_looks(looks_pipeline):
    weights = os.path.join(LOOKS_MODEL_DIR, "transformer", "diffusion_pytorch_model.safetensors")
    assert os.path.getsize(weights) < 15 * 2**20
    assert looks_pipeline.transformer.config.looks == {f: list(v) for f, v in LOOK_FACTORS.items()}
    default = TextVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    assert default.transformer.config.get("looks") is None


def test_asked_looks_are_drawn_and_spelled(look_scores):
    assert look_scores["control_accuracy"] == 1.0
    assert look_scores["char_accuracy"] > 0.9  # chance is about 1 in 36 symbols
    assert look_scores["psnr_db"] > 20.0


def test_looks_left_out_are_spread_over_every_value_of_every_factor(look_scores):
    for factor, shares in look_scores["coverage_shares"].items():
        assert min(shares.values()) > 0, (factor, shares)  # 48 videos: every value drawn at least once
