"""Render a prompt as a video of its text scrolling from right to left.

The font is drawn once into a glyph atlas: one fixed-width cell per symbol, glyphs centred in their
cell and sharing one baseline. A video is then pure array work: lay the cells side by side into a
strip and cut one 32-pixel window per frame out of it.
"""

import functools
import io
import importlib.resources

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .prompts import VOCABULARY, normalize_prompt

NUM_FRAMES = 16
FRAME_SIZE = 32
FONT_FILE = "ComicNeue-Bold.otf"
GLYPH_MARGIN = 2  # free pixels above and below the tallest glyph
CELL_GAP = 2  # free pixels between neighbouring glyphs

@functools.lru_cache(maxsize=1)
def font_bytes() -> bytes:
    """The shipped font file, read through `importlib.resources` so it works from a wheel too."""
    return importlib.resources.files(__package__).joinpath("fonts").joinpath(FONT_FILE).read_bytes()

def _glyph_boxes(font: ImageFont.FreeTypeFont) -> list[tuple[int, int, int, int]]:
    return [font.getbbox(symbol, anchor="ls") for symbol in VOCABULARY]

@functools.lru_cache(maxsize=1)
def glyph_atlas() -> np.ndarray:
    """uint8 `(36, 32, cell_width)`: every symbol drawn white on black in its own cell."""

    usable_height = FRAME_SIZE - 2 * GLYPH_MARGIN
    size = FRAME_SIZE * 2
    while True:  # largest font size whose tallest glyph still fits the usable height
        font = ImageFont.truetype(io.BytesIO(font_bytes()), size)
        boxes = _glyph_boxes(font)
        top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
        if bottom - top <= usable_height:
            break
        size -= 1
    cell_width = max(b[2] - b[0] for b in boxes) + CELL_GAP
    baseline = (FRAME_SIZE - (bottom - top)) // 2 - top  # centres the union of all glyph boxes vertically
    atlas = np.zeros((len(VOCABULARY), FRAME_SIZE, cell_width), dtype=np.uint8)
    for index, (symbol, box) in enumerate(zip(VOCABULARY, boxes)):
        cell = Image.new("L", (cell_width, FRAME_SIZE), 0)
        left = (cell_width - (box[2] - box[0])) // 2 - box[0]
        ImageDraw.Draw(cell).text((left, baseline), symbol, fill=255, font=font, anchor="ls")
        atlas[index] = np.asarray(cell)
    return atlas

def frame_offsets(text_width: int) -> np.ndarray:
    """int `(16,)`: x position of the strip's left edge in each frame.

    The strip starts just past the right edge (frame 0 black) and ends just past the left edge
    (last frame black), moving by the same distance every frame.
    """
    travel = FRAME_SIZE + text_width
    return np.round(FRAME_SIZE - np.arange(NUM_FRAMES) * travel / (NUM_FRAMES - 1)).astype(np.int64)

def render_text_video(text: str) -> np.ndarray:
    """uint8 `(16, 32, 32)`: the video of `text` scrolling past, right to left. Deterministic."""
    prompt = normalize_prompt(text)
    atlas = glyph_atlas()
    cells = atlas[[VOCABULARY.index(symbol) for symbol in prompt]]  # (N, 32, cell)
    strip = np.concatenate(list(cells), axis=1)  # (32, N * cell)
    text_width = strip.shape[1]
    # Pad by a frame width on both sides so every window is a plain slice.
    padded = np.pad(strip, ((0, 0), (FRAME_SIZE, FRAME_SIZE)))
    starts = FRAME_SIZE - frame_offsets(text_width)  # window start within `padded`
    columns = starts[:, None] + np.arange(FRAME_SIZE)[None, :]  # (16, 32)
    return np.ascontiguousarray(padded[:, columns].transpose(1, 0, 2))  # (16, 32, 32)
