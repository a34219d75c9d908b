"""`explain`: every view of what a model learned, for one prompt, as arrays, figures and `explain.json`."""

import json
from pathlib import Path

import numpy as np

from ..data.looks import check_look
from ..data.prompts import MAX_PROMPT_LENGTH, MIN_PROMPT_LENGTH
from ..data.splits import validation_prompts
from .attention import asked_looks, cross_attention_alignment, prompt_cross_attention, self_attention_motion
from .denoising import denoising_trajectory
from .embeddings import pooled_prompt_text, text_position_similarity, timestep_response, video_position_similarity
from .mlp import selective_neurons, symbol_probe, token_activations

ALIGNMENT_TIMESTEP = 500  # the noise level of `cross_attention_alignment` in explain.json
RESPONSE_TIMESTEPS = np.arange(0, 1000, 25)  # where the timestep's effect on each block is read


def full_look(pipe, look: dict | None) -> dict:
    """The look the renders of the explanation take: for a model with looks, `look` completed with the
    default of every factor left out; for a model without, the default look ({}), and `look` must be empty."""
    if pipe.transformer.config.get("looks"):
        return check_look(look or {})
    if look:
        raise ValueError("This model has no looks: leave the look out.")
    return {}


def explain_arrays(pipe, prompt: str, num_inference_steps: int = 25, seed: int = 0,
                   timesteps: tuple[int, ...] = (900, 500, 100), look: dict | None = None,
                   probe_prompts: int = 64) -> dict:
    """Everything `explain` draws, as arrays, for `prompt` in `look` (see `full_look`).

    Keys: `denoising` (`denoising.denoising_trajectory`), `video_positions` (`video_position_similarity`,
    with the table of the prompt's length where the model has one per text length),
    `video_positions_by_length` (prompt length in symbols -> frame-distance curve; only such models), `text_positions` `(L, L)`, `timestep`
    (`timestep_response`), `cross_attention` (`prompt_cross_attention` at `timesteps`), `alignment`
    (`cross_attention_alignment` of the prompt's render at t=500), `self_attention`
    (`self_attention_motion` of the prompt at t=500), `neurons` (`selective_neurons`) and `probe_accuracy`
    (`symbol_probe`): the last two from the first `probe_prompts` validation prompts in random looks.
    """
    if not 0 <= min(timesteps) <= max(timesteps) < pipe.scheduler.config.num_train_timesteps:
        raise ValueError(f"Timesteps must lie in 0 to {pipe.scheduler.config.num_train_timesteps - 1}, got {list(timesteps)}.")
    prompt = pipe.normalize_prompt(prompt)
    look = full_look(pipe, look)
    transformer = pipe.transformer
    has_length_tables = transformer.length_position is not None
    by_length = None
    if has_length_tables:
        by_length = {length: video_position_similarity(transformer, length + 1)["by_frame_distance"]
                     for length in range(MIN_PROMPT_LENGTH, MAX_PROMPT_LENGTH + 1)}
    probe_set = list(validation_prompts()[:probe_prompts])
    activations = token_activations(pipe, probe_set, asked_looks(pipe, len(probe_set), seed), seed=seed)
    return {
        "prompt": prompt,
        "look": look,
        "denoising": denoising_trajectory(pipe, prompt, num_inference_steps, seed, look or None),
        "video_positions": video_position_similarity(transformer, len(prompt) + 1 if has_length_tables else None),
        "video_positions_by_length": by_length,
        "text_positions": text_position_similarity(pipe.text_encoder),
        "timestep": timestep_response(transformer, pooled_prompt_text(pipe, prompt), RESPONSE_TIMESTEPS),
        "cross_attention": {"timesteps": list(timesteps), **prompt_cross_attention(pipe, prompt, look, list(timesteps), seed)},
        "alignment": cross_attention_alignment(pipe, [prompt], [look], ALIGNMENT_TIMESTEP, seed),
        "self_attention": self_attention_motion(pipe, [prompt], [look], ALIGNMENT_TIMESTEP, seed),
        "neurons": selective_neurons(transformer, activations),
        "probe_accuracy": symbol_probe(activations, seed=seed),
    }


def explain(pipe, prompt: str, folder: str | Path, num_inference_steps: int = 25, seed: int = 0,
            timesteps: tuple[int, ...] = (900, 500, 100), look: dict | None = None, probe_prompts: int = 64) -> dict:
    """Write the figures of `explain_arrays` as PNGs into `folder`, and their numbers as
    `folder/explain.json`; return those numbers (what the JSON holds)."""
    from .figures import draw_all  # matplotlib is an optional extra; the arrays above do without it

    arrays = explain_arrays(pipe, prompt, num_inference_steps, seed, timesteps, look, probe_prompts)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    figures = draw_all(arrays, folder)
    summary = {
        "prompt": arrays["prompt"],
        "look": arrays["look"],
        "seed": seed,
        "num_inference_steps": num_inference_steps,
        **arrays["alignment"],
        "alignment_timestep": ALIGNMENT_TIMESTEP,
        "video_position_similarity_by_frame_distance": arrays["video_positions"]["by_frame_distance"],
        "video_position_similarity_by_frame_distance_per_text_length": arrays["video_positions_by_length"],
        "self_attention_follows_symbol_by_layer": arrays["self_attention"]["follows_symbol_by_layer"],
        "self_attention_follows_symbol_chance": arrays["self_attention"]["chance"],
        "symbol_probe_accuracy_by_block": arrays["probe_accuracy"],
        "symbol_probe_prompts": probe_prompts,
        "cross_attention_timesteps": arrays["cross_attention"]["timesteps"],
        "figures": figures,
    }
    (folder / "explain.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
