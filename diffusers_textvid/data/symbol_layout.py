"""Where each symbol of a prompt is drawn in its video: labels the renderer can emit beside the pixels.

Training may use them (a loss on where the model's cross-attention looks) and `textvid explain`
scores the model against them; no model reads them, so a network never needs them to sample.
"""

import numpy as np
import torch

from .render import FRAME_SIZE, NUM_FRAMES, strip_layout, text_windows

INK_LEVEL = 64  # a pixel at least this bright (of 255) shows its symbol's ink


def render_symbol_map(
    text: str, *, num_frames: int = NUM_FRAMES, frame_size: int = FRAME_SIZE, **factors
) -> np.ndarray:
    """int16 `(F, S, S)`: at every pixel of `render_text_video(text, num_frames=F, frame_size=S, **factors)`,
    the index in the prompt of the symbol whose ink it shows (0 for the first symbol, which is text token 0),
    or -1 where it shows no ink. Cut from the same strip as the video, so both agree by construction."""
    windows, starts = text_windows(text, factors, num_frames, frame_size)
    video, frame_size = windows[starts], windows.shape[1]  # (F, S, S) uint8; the size as a checked int
    prompt, _, atlas, margin = strip_layout(text, factors, frame_size)
    cell_width = atlas.shape[2]
    strip_column = starts[:, None] + np.arange(frame_size)[None, :]  # (F, S): column of the padded strip
    cell = (strip_column - margin) // cell_width  # (F, S): symbol index, out of range on the margins
    cell = np.where((cell >= 0) & (cell < len(prompt)), cell, -1)
    return np.where(video >= INK_LEVEL, cell[:, None, :], -1).astype(np.int16)  # a symbol fills its column


def token_symbols(symbol_maps: torch.Tensor, patch_size: tuple[int, int, int], num_text_tokens: int) -> torch.Tensor:
    """bool `(B, N, L)`: whether video token n (in `patchify` order) shows ink of the symbol that is text
    token l, from `symbol_maps` `(B, F, H, W)` (`render_symbol_map`, -1 for no ink). `L` is
    `num_text_tokens`, the padded text length; symbols past it are left out."""
    b, f, h, w = symbol_maps.shape
    pt, ph, pw = patch_size
    one_hot = torch.nn.functional.one_hot(symbol_maps.long() + 1, num_text_tokens + 1)[..., 1:]  # (B, F, H, W, L)
    patches = one_hot.reshape(b, f // pt, pt, h // ph, ph, w // pw, pw, num_text_tokens)
    return patches.amax(dim=(2, 4, 6)).reshape(b, -1, num_text_tokens).bool()
