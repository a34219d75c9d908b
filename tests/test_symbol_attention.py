"""The loss that teaches cross-attention where the renderer drew each symbol, and the alignment score
of `textvid explain` that measures it."""

import math

import numpy as np
import pytest
import torch

from conftest import build_tiny_pipeline
from diffusers_textvid import build_pipeline
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.diffusion_loss import SymbolAttention, symbol_attention_loss
from diffusers_textvid.explain import alignment_scores, cross_attention_alignment, record_attention
from diffusers_textvid.training.training_model import TrainingModel


def truth_and_weights():
    truth = torch.zeros(1, 3, 4, dtype=torch.bool)
    truth[0, 0, 1] = True  # token 0 shows symbol 1
    truth[0, 1, [0, 2]] = True  # token 1 shows symbols 0 and 2; token 2 shows no ink
    return truth


def test_attention_on_the_drawn_symbols_costs_nothing_and_even_attention_costs_its_odds():
    truth = truth_and_weights()
    on_truth = (truth / truth.sum(dim=2, keepdim=True).clamp(min=1))[:, None]  # (B, heads=1, N, L)
    on_truth[0, 0, 2] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # an uninked token may look anywhere
    assert symbol_attention_loss({1: on_truth}, truth).item() == pytest.approx(0.0, abs=1e-6)
    even = torch.full((1, 2, 3, 4), 0.25)
    expected = -(math.log(0.25) + math.log(0.5)) / 2  # mean over the two inked tokens
    assert symbol_attention_loss({1: even, 2: even}, truth).item() == pytest.approx(expected)
    assert symbol_attention_loss({1: even}, torch.zeros(1, 3, 4, dtype=torch.bool)).item() == 0.0


@pytest.mark.parametrize("weight, blocks", [(0.0, (1,)), (-1.0, (1,)), (1.0, ()), (1.0, (-1,))])
def test_symbol_attention_settings_are_checked(weight, blocks):
    with pytest.raises(ValueError, match="SymbolAttention"):
        SymbolAttention(weight, blocks)


def test_alignment_is_one_for_attention_forced_onto_the_renderers_truth():
    pipe = build_tiny_pipeline()
    recorded = record_attention(pipe, ["HELLO", "AB12", "Z"], [{}] * 3, timestep=500)
    truth = recorded["token_symbols"]
    forced = {block: np.repeat((truth / np.maximum(truth.sum(axis=2, keepdims=True), 1))[:, None], 2, axis=1)
              for block in recorded["probabilities"]}
    scores = alignment_scores(forced, truth, recorded["attended"])
    assert scores["cross_attention_alignment_by_layer"] == [1.0, 1.0]
    assert 0 < scores["cross_attention_chance"] < 0.5


def test_a_fresh_model_aligns_at_chance():
    pipe = build_tiny_pipeline()
    scores = cross_attention_alignment(pipe, list(validation_prompts())[:64])
    assert abs(scores["cross_attention_alignment"] - scores["cross_attention_chance"]) < 0.1
    assert len(scores["cross_attention_alignment_by_layer"]) == 2


def test_training_on_the_symbol_attention_loss_aligns_the_supervised_block():
    torch.manual_seed(0)
    pipe = build_pipeline("tiny", transformer_overrides={"patch_size": (1, 32, 8)})  # one-frame column tokens
    model = TrainingModel(pipe, symbol_attention=SymbolAttention(1.0, (1,)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    prompts = list(validation_prompts())[:16]
    before = cross_attention_alignment(pipe, prompts)["cross_attention_alignment_by_layer"][1]
    clean = torch.stack([torch.from_numpy(v) for v in record_attention(pipe, prompts, [{}] * 16, 0)["videos"]])
    clean = clean.float().div(127.5).sub(1)[:, None]
    for step in range(100):
        loss = model(prompts, clean, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = cross_attention_alignment(pipe, prompts)["cross_attention_alignment_by_layer"][1]
    assert after > before + 0.25, (before, after)
