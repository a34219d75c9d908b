"""What every probe of `textvid explain` feeds the transformer: true renders of prompts in given looks, noised
to one timestep (seeded), beside the renderer's truth of which symbol each video token shows."""

from dataclasses import dataclass

import numpy as np
import torch

from ..data import render_text_video
from ..data.dataset import video_to_model_space
from ..data.symbol_layout import render_symbol_map, token_symbols


@dataclass
class NoisedRenders:
    """One batch of `B` renders at the transformer's size (`sample_frames` F, `sample_size` S).

    `videos` uint8 `(B, F, S, S)`; `clean` float `(B, 1, F, S, S)` in [-1, 1] on the CPU; `token_symbols`
    bool `(B, N, L)`: whether video token n (in `patchify` order) shows ink of text token l; `mask` `(B, L)`:
    the text tokens attention may read; `model_inputs`: the transformer's arguments, on its device and dtype.
    """

    videos: np.ndarray
    clean: torch.Tensor
    token_symbols: torch.Tensor
    mask: torch.Tensor
    model_inputs: dict


def noised_renders(pipe, prompts: list[str], looks: list[dict], timestep: int, seed: int = 0) -> NoisedRenders:
    """`prompts` rendered in `looks` (full looks, or {} for the default) and noised by `pipe.scheduler` to
    `timestep` with noise seeded by `seed`."""
    transformer = pipe.transformer
    device = transformer.device
    size = {"num_frames": transformer.config.sample_frames, "frame_size": transformer.config.sample_size}
    videos = np.stack([render_text_video(prompt, **size, **look) for prompt, look in zip(prompts, looks)])
    clean = torch.stack([video_to_model_space(video) for video in videos])  # (B, 1, F, H, W)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    timesteps = torch.full((len(prompts),), timestep, dtype=torch.long)
    noisy = pipe.scheduler.add_noise(clean, noise, timesteps)
    text, mask = pipe.encode_text(prompts, device)  # (B, L, D_text), (B, L)
    maps = torch.from_numpy(np.stack([render_symbol_map(p, **size, **look) for p, look in zip(prompts, looks)]))
    return NoisedRenders(
        videos=videos,
        clean=clean,
        token_symbols=token_symbols(maps, tuple(transformer.config.patch_size), mask.shape[1]),
        mask=mask,
        model_inputs={
            "hidden_states": noisy.to(device, transformer.dtype),
            "timestep": timesteps.to(device),
            "encoder_hidden_states": text.to(transformer.dtype),
            "encoder_attention_mask": mask,
            "look_ids": transformer.encode_looks(looks) if transformer.config.get("looks") else None,
        },
    )
