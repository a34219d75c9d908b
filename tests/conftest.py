"""Shared fixtures: tiny pipelines and models that run in milliseconds on a CPU.

An untrained DiT predicts zeros (adaLN-Zero), which would let many checks pass trivially, so most
tests use a copy whose weights carry small seeded noise (`perturb_weights`).
"""

import pytest
import torch

from diffusers_textvid import PRESETS, TextVideoDiTModel, build_pipeline
from diffusers_textvid.pipelines import TextVideoPipeline

# These models are tiny: one thread is fastest, and on a busy machine extra threads spin-wait,
# making each operator a hundred times slower.
torch.set_num_threads(1)


def perturb_weights(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Add seeded Gaussian noise to every parameter, in place, so the model's output is not trivially zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return module


def build_tiny_pipeline(prediction_type: str | None = None, perturbed: bool = True,
                        transformer_overrides: dict | None = None) -> TextVideoPipeline:
    """A fresh `tiny` pipeline with seeded weights, the same on every call with the same arguments;
    `transformer_overrides` replaces any of the tiny transformer's arguments (`sample_size`, ...)."""
    torch.manual_seed(0)
    pipe = build_pipeline("tiny", prediction_type=prediction_type, transformer_overrides=transformer_overrides)
    if perturbed:
        perturb_weights(pipe.transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_transformer(perturbed: bool = True) -> TextVideoDiTModel:
    """A fresh `tiny` DiT with seeded weights."""
    torch.manual_seed(0)
    model = TextVideoDiTModel(**PRESETS["tiny"]["transformer"])
    return perturb_weights(model) if perturbed else model


@pytest.fixture(scope="session")
def tiny_pipeline() -> TextVideoPipeline:
    """An untrained `tiny` pipeline shared by the whole session: read it, do not modify it."""
    return build_tiny_pipeline(perturbed=False)


@pytest.fixture
def perturbed_pipeline() -> TextVideoPipeline:
    """A `tiny` pipeline of this test's own, with perturbed transformer weights; free to modify."""
    return build_tiny_pipeline()


@pytest.fixture
def generator():
    """A CPU generator seeded the same in every test."""
    return torch.Generator().manual_seed(0)
