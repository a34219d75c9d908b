"""Where each symbol of a prompt is drawn in its video: labels the renderer can emit beside the pixels.

Training may use them (a loss on where the model's cross-attention looks) and `textvid explain`
scores the model against them; no model reads them, so a network never needs them to sample.
"""

import numpy as np
import torch

from .render import FRAME_SIZE, strip_layout, text_windows

INK_LEVEL = 64  # a pixel at least this bright (of 255) shows its symbol's ink


def render_symbol_map(text: str, **factors) -> np.ndarray:
    """int16 `(16, 32, 32)`: at every pixel of `render_text_video(text, **factors)`, the index in the
    prompt of the symbol whose ink it shows (0 for the first symbol, which is text token 0), or -1
    where it shows no ink. Cut from the same strip as the video, so both agree by construction."""
    windows, starts = text_windows(text, **factors)
    video = windows[starts]  # (16, 32, 32) uint8
    prompt, _, cell_width, margin = strip_layout(text, factors)
    strip_column = starts[:, None] + np.arange(FRAME_SIZE)[None, :]  # (16, 32): column of the padded strip
    cell = (strip_column - margin) // cell_width  # (16, 32): symbol index, out of range on the margins
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
