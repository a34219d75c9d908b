import collections

import numpy as np
import pytest

from diffusers_textvid.data.prompts import VOCABULARY, count_prompts, normalize_prompt, total_prompt_count
from diffusers_textvid.data.splits import (
    VALIDATION_SIZE,
    HoldOuts,
    is_training_prompt,
    sample_training_prompt,
    validation_prompts,
)


class ScriptedGenerator:
    """Stands in for `np.random.Generator`: `integers` returns the scripted prompts' draws in order."""

    def __init__(self, *prompts: str):
        self.draws = []
        for prompt in prompts:
            self.draws += [len(prompt), np.array([VOCABULARY.index(symbol) for symbol in prompt])]

    def integers(self, low, high=None, size=None):
        draw = self.draws.pop(0)
        assert np.all((low <= np.asarray(draw)) & (np.asarray(draw) < high)), "scripted draw outside the asked range"
        assert (size is None) == np.isscalar(draw)
        return draw


@pytest.fixture(scope="module")
def training_sample() -> list[str]:
    rng = np.random.default_rng(0)
    return [sample_training_prompt(rng) for _ in range(5000)]


def test_validation_has_2000_distinct_valid_prompts():
    prompts = validation_prompts()
    assert VALIDATION_SIZE == 2000
    assert len(prompts) == len(set(prompts)) == 2000
    assert all(normalize_prompt(prompt) == prompt for prompt in prompts)


def test_validation_is_recomputed_identically():
    assert validation_prompts.__wrapped__() == validation_prompts()


def test_validation_is_proportional_to_the_number_of_prompts_of_each_length():
    lengths = collections.Counter(len(prompt) for prompt in validation_prompts())
    for length, tolerance in ((6, 40), (5, 30)):
        expected = 2000 * count_prompts(length) / total_prompt_count()
        assert abs(lengths[length] - expected) < tolerance
    assert lengths[1] < 36  # far from every one-symbol prompt: they are a tiny share of all prompts


def test_every_validation_prompt_is_excluded_from_training():
    assert not any(is_training_prompt(prompt) for prompt in validation_prompts())
    assert not any(is_training_prompt(prompt, HoldOuts(False, False)) for prompt in validation_prompts())


@pytest.mark.parametrize("hold_outs", [HoldOuts(), HoldOuts(True, False), HoldOuts(False, True)])
def test_as_is_excluded_by_either_hold_out(hold_outs):
    assert not is_training_prompt("AS", hold_outs)


def test_sampler_redraws_after_a_validation_prompt():
    held_out = validation_prompts()[0]
    assert sample_training_prompt(ScriptedGenerator(held_out, "BC")) == "BC"


@pytest.mark.parametrize("rejected", ["A", "AB", "XS", "AS", "QS1234"])
def test_sampler_redraws_after_a_held_out_prompt(rejected):
    assert sample_training_prompt(ScriptedGenerator(rejected, "BC")) == "BC"


def test_sampler_keeps_held_out_prompts_when_hold_outs_are_off():
    assert sample_training_prompt(ScriptedGenerator("AS", "BC"), HoldOuts(False, False)) == "AS"


def test_sampled_training_prompts_respect_the_hold_outs(training_sample):
    assert not any(prompt.startswith("A") for prompt in training_sample)
    assert not any(len(prompt) > 1 and prompt[1] == "S" for prompt in training_sample)
    assert "AS" not in training_sample
    assert not set(training_sample) & set(validation_prompts())


def test_sampled_training_prompts_cover_every_length_and_are_valid(training_sample):
    assert {len(prompt) for prompt in training_sample} == set(range(1, 7))
    assert all(normalize_prompt(prompt) == prompt for prompt in training_sample)


def test_sampler_without_hold_outs_yields_a_initial_and_s_second_prompts():
    rng = np.random.default_rng(0)
    sample = [sample_training_prompt(rng, HoldOuts(False, False)) for _ in range(2000)]
    assert any(prompt.startswith("A") for prompt in sample)
    assert any(len(prompt) > 1 and prompt[1] == "S" for prompt in sample)
