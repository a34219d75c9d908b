"""Render a prompt as a video of its text scrolling past, in any look of `LOOK_FACTORS`.

The font is drawn once into a glyph atlas: one fixed-width cell per symbol, glyphs centred in their
cell and sharing one baseline. A video is then pure array work: lay the cells side by side into a
strip, with blank cells on both ends, and cut one 32-pixel window per frame out of it. A video is
only 16 KB, so every step is one NumPy call on cached tables: per-call overhead is what costs.
"""

import functools
import io
import importlib.resources
import numbers

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .looks import DEFAULT_LOOK, LOOK_FACTORS, check_look
from .prompts import VOCABULARY, normalize_prompt
from .scrolling import strip_left_edges

NUM_FRAMES = 16
FRAME_SIZE = 32
FONT_FILES = {"bold": "ComicNeue-Bold.otf", "light": "ComicNeue-Light.otf"}  # by the `weight` factor
FONT_FILE = FONT_FILES["bold"]
GLYPH_MARGIN = 2  # free pixels above and below the tallest glyph
CELL_GAP = 2  # free pixels between neighbouring glyphs
BLANK = len(VOCABULARY)  # index of the blank cell `strip_atlas` adds after the symbols
ATLAS_INDEX = {symbol: index for index, symbol in enumerate(VOCABULARY)}  # symbol -> its cell in the atlas

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
    """int `(16,)`: x position of the strip's left edge in each frame (`strip_left_edges`, which the
    model's scroll alignment reads too, so both agree on where every symbol is)."""
    return np.array(strip_left_edges(text_width, direction, crossing_frames, FRAME_SIZE, NUM_FRAMES), dtype=np.int64)


@functools.lru_cache(maxsize=None)
def strip_atlas(weight: str = "bold", vertical_offset: int = 0) -> np.ndarray:
    """uint8 `(32, 37, cell_width)`: `glyph_atlas` plus a blank cell (index `BLANK`), rows first, so that
    `strip_atlas(...).take(indices, axis=1).reshape(32, -1)` is those cells side by side."""
    atlas = glyph_atlas(weight, vertical_offset)
    return np.ascontiguousarray(np.concatenate([atlas, np.zeros_like(atlas[:1])]).transpose(1, 0, 2))


@functools.lru_cache(maxsize=None)
def window_starts(text_width: int, direction: str, crossing_frames: int, margin: int) -> np.ndarray:
    """int `(16,)`: the column where each frame's window starts in the strip padded by `margin` black
    columns on both sides (`margin >= 32`, so every window lies inside it)."""
    return margin - frame_offsets(text_width, direction, crossing_frames)


def frame_windows(padded: np.ndarray) -> np.ndarray:
    """View `(width - 31, 32, 32)` of the C-contiguous `padded` `(32, width)`: entry `s` is `padded[:, s : s + 32]`."""
    column, row = padded.strides[1], padded.strides[0]
    shape = (padded.shape[1] - FRAME_SIZE + 1, FRAME_SIZE, FRAME_SIZE)
    return np.ndarray(shape, padded.dtype, padded, strides=(column, row, column))


def check_drawable_look(factors: dict) -> dict:
    """`check_look` of `factors`, and `vertical_offset` a whole number of pixels: the atlas is shifted by
    array slicing, which -2.0 (equal to -2, so a known value) cannot do."""
    look = check_look(factors)
    offset = look["vertical_offset"]
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        allowed = ", ".join(map(str, LOOK_FACTORS["vertical_offset"]))
        raise TypeError(
            f"vertical_offset must be one of the ints {allowed} (pixels below the centre), got {offset!r} "
            f"({type(offset).__name__}): the renderer shifts the glyphs by whole rows."
        )
    return look


def strip_layout(text: str, factors: dict) -> tuple[str, dict, int, int]:
    """`(prompt, look, cell_width, margin)`: the normalised prompt, the full look, the width of a symbol's
    cell and the black margin (whole blank cells, at least a frame wide) on both ends of its strip."""
    prompt = normalize_prompt(text)
    look = check_drawable_look(factors) if factors else DEFAULT_LOOK
    cell_width = strip_atlas(look["weight"], look["vertical_offset"]).shape[2]
    return prompt, look, cell_width, -(-FRAME_SIZE // cell_width) * cell_width


def text_windows(text: str, **factors) -> tuple[np.ndarray, np.ndarray]:
    """`(windows, starts)`: `windows` `(S, 32, 32)` uint8 is every 32-column window of `text`'s strip in
    the look `factors` (as `render_text_video`), padded with black on both sides; `starts` int `(16,)`
    is the window each frame shows, so `windows[starts]` is the video and `windows[starts + 1]` the
    same frames one pixel further along the strip."""
    prompt, look, cell_width, margin = strip_layout(text, factors)
    blanks = [BLANK] * (margin // cell_width)
    cells = blanks + [ATLAS_INDEX[symbol] for symbol in prompt] + blanks
    padded = strip_atlas(look["weight"], look["vertical_offset"]).take(cells, axis=1).reshape(FRAME_SIZE, -1)
    starts = window_starts(len(prompt) * cell_width, look["direction"], look["crossing_frames"], margin)
    return frame_windows(padded), starts


def render_text_video(text: str, **factors) -> np.ndarray:
    """uint8 `(16, 32, 32)`: the video of `text` scrolling past. Deterministic.

    `factors` choose the look, each a name of `LOOK_FACTORS` with one of its values (`direction`,
    `crossing_frames`, `vertical_offset`, `weight`); a factor left out takes its first value, so with
    none the text scrolls right to left in 15 frames, centred, in bold. An unknown factor or value is
    a `ValueError`, a `vertical_offset` that is not an int (-2.0) a `TypeError`.
    """
    windows, starts = text_windows(text, **factors)
    return windows[starts]  # (16, 32, 32), a C-contiguous copy
