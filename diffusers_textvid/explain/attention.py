"""What the network's attention reads: cross-attention against where the renderer drew each symbol, and
self-attention across frames.

Everything runs one transformer call on true renders noised to a chosen timestep, with an
`AttentionRecorder` attached (forward hooks: the call's output is unchanged).
"""

import numpy as np
import torch

from ..data import all_looks
from ..models.attention_capture import AttentionRecorder
from .noised_renders import noised_renders


def asked_looks(pipe, count: int, seed: int = 0) -> list[dict]:
    """`count` full looks drawn at random (seeded) for a model with looks, else `count` default looks ({})."""
    if not pipe.transformer.config.get("looks"):
        return [{}] * count
    looks = all_looks()
    return [looks[int(i)] for i in np.random.default_rng(seed).integers(len(looks), size=count)]


@torch.no_grad()
def record_attention(pipe, prompts: list[str], looks: list[dict], timestep: int, kind: str = "cross",
                     seed: int = 0) -> dict:
    """Run the transformer once on the renders of `prompts` in `looks` (full looks, or {} for the default),
    noised to `timestep` with noise seeded by `seed`, and record every block's attention of `kind`.

    Returns a dict with `probabilities`: block -> float32 `(B, heads, N, L)` array, `token_symbols` bool
    `(B, N, L)` (which symbol each video token shows, by the renderer), `attended` bool `(B, L)` (the
    text tokens attention may read), `grid` (frames, rows, columns of tokens) and `videos` uint8
    `(B, F, S, S)`, at the transformer's size (`sample_frames`, `sample_size`).
    """
    transformer = pipe.transformer
    renders = noised_renders(pipe, prompts, looks, timestep, seed)
    with AttentionRecorder(transformer, kind) as recorder:
        transformer(**renders.model_inputs)
    patch = tuple(transformer.config.patch_size)
    grid = tuple(length // p for length, p in zip(renders.videos.shape[1:], patch))
    return {
        "probabilities": {block: p.float().cpu().numpy() for block, p in recorder.probabilities.items()},
        "token_symbols": renders.token_symbols.numpy(),
        "attended": renders.mask.bool().cpu().numpy(),
        "grid": grid,
        "videos": renders.videos,
    }


def alignment_scores(probabilities: dict, symbols: np.ndarray, attended: np.ndarray) -> dict:
    """How often each block's cross-attention (heads averaged) puts its maximum on a symbol the token shows.

    `probabilities`: block -> `(B, heads, N, L)`; `symbols` bool `(B, N, L)`; `attended` bool `(B, L)`.
    Only video tokens that show ink count. Returns `cross_attention_alignment_by_layer` (one share per
    block), `cross_attention_alignment` (the best block's share), `cross_attention_best_layer` and
    `cross_attention_chance`: what attention spread evenly over the attended text tokens would score
    (the share of attended tokens that are a symbol the video token shows, averaged)."""
    inked = symbols.any(axis=2)  # (B, N)
    if not inked.any():
        raise ValueError("No video token shows ink: nothing to align.")
    by_layer = []
    for block in sorted(probabilities):
        strongest = probabilities[block].mean(axis=1).argmax(axis=2)  # (B, N)
        hit = np.take_along_axis(symbols, strongest[:, :, None], axis=2)[:, :, 0]  # (B, N)
        by_layer.append(float(hit[inked].mean()))
    chance = symbols.sum(axis=2) / attended.sum(axis=1, keepdims=True)  # (B, N)
    best = int(np.argmax(by_layer))
    return {
        "cross_attention_alignment": by_layer[best],
        "cross_attention_best_layer": sorted(probabilities)[best],
        "cross_attention_alignment_by_layer": by_layer,
        "cross_attention_chance": float(chance[inked].mean()),
    }


def cross_attention_alignment(pipe, prompts: list[str], looks: list[dict] | None = None, timestep: int = 500,
                              seed: int = 0) -> dict:
    """`alignment_scores` of `pipe`'s transformer on the renders of `prompts` (in `looks`; by default random
    full looks for a model with looks, the default look otherwise) noised to `timestep`."""
    looks = asked_looks(pipe, len(prompts), seed) if looks is None else looks
    recorded = record_attention(pipe, prompts, looks, timestep, "cross", seed)
    return alignment_scores(recorded["probabilities"], recorded["token_symbols"], recorded["attended"])


def prompt_cross_attention(pipe, prompt: str, look: dict, timesteps: list[int], seed: int = 0) -> dict:
    """For each of `timesteps`, which text token every video token of `prompt`'s render reads most, block by
    block (heads averaged): `reads` long `(T, num_layers, F', H', W')`, beside `token_symbols` bool
    `(F', H', W', L)` (the renderer's truth), `tokens` (the text tokens' names), `grid`, `patch_size` and
    `video`."""
    reads = []
    for timestep in timesteps:
        recorded = record_attention(pipe, [prompt], [look], timestep, "cross", seed)
        grid = recorded["grid"]
        reads.append(np.stack([recorded["probabilities"][block][0].mean(axis=0).argmax(axis=1).reshape(grid)
                               for block in sorted(recorded["probabilities"])]))
    length = int(recorded["attended"][0].sum())
    return {
        "reads": np.stack(reads),
        "token_symbols": recorded["token_symbols"][0].reshape(*grid, -1),
        "tokens": list(pipe.normalize_prompt(prompt)) + ["[END]"] + ["[PAD]"] * (recorded["attended"].shape[1] - length),
        "grid": grid,
        "patch_size": tuple(pipe.transformer.config.patch_size),
        "video": recorded["videos"][0],
    }


def self_attention_motion(pipe, prompts: list[str], looks: list[dict], timestep: int = 500, seed: int = 0) -> dict:
    """Does self-attention follow the motion? For video tokens that show ink, the share of the attention they
    pay to tokens of other frames that lands on tokens showing one of the same symbols (heads averaged),
    per block, beside `chance`: the share of those other-frame tokens that show one of them.

    Returns `follows_symbol_by_layer`, `chance`, and `example`: for the first prompt, the first inked
    token of its middle frame and each block's attention over (frames, rows, columns) of tokens."""
    recorded = record_attention(pipe, prompts, looks, timestep, "self", seed)
    symbols = recorded["token_symbols"].astype(np.float32)  # (B, N, L)
    frames, rows, columns = recorded["grid"]
    frame_of = np.repeat(np.arange(frames), rows * columns)  # (N,)
    other_frame = frame_of[:, None] != frame_of[None, :]  # (N, N)
    shares_symbol = np.einsum("bnl,bml->bnm", symbols, symbols) > 0  # (B, N, N)
    inked = symbols.any(axis=2)  # (B, N)
    follows = []
    for block in sorted(recorded["probabilities"]):
        weights = recorded["probabilities"][block].mean(axis=1) * other_frame  # (B, N, N)
        on_symbol = (weights * shares_symbol).sum(axis=2) / np.maximum(weights.sum(axis=2), 1e-12)
        follows.append(float(on_symbol[inked].mean()))
    chance = (shares_symbol & other_frame).sum(axis=2) / other_frame.sum(axis=1)
    middle = np.flatnonzero(inked[0] & (frame_of == frames // 2))
    token = int(middle[0]) if len(middle) else int(np.flatnonzero(inked[0])[0])
    return {
        "follows_symbol_by_layer": follows,
        "chance": float(chance[inked].mean()),
        "example": {
            "token": token,
            "frame": int(frame_of[token]),
            "attention": np.stack([recorded["probabilities"][block][0].mean(axis=0)[token].reshape(frames, rows, columns)
                                   for block in sorted(recorded["probabilities"])]),
            "token_symbols": recorded["token_symbols"][0].reshape(frames, rows, columns, -1),
            "video": recorded["videos"][0],
        },
    }
