"""Render a prompt as a video of its text scrolling past, in any look of `VARIATIONS`.

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
from .variations import DEFAULT_VARIATION, check_variation

NUM_FRAMES = 16
FRAME_SIZE = 32
FONT_FILES = {"bold": "ComicNeue-Bold.otf", "light": "ComicNeue-Light.otf"}  # by the `weight` factor
FONT_FILE = FONT_FILES["bold"]
GLYPH_MARGIN = 2  # free pixels above and below the tallest glyph
CELL_GAP = 2  # free pixels between neighbouring glyphs

@functools.lru_cache(maxsize=None)
def font_bytes(weight: str = "bold") -> bytes:
    """The shipped font file of `weight`, read through `importlib.resources` so it works from a wheel too."""
    return importlib.resources.files(__package__).joinpath("fonts").joinpath(FONT_FILES[weight]).read_bytes()

def _glyph_boxes(font: ImageFont.FreeTypeFont) -> list[tuple[int, int, int, int]]:
    return [font.getbbox(symbol, anchor="ls") for symbol in VOCABULARY]

@functools.lru_cache(maxsize=None)
def glyph_atlas(weight: str = "bold", vertical_offset: int = 0) -> np.ndarray:
    """uint8 `(36, 32, cell_width)`: every symbol drawn white on black in its own cell, `vertical_offset`
    pixels below the centre."""
    if vertical_offset:
        centred = glyph_atlas(weight)
        shifted = np.zeros_like(centred)
        rows = slice(max(vertical_offset, 0), FRAME_SIZE + min(vertical_offset, 0))
        shifted[:, rows] = centred[:, max(-vertical_offset, 0) : FRAME_SIZE - max(vertical_offset, 0)]
        return shifted

    usable_height = FRAME_SIZE - 2 * GLYPH_MARGIN
    size = FRAME_SIZE * 2
    while True:  # largest font size whose tallest glyph still fits the usable height
        font = ImageFont.truetype(io.BytesIO(font_bytes(weight)), size)
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

def frame_offsets(
    text_width: int, direction: str = "right_to_left", crossing_frames: int = NUM_FRAMES - 1
) -> np.ndarray:
    """int `(16,)`: x position of the strip's left edge in each frame.

    The strip starts just outside one edge (frame 0 black) and has just left past the other edge at
    frame `crossing_frames`, moving by the same distance every frame; later frames stay black.
    """
    travel = FRAME_SIZE + text_width
    progress = np.minimum(np.arange(NUM_FRAMES), crossing_frames) * travel / crossing_frames  # pixels moved
    if direction == "right_to_left":
        return np.round(FRAME_SIZE - progress).astype(np.int64)
    return np.round(progress - text_width).astype(np.int64)


@functools.lru_cache(maxsize=None)
def window_columns(text_width: int, direction: str, crossing_frames: int) -> np.ndarray:
    """int `(16, 32)`: the columns of the padded strip (see `render_text_video`) each frame shows."""
    starts = FRAME_SIZE - frame_offsets(text_width, direction, crossing_frames)  # window start within the padding
    return starts[:, None] + np.arange(FRAME_SIZE)[None, :]


def render_text_video(text: str, **factors) -> np.ndarray:
    """uint8 `(16, 32, 32)`: the video of `text` scrolling past. Deterministic.

    `factors` choose the look, each a name of `VARIATIONS` with one of its values (`direction`,
    `crossing_frames`, `vertical_offset`, `weight`); a factor left out takes its first value, so with
    none the text scrolls right to left in 15 frames, centred, in bold. An unknown factor or value is
    a `ValueError`.
    """
    prompt = normalize_prompt(text)
    look = check_variation(factors) if factors else DEFAULT_VARIATION
    atlas = glyph_atlas(look["weight"], look["vertical_offset"])
    cells = atlas[[VOCABULARY.index(symbol) for symbol in prompt]]  # (N, 32, cell)
    strip = np.concatenate(list(cells), axis=1)  # (32, N * cell)
    # Pad by a frame width on both sides so every window is a plain slice.
    padded = np.pad(strip, ((0, 0), (FRAME_SIZE, FRAME_SIZE)))
    columns = window_columns(strip.shape[1], look["direction"], look["crossing_frames"])  # (16, 32)
    return np.ascontiguousarray(padded[:, columns].transpose(1, 0, 2))  # (16, 32, 32)
