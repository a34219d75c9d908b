"""How well generated videos show their prompt: per-character accuracy against the true render, and PSNR.

Videos here are float `(16, 32, 32)` in [0, 1] (black 0, white 1): the pipeline's `output_type="np"`
frames without their channel axis, or `render_text_video(prompt) / 255`. Map the model's [-1, 1]
range with `(video + 1) / 2` first.

Character accuracy: position `i` of a prompt is correct when the video is strictly closer (in MSE)
to the true render than to the render of each of the 35 prompts that differ only at `i`. A tie
counts as wrong, so a blank video gets no credit.

Look (variation) accuracy: the look of a video is the nearest render (in MSE) of its true text over
every combination of `VARIATIONS`; it is right when that is the look asked for.
"""

import time

import numpy as np
import torch

from .data.prompts import MAX_PROMPT_LENGTH, MIN_PROMPT_LENGTH, VOCABULARY, normalize_prompt, single_position_variants
from .data.render import FRAME_SIZE, NUM_FRAMES, render_text_video
from .data.splits import HoldOuts, validation_prompts
from .data.variations import all_variations, check_variation

VIDEO_SHAPE = (NUM_FRAMES, FRAME_SIZE, FRAME_SIZE)
PSNR_CAP_DB = 100.0  # identical videos score this instead of infinity, so means and JSON stay finite
HOLDOUT_SET_SIZE = 50
LEADING_A = HoldOuts(no_leading_a=True, no_s_second=False)
S_SECOND = HoldOuts(no_leading_a=False, no_s_second=True)


def render_videos(prompts: list[str], variation: dict | None = None) -> np.ndarray:
    """float64 `(N, 16, 32, 32)` in [0, 1]: the true render of each prompt, in the look `variation`."""
    return np.stack([render_text_video(prompt, **(variation or {})) for prompt in prompts]).astype(np.float64) / 255.0


def check_video(video: np.ndarray) -> np.ndarray:
    """Return `video` as float64 `(16, 32, 32)`; raise `ValueError` for another shape or values outside [0, 1]."""
    video = np.asarray(video, dtype=np.float64)
    if video.shape != VIDEO_SHAPE:
        raise ValueError(f"A video must have shape {VIDEO_SHAPE}, got {video.shape}.")
    if video.min() < 0.0 or video.max() > 1.0:
        raise ValueError(
            f"Video values must lie in [0, 1], got [{video.min():.3f}, {video.max():.3f}]; "
            "map [-1, 1] videos with (video + 1) / 2."
        )
    return video


def character_correct(video: np.ndarray, prompt: str, variation: dict | None = None) -> list[bool]:
    """One bool per symbol of `prompt`: is `video` `(16, 32, 32)` closer to the true render than to
    every render that differs from `prompt` at that position only? All in the look `variation`."""
    video = check_video(video)
    prompt = normalize_prompt(prompt)
    candidates = [prompt] + [variant for i in range(len(prompt)) for variant in single_position_variants(prompt, i)]
    errors = ((render_videos(candidates, variation) - video[None]) ** 2).mean(axis=(1, 2, 3))  # (1 + 35 * n,)
    variant_errors = errors[1:].reshape(len(prompt), len(VOCABULARY) - 1)  # (n, 35)
    return (errors[0] < variant_errors).all(axis=1).tolist()


def nearest_variation(video: np.ndarray, prompt: str) -> dict:
    """The look (one combination of `VARIATIONS`) whose render of `prompt` is nearest `video` `(16, 32, 32)` in MSE."""
    video = check_video(video)
    looks = all_variations()
    renders = np.stack([render_text_video(prompt, **look) for look in looks]).astype(np.float64) / 255.0
    return looks[int(((renders - video[None]) ** 2).mean(axis=(1, 2, 3)).argmin())]


def psnr(video: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of `video` against `reference`, both `(16, 32, 32)` in [0, 1].

    Identical videos get `PSNR_CAP_DB` rather than infinity.
    """
    mse = float(((check_video(video) - check_video(reference)) ** 2).mean())
    return float(-10.0 * np.log10(max(mse, 10.0 ** (-PSNR_CAP_DB / 10.0))))


def evaluate_pipeline(
    pipe,
    prompts: list[str],
    num_inference_steps: int = 25,
    guidance_scale: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    variation: dict | None = None,
) -> dict:
    """Generate one video per prompt with `pipe` and score each against its true render in the look
    `variation` (default: the original look), the look the model is expected to draw.

    Video `i` starts from noise seeded with `seed + i`, so the scores do not depend on `batch_size`.
    `seconds_per_video` is measured after one untimed warm-up video.

    Returns a dict with
        num_prompts, char_accuracy (correct symbols / all symbols), prompt_accuracy (prompts with
        every symbol correct / prompts), look_accuracy (videos whose nearest look is `variation`),
        psnr_db (mean over prompts), seconds_per_video (generation wall time only), and per_prompt:
        one dict per prompt with prompt, characters_correct, char_accuracy, prompt_correct,
        nearest_look, look_correct and psnr_db.
    """
    look = check_variation(variation or {})
    prompts = [normalize_prompt(prompt) for prompt in prompts]
    if not prompts:
        raise ValueError("Give at least one prompt to evaluate.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    # One untimed video first: the first call pays one-off costs that are not sampling speed.
    pipe(prompts[0], num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
         generator=torch.Generator().manual_seed(seed), output_type="np")
    per_prompt = []
    generation_seconds = 0.0
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        generators = [torch.Generator().manual_seed(seed + start + offset) for offset in range(len(batch))]
        began = time.perf_counter()
        frames = pipe(
            batch,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generators,
            output_type="np",
        ).frames  # (B, 16, 32, 32, 1)
        generation_seconds += time.perf_counter() - began
        for prompt, video in zip(batch, frames[..., 0]):
            correct = character_correct(video, prompt, look)
            nearest_look = nearest_variation(video, prompt)
            per_prompt.append(
                {
                    "prompt": prompt,
                    "characters_correct": correct,
                    "char_accuracy": sum(correct) / len(correct),
                    "prompt_correct": all(correct),
                    "nearest_look": nearest_look,
                    "look_correct": nearest_look == look,
                    "psnr_db": psnr(video, render_videos([prompt], look)[0]),
                }
            )
    num_characters = sum(len(result["prompt"]) for result in per_prompt)
    return {
        "num_prompts": len(prompts),
        "char_accuracy": sum(sum(result["characters_correct"]) for result in per_prompt) / num_characters,
        "prompt_accuracy": sum(result["prompt_correct"] for result in per_prompt) / len(prompts),
        "look_accuracy": sum(result["look_correct"] for result in per_prompt) / len(prompts),
        "psnr_db": float(np.mean([result["psnr_db"] for result in per_prompt])),
        "seconds_per_video": generation_seconds / len(prompts),
        "per_prompt": per_prompt,
    }


def sample_distinct_prompts(rng: np.random.Generator, count: int, keep) -> list[str]:
    """`count` distinct prompts, sorted, drawn as training draws them (length uniform in 1..6, then
    symbols uniform), keeping only those for which `keep(prompt)` is true."""
    chosen = set()
    while len(chosen) < count:
        length = int(rng.integers(MIN_PROMPT_LENGTH, MAX_PROMPT_LENGTH + 1))
        prompt = "".join(VOCABULARY[i] for i in rng.integers(0, len(VOCABULARY), size=length))
        if keep(prompt):
            chosen.add(prompt)
    return sorted(chosen)


def evaluation_prompt_sets(num_prompts: int = 100, seed: int = 0) -> dict[str, list[str]]:
    """The standard prompt sets, each sorted and a pure function of `(num_prompts, seed)`.

    - "validation": `num_prompts` drawn without replacement from `validation_prompts()`.
    - "holdout_leading_a": prompts starting with "A" (without "S" second, to test that hold-out alone).
    - "holdout_s_second": prompts with "S" second (without a leading "A", likewise).
    - "AS": the one prompt that combines both hold-outs.

    The hold-out sets have `min(num_prompts, HOLDOUT_SET_SIZE)` prompts. Each set draws from its
    own random stream, so changing one set's size leaves the others as they were.
    """
    if num_prompts < 1:
        raise ValueError(f"`num_prompts` must be positive, got {num_prompts}.")
    validation_rng, leading_a_rng, s_second_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3)
    )
    validation = validation_prompts()
    chosen = validation_rng.choice(len(validation), size=min(num_prompts, len(validation)), replace=False)
    holdout_size = min(num_prompts, HOLDOUT_SET_SIZE)
    return {
        "validation": sorted(validation[int(i)] for i in chosen),
        "holdout_leading_a": sample_distinct_prompts(
            leading_a_rng, holdout_size, lambda prompt: LEADING_A.excludes(prompt) and not S_SECOND.excludes(prompt)
        ),
        "holdout_s_second": sample_distinct_prompts(
            s_second_rng, holdout_size, lambda prompt: S_SECOND.excludes(prompt) and not LEADING_A.excludes(prompt)
        ),
        "AS": ["AS"],
    }
