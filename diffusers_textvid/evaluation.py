"""How well generated videos show their prompt: per-character accuracy against the true render, and PSNR.

Videos here are float `(F, S, S)` in [0, 1] (black 0, white 1): the pipeline's `output_type="np"`
frames without their channel axis, or `render_text_video(prompt) / 255`. Map the model's [-1, 1]
range with `(video + 1) / 2` first. A video is scored against renders of its own size (F frames of
S x S pixels, 16 of 32x32 by default); `evaluate_pipeline` and `evaluate_looks` expect the size of the
pipeline's transformer (`sample_frames`, `sample_size`).

Character accuracy: position `i` of a prompt is correct when the video is strictly closer (in MSE)
to the true render than to the render of each of the 35 prompts that differ only at `i`. A tie
counts as wrong, so a blank video gets no credit.

Look accuracy: the look of a video is the nearest render (in MSE) of its true text over
every combination of `LOOK_FACTORS`; it is right when that is the look asked for. Left to choose the
look, a model should draw every value of every factor equally often (`evaluate_looks`).

Ink checks (`ink_look_checks`): the nearest-render look needs the symbols right. Early in training,
before any symbol is, the direction, the crossing and the vertical offset still show in where the
ink is, frame by frame, and these checks compare only that.
"""

import time

import numpy as np
import torch

from .data.prompts import MAX_PROMPT_LENGTH, MIN_PROMPT_LENGTH, VOCABULARY, normalize_prompt, single_position_variants
from .data.render import FRAME_SIZE, NUM_FRAMES, check_video_size, render_text_video
from .data.splits import HoldOuts, validation_prompts
from .data.looks import LOOK_FACTORS, all_looks, check_look

PSNR_CAP_DB = 100.0  # identical videos score this instead of infinity, so means and JSON stay finite
HOLDOUT_SET_SIZE = 50
SAMPLES_PER_PROMPT = 8  # videos of each prompt that `evaluate_looks` lets the model choose the look of
LEADING_A = HoldOuts(no_leading_a=True, no_s_second=False)
S_SECOND = HoldOuts(no_leading_a=False, no_s_second=True)


DEFAULT_VIDEO_SHAPE = (NUM_FRAMES, FRAME_SIZE, FRAME_SIZE)


def render_videos(prompts: list[str], look: dict | None = None, video_shape: tuple = DEFAULT_VIDEO_SHAPE) -> np.ndarray:
    """float64 `(N, F, S, S)` in [0, 1]: the true render of each prompt, in the look `look`, of `video_shape`
    `(F, S, S)`."""
    size = {"num_frames": video_shape[0], "frame_size": video_shape[1]}
    videos = np.stack([render_text_video(prompt, **size, **(look or {})) for prompt in prompts])  # (N, F, S, S) uint8
    return videos.astype(np.float64) / 255.0


def model_video_size(transformer_config, purpose: str) -> tuple[int, int]:
    """`(F, S)`: the videos a transformer of `transformer_config` makes, F frames of S x S pixels
    (`sample_frames`, `sample_size`); `ValueError` for a size the renderer cannot draw, saying what the
    renders were needed for (`purpose`, e.g. "to train it on")."""
    frames, size = transformer_config.sample_frames, transformer_config.sample_size
    try:
        return check_video_size(frames, size)
    except ValueError as error:
        raise ValueError(f"The model makes videos of {frames} frames of {size}x{size} pixels (sample_frames, "
                         f"sample_size), which the renderer cannot draw {purpose}: {error}") from None


def pipeline_video_shape(pipe) -> tuple[int, int, int]:
    """`(F, S, S)`: the videos `pipe` makes (its transformer's `sample_frames` and `sample_size`); `ValueError`
    for a size the renderer cannot draw, so no true render to score against."""
    num_frames, frame_size = model_video_size(pipe.transformer.config, "to score them against")
    return num_frames, frame_size, frame_size


def check_video(video: np.ndarray, shape: tuple | None = None) -> np.ndarray:
    """Return `video` as float64 `(F, S, S)`; raise `ValueError` for a shape other than `shape` (None: any
    F x S x S the renderer draws) or values outside [0, 1]."""
    video = np.asarray(video, dtype=np.float64)
    if shape is not None and video.shape != tuple(shape):
        raise ValueError(f"A video must have shape {tuple(shape)}, got {video.shape}.")
    if video.ndim != 3 or video.shape[1] != video.shape[2]:
        raise ValueError(f"A video must have shape (frames, size, size), got {video.shape}.")
    check_video_size(*video.shape[:2])
    if video.min() < 0.0 or video.max() > 1.0:
        raise ValueError(
            f"Video values must lie in [0, 1], got [{video.min():.3f}, {video.max():.3f}]; "
            "map [-1, 1] videos with (video + 1) / 2."
        )
    return video


def character_correct(video: np.ndarray, prompt: str, look: dict | None = None) -> list[bool]:
    """One bool per symbol of `prompt`: is `video` `(F, S, S)` closer to the true render than to
    every render that differs from `prompt` at that position only? All in the look `look`, at the size of `video`."""
    video = check_video(video)
    prompt = normalize_prompt(prompt)
    candidates = [prompt] + [variant for i in range(len(prompt)) for variant in single_position_variants(prompt, i)]
    errors = ((render_videos(candidates, look, video.shape) - video[None]) ** 2).mean(axis=(1, 2, 3))  # (1 + 35 * n,)
    variant_errors = errors[1:].reshape(len(prompt), len(VOCABULARY) - 1)  # (n, 35)
    return (errors[0] < variant_errors).all(axis=1).tolist()


def nearest_look(video: np.ndarray, prompt: str) -> dict:
    """The look (one combination of `LOOK_FACTORS`) whose render of `prompt`, at the size of `video` `(F, S, S)`,
    is nearest `video` in MSE."""
    video = check_video(video)
    looks = all_looks()
    renders = np.concatenate([render_videos([prompt], look, video.shape) for look in looks])  # (36, F, S, S)
    return looks[int(((renders - video[None]) ** 2).mean(axis=(1, 2, 3)).argmin())]



def exact_look_posterior(noisy: torch.Tensor, renders: torch.Tensor, alpha_cumprod) -> torch.Tensor:
    """float `(B, K)`: the chance of each of K candidate videos given the noisy video, the exact posterior
    when x_t = sqrt(a) x_0 + sqrt(1 - a) noise and x_0 is one of them, equally likely. `noisy` `(B, ...)`
    is x_t, `renders` `(B, K, ...)` the candidates in [-1, 1] (e.g. a prompt's render in each look),
    `alpha_cumprod` the a of x_t's timestep."""
    alpha_cumprod = torch.as_tensor(alpha_cumprod).float()
    distance = ((noisy.float()[:, None] - alpha_cumprod.sqrt() * renders.float()) ** 2).flatten(2).sum(dim=2)
    return (-distance / (2 * (1 - alpha_cumprod))).softmax(dim=1)

# The factors whose value shows in where the ink is, whatever the symbols: each with the axis that its ink
# profile sums away (1: rows, keeping the ink per column; 2: columns, keeping the ink per row).
INK_FACTORS = {"direction": 1, "crossing_frames": 1, "vertical_offset": 2}


def ink_profile(video: np.ndarray, axis: int) -> np.ndarray:
    """`(F, W)` ink per column (`axis=1`) or `(F, H)` per row (`axis=2`) of a `(F, H, W)` video, smoothed
    over 5 pixels: where the ink is counts, which symbol it draws barely does."""
    profile = check_video(video).sum(axis=axis)
    return np.stack([np.convolve(line, np.ones(5) / 5, mode="same") for line in profile])


def ink_look_checks(video: np.ndarray, prompt: str, look: dict) -> dict[str, bool]:
    """For each factor of `INK_FACTORS`: is the value whose render of `prompt` (the other factors as in the
    full look `look`) has the nearest ink profile to `video` the one in `look`? Each factor is judged with
    the others as asked, so a video moving the wrong way can fail the crossing check too."""
    look = check_look(look)
    video = check_video(video)
    profiles = {axis: ink_profile(video, axis) for axis in set(INK_FACTORS.values())}
    checks = {}
    for factor, axis in INK_FACTORS.items():
        renders = {value: render_videos([prompt], look | {factor: value}, video.shape)[0]
                   for value in LOOK_FACTORS[factor]}
        distances = {value: np.abs(ink_profile(render, axis) - profiles[axis]).sum()
                     for value, render in renders.items()}
        checks[factor] = min(distances, key=distances.get) == look[factor]
    return checks


def psnr(video: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of `video` against `reference`, both `(F, S, S)` in [0, 1], of one shape.

    Identical videos get `PSNR_CAP_DB` rather than infinity.
    """
    reference = check_video(reference)
    mse = float(((check_video(video, reference.shape) - reference) ** 2).mean())
    return float(-10.0 * np.log10(max(mse, 10.0 ** (-PSNR_CAP_DB / 10.0))))


def generate_videos(
    pipe, prompts: list[str], seed: int, batch_size: int, looks: list[dict] | None = None, **call_options
) -> tuple[np.ndarray, float]:
    """One video per prompt, `batch_size` to a pipeline call: float `(N, F, S, S)` in [0, 1], and the
    seconds the pipeline took; `ValueError` naming both shapes if a video is not of `pipeline_video_shape(pipe)`.

    Video `i` starts from noise seeded with `seed + i`, so the videos do not depend on `batch_size`.
    `looks`, when given, is one look dict per prompt, passed as the pipeline's `look`;
    `call_options` go to the pipeline as they are (`num_inference_steps`, `guidance_scale`, ...).
    """
    videos, seconds = [], 0.0
    for start in range(0, len(prompts), batch_size):
        batch = slice(start, start + batch_size)
        generators = [torch.Generator().manual_seed(seed + i) for i in range(len(prompts))[batch]]
        look_option = {} if looks is None else {"look": looks[batch]}
        began = time.perf_counter()
        frames = pipe(prompts[batch], generator=generators, output_type="np", **look_option, **call_options).frames
        seconds += time.perf_counter() - began
        videos.append(np.asarray(frames)[..., 0])  # (B, F, S, S, 1) -> (B, F, S, S)
    videos = np.concatenate(videos)
    expected = pipeline_video_shape(pipe)
    if videos.shape[1:] != expected:
        raise ValueError(f"The pipeline made videos of shape {videos.shape[1:]}; its transformer's size is {expected}.")
    return videos, seconds


def evaluate_pipeline(
    pipe,
    prompts: list[str],
    num_inference_steps: int = 25,
    guidance_scale: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    look: dict | None = None,
) -> dict:
    """Generate one video per prompt with `pipe` and score each against its true render in the look
    `look` (default: the original look), the look the model is expected to draw, at the size of the
    pipeline's transformer (`pipeline_video_shape`).

    Video `i` starts from noise seeded with `seed + i`, so the scores do not depend on `batch_size`.
    `seconds_per_video` is measured after one untimed warm-up video.

    Returns a dict with
        num_prompts, char_accuracy (correct symbols / all symbols), prompt_accuracy (prompts with
        every symbol correct / prompts), look_accuracy (videos whose nearest look is `look`),
        psnr_db (mean over prompts), seconds_per_video (generation wall time only), and per_prompt:
        one dict per prompt with prompt, characters_correct, char_accuracy, prompt_correct,
        nearest_look, look_correct and psnr_db.
    """
    look = check_look(look or {})
    prompts = [normalize_prompt(prompt) for prompt in prompts]
    if not prompts:
        raise ValueError("Give at least one prompt to evaluate.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    video_shape = pipeline_video_shape(pipe)
    options = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale}
    generate_videos(pipe, prompts[:1], seed, batch_size, **options)  # warm-up: the first call pays one-off costs
    videos, generation_seconds = generate_videos(pipe, prompts, seed, batch_size, **options)  # (N, F, S, S)
    per_prompt = []
    for prompt, video in zip(prompts, videos):
        correct = character_correct(video, prompt, look)
        found = nearest_look(video, prompt)
        per_prompt.append(
            {
                "prompt": prompt,
                "characters_correct": correct,
                "char_accuracy": sum(correct) / len(correct),
                "prompt_correct": all(correct),
                "nearest_look": found,
                "look_correct": found == look,
                "psnr_db": psnr(video, render_videos([prompt], look, video_shape)[0]),
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


def model_looks(pipe) -> dict | None:
    """The looks `pipe`'s transformer is conditioned on (`transformer.config.looks`: factor -> its
    values), or None for a model trained without looks."""
    return getattr(pipe.transformer.config, "looks", None)


def evaluate_looks(
    pipe,
    prompts: list[str],
    num_inference_steps: int = 25,
    samples_per_prompt: int = SAMPLES_PER_PROMPT,
    seed: int = 0,
    batch_size: int = 16,
    guidance_scale: float = 1.0,
    **call_options,
) -> dict:
    """How well a model trained with looks draws the look it is asked for, and how evenly it draws the
    looks it is left to choose. The look of every video is recovered with `nearest_look`.
    `call_options` go to every pipeline call (e.g. `draw_left_out_look=False`).

    Control: each prompt is asked for one full look (all four factors given), drawn uniformly from
    `all_looks()` by a generator seeded with `seed`; one video each.
    Coverage: every factor left out, `samples_per_prompt` videos of each prompt.

    Control video `i` starts from noise seeded with `seed + i`, coverage video `j` (of prompt
    `j // samples_per_prompt`) from `seed + len(prompts) + j`, so the scores do not depend on `batch_size`.

    Returns a dict with
        num_prompts, samples_per_prompt,
        control_accuracy: share of control videos whose recovered look is the one asked for,
        control_accuracy_per_factor: factor -> share whose recovered value of that factor is the asked one,
        char_accuracy, prompt_accuracy: as in `evaluate_pipeline`, on the control videos in the asked looks,
        coverage_char_accuracy: the same share on the coverage videos, each read in its recovered look,
        coverage_shares: factor -> {value: share of the coverage videos (all prompts pooled) drawn with it},
        coverage_tv: factor -> total-variation distance of those shares from uniform over the factor's k
            values, 0.5 * sum |share - 1/k|: 0 for even draws, (k - 1) / k for one value always (a
            perfectly even sampler still scores 0.01 to 0.02 on 800 videos, by chance alone),
        coverage_tv_max: the largest of them,
        psnr_db: mean over every video, control and coverage, against the render of its recovered look,
        control_psnr_db, coverage_psnr_db: that mean over the control videos, and over the coverage videos,
        seconds_per_video: generation wall time per video, after one untimed warm-up video,
        per_video: one dict per video, control videos first: prompt, asked_look (the full look, {} for
            coverage), nearest_look, psnr_db and characters_correct.
    """
    prompts = [normalize_prompt(prompt) for prompt in prompts]
    if not prompts:
        raise ValueError("Give at least one prompt to evaluate.")
    if samples_per_prompt < 1:
        raise ValueError(f"`samples_per_prompt` must be positive, got {samples_per_prompt}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    if model_looks(pipe) is None:
        raise ValueError("This model was trained without looks (its transformer config has no `looks`).")
    pipeline_video_shape(pipe)  # a size the renderer cannot draw fails before any video is made
    looks = all_looks()
    asked_looks = [looks[int(i)] for i in np.random.default_rng(seed).integers(len(looks), size=len(prompts))]
    coverage_prompts = [prompt for prompt in prompts for _ in range(samples_per_prompt)]
    left_out = [{}] * len(coverage_prompts)
    options = {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, **call_options}
    generate_videos(pipe, prompts[:1], seed, batch_size, **options)  # warm-up: the first call pays one-off costs
    control_videos, control_seconds = generate_videos(pipe, prompts, seed, batch_size, asked_looks, **options)
    coverage_videos, coverage_seconds = generate_videos(
        pipe, coverage_prompts, seed + len(prompts), batch_size, left_out, **options
    )  # (N * samples_per_prompt, F, S, S)

    per_video = [
        look_video_scores(video, prompt, asked_look) for prompt, asked_look, video in zip(
            prompts + coverage_prompts, asked_looks + left_out, np.concatenate([control_videos, coverage_videos])
        )
    ]
    control, coverage = per_video[: len(prompts)], per_video[len(prompts) :]
    coverage_shares, coverage_tv = look_coverage([result["nearest_look"] for result in coverage])
    num_characters = sum(len(prompt) for prompt in prompts)
    return {
        "num_prompts": len(prompts),
        "samples_per_prompt": samples_per_prompt,
        "control_accuracy": float(np.mean([result["nearest_look"] == result["asked_look"] for result in control])),
        "control_accuracy_per_factor": {
            factor: float(np.mean([result["nearest_look"][factor] == result["asked_look"][factor] for result in control]))
            for factor in LOOK_FACTORS
        },
        "char_accuracy": sum(sum(result["characters_correct"]) for result in control) / num_characters,
        "coverage_char_accuracy": sum(sum(result["characters_correct"]) for result in coverage)
        / (num_characters * samples_per_prompt),
        "prompt_accuracy": float(np.mean([all(result["characters_correct"]) for result in control])),
        "coverage_shares": coverage_shares,
        "coverage_tv": coverage_tv,
        "coverage_tv_max": max(coverage_tv.values()),
        "psnr_db": float(np.mean([result["psnr_db"] for result in per_video])),
        "control_psnr_db": float(np.mean([result["psnr_db"] for result in control])),
        "coverage_psnr_db": float(np.mean([result["psnr_db"] for result in coverage])),
        "seconds_per_video": (control_seconds + coverage_seconds) / len(per_video),
        "per_video": per_video,
    }


def look_video_scores(video: np.ndarray, prompt: str, asked_look: dict) -> dict:
    """One `per_video` entry of `evaluate_looks` for `video` `(F, S, S)` of `prompt`, asked for the full
    look `asked_look` ({} when every factor was left out): its characters are read in the look asked
    for, or, with none asked, in the look it was found to show."""
    found = nearest_look(video, prompt)
    result = {"prompt": prompt, "asked_look": asked_look, "nearest_look": found,
              "psnr_db": psnr(video, render_videos([prompt], found, np.shape(video))[0])}
    result["characters_correct"] = character_correct(video, prompt, asked_look or found)
    return result


def look_coverage(drawn_looks: list[dict]) -> tuple[dict, dict]:
    """`(shares, tv)` of the looks drawn: factor -> {value: share of the videos drawn with it}, and factor ->
    total-variation distance of those shares from uniform over the factor's values."""
    shares = {
        factor: {value: [look[factor] for look in drawn_looks].count(value) / len(drawn_looks) for value in values}
        for factor, values in LOOK_FACTORS.items()
    }
    tv = {factor: 0.5 * sum(abs(share - 1 / len(values)) for share in values.values()) for factor, values in shares.items()}
    return shares, tv


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
