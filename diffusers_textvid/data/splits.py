"""Train / validation splits with no leakage, and the generalisation hold-outs.

Validation: about 2000 prompts drawn uniformly over every possible prompt with a fixed seed, so
each length is represented in proportion to how many prompts of that length exist. Training
draws a length uniformly, then the symbols, and rejects validation prompts and hold-outs.
"""

import dataclasses
import functools

import numpy as np

from .prompts import MAX_PROMPT_LENGTH, MIN_PROMPT_LENGTH, VOCABULARY, prompt_from_index, total_prompt_count

VALIDATION_SIZE = 2000
VALIDATION_SEED = 20261122


@functools.lru_cache(maxsize=4)
def validation_prompts(size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED) -> tuple[str, ...]:
    """The held-out validation prompts, sorted; the same on every machine for a given (size, seed)."""
    rng = np.random.default_rng(seed)
    indices = rng.choice(total_prompt_count(), size=size, replace=False)
    return tuple(sorted(prompt_from_index(int(i)) for i in indices))


@dataclasses.dataclass(frozen=True)
class HoldOuts:
    """Prompts kept out of training to test generalisation (both on by default: "AS" is never seen)."""

    no_leading_a: bool = True  # no training prompt starts with "A"
    no_s_second: bool = True  # no training prompt has "S" in second place

    def excludes(self, prompt: str) -> bool:
        """True if training must never see `prompt`."""
        if self.no_leading_a and prompt[0] == "A":
            return True
        return self.no_s_second and len(prompt) > 1 and prompt[1] == "S"


def is_training_prompt(prompt: str, hold_outs: HoldOuts = HoldOuts()) -> bool:
    """True if `prompt` may appear in training: not in validation and not held out."""
    return not hold_outs.excludes(prompt) and prompt not in _validation_set()


@functools.lru_cache(maxsize=1)
def _validation_set() -> frozenset[str]:
    return frozenset(validation_prompts())


def sample_training_prompt(rng: np.random.Generator, hold_outs: HoldOuts = HoldOuts()) -> str:
    """Draw one training prompt: length uniform in 1..6, then symbols uniform, rejecting excluded prompts."""
    while True:
        length = int(rng.integers(MIN_PROMPT_LENGTH, MAX_PROMPT_LENGTH + 1))
        prompt = "".join(VOCABULARY[i] for i in rng.integers(0, len(VOCABULARY), size=length))
        if is_training_prompt(prompt, hold_outs):
            return prompt
