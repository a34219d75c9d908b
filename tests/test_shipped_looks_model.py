"""The second shipped model, trained with looks: loads from LOOKS_MODEL_DIR, draws the look it is
asked for and, by the denoising alone (the pipeline's default), a spread of looks when left to choose."""

import os

import numpy as np
import pytest
import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, LOOKS_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.looks import LOOK_FACTORS, all_looks
from diffusers_textvid.evaluation import evaluate_looks, evaluation_prompt_sets, render_videos
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
    with every factor left out, decided by the denoising alone (no classifier draw)."""
    return evaluate_looks(looks_pipeline, HANDFUL, num_inference_steps=25, seed=0, batch_size=64,
                          draw_left_out_look=False)


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
    assert look_scores["coverage_psnr_db"] > 20.0  # one look each, not a blur of several
    assert look_scores["coverage_char_accuracy"] > 0.9


def test_the_model_reads_the_look_from_the_noisy_video_as_early_as_it_shows(looks_pipeline):
    # At t = 639 the exact posterior over the 36 renders gives the true look 1.00 (32 validation prompts,
    # research/variety-by-denoising); a model that cannot read it there leaves denoising alone to blur looks.
    transformer, scheduler = looks_pipeline.transformer, looks_pipeline.scheduler
    generator = torch.Generator().manual_seed(0)
    looks = all_looks()
    prompts = evaluation_prompt_sets(16, 0)["validation"]
    chosen = torch.randint(0, len(looks), (len(prompts),), generator=generator).tolist()
    clean = torch.from_numpy(np.concatenate([render_videos([prompt], looks[look], (16, 32, 32))
                                             for prompt, look in zip(prompts, chosen)]) * 2 - 1).float()[:, None]
    timestep = torch.full((len(prompts),), 639)
    noisy = scheduler.add_noise(clean, torch.randn(clean.shape, generator=generator), timestep)
    text, mask = looks_pipeline.encode_text(prompts, torch.device("cpu"))
    with torch.no_grad():
        logits = transformer(noisy, timestep, text, mask, look_ids=transformer.encode_looks([{}] * len(prompts))).look_logits[-1]
    true = transformer.scroll_text.true_look(transformer.encode_looks([looks[look] for look in chosen]))
    assert logits.softmax(dim=1)[torch.arange(len(prompts)), true].mean() > 0.8
