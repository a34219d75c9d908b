"""Render a prompt as a video of its text scrolling past, in any look of `LOOK_FACTORS`, at any size.

The font is drawn once into a glyph atlas: one fixed-width cell per symbol, glyphs centred in their
cell and sharing one baseline. A video is then pure array work: lay the cells side by side into a
strip, with blank cells on both ends, and cut one frame-wide window per frame out of it. A video is
only 16 KB, so every step is one NumPy call on cached tables: per-call overhead is what costs.

Size: `num_frames` frames of `frame_size` x `frame_size` pixels, by default 16 of 32x32. The look
factors are defined at that default size and scale with the video:
- the atlas is drawn for the frame: the font as large as lets the tallest glyph fit between margins of
  `GLYPH_MARGIN` pixels, with `CELL_GAP` pixels between glyphs, both scaled by `frame_size / 32`
  (`scaled_pixels`), so glyphs grow with the frame;
- `vertical_offset` (pixels at 32) scales by `frame_size / 32` too, so it never exceeds the margin;
- `crossing_frames` (frames at 16) scales by `(num_frames - 1) / 15` (`scrolling.crossing_frames_at`):
  at 64 frames the crossings take 63, 46 and 29 frames.
Every scaled value is rounded (half to even), and at 16x32x32 each is its own value, so the default
videos are the ones this renderer always drew.
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

NUM_FRAMES = 16  # the default video, the size the look factors are defined at
FRAME_SIZE = 32
# The fewest frames in which every look draws a video of its own: the fastest crossing (7 of 16 frames, scaled)
# takes 3 frames, so 2 show the text and which way it moves (in 2, its one frame is the same either way).
MIN_NUM_FRAMES = 7
# Half the default frame: glyphs 14 pixels tall, margins and vertical offsets of 1 pixel. A choice, not where
# drawing fails: smaller glyphs still differ, but their strokes blur (the light weight's fade out below 6 pixels).
MIN_FRAME_SIZE = 16
FONT_FILES = {"bold": "ComicNeue-Bold.otf", "light": "ComicNeue-Light.otf"}  # by the `weight` factor
FONT_FILE = FONT_FILES["bold"]
GLYPH_MARGIN = 2  # free pixels above and below the tallest glyph, at FRAME_SIZE
CELL_GAP = 2  # free pixels between neighbouring glyphs, at FRAME_SIZE
BLANK = len(VOCABULARY)  # index of the blank cell `strip_atlas` adds after the symbols
ATLAS_INDEX = {symbol: index for index, symbol in enumerate(VOCABULARY)}  # symbol -> its cell in the atlas


def check_video_size(num_frames: int, frame_size: int) -> tuple[int, int]:
    """`(num_frames, frame_size)` as ints; `ValueError` naming the problem for a size the renderer cannot
    draw: not an int, fewer than `MIN_NUM_FRAMES` frames, or frames smaller than `MIN_FRAME_SIZE`."""
    if type(num_frames) is int and type(frame_size) is int:  # every render asks: the common case, fast
        if num_frames >= MIN_NUM_FRAMES and frame_size >= MIN_FRAME_SIZE:
            return num_frames, frame_size
    for name, value, lowest, why in (
        ("num_frames", num_frames, MIN_NUM_FRAMES, "for the fastest crossing to show which way it moves"),
        ("frame_size", frame_size, MIN_FRAME_SIZE, "smaller frames are too small to draw the glyphs"),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
        if value < lowest:
            raise ValueError(f"{name} must be at least {lowest} ({why}), got {value}.")
    return int(num_frames), int(frame_size)


def scaled_pixels(pixels: int, frame_size: int) -> int:
    """`pixels` of the default 32-pixel frame, scaled to a frame of `frame_size` pixels and rounded."""
    return round(pixels * frame_size / FRAME_SIZE)


@functools.lru_cache(maxsize=None)
def font_bytes(weight: str = "bold") -> bytes:
    """The shipped font file of `weight`, read through `importlib.resources` so it works from a wheel too."""
    return importlib.resources.files(__package__).joinpath("fonts").joinpath(FONT_FILES[weight]).read_bytes()


def _glyph_boxes(font: ImageFont.FreeTypeFont) -> list[tuple[int, int, int, int]]:
    return [font.getbbox(symbol, anchor="ls") for symbol in VOCABULARY]


@functools.lru_cache(maxsize=None)
def glyph_atlas(weight: str = "bold", vertical_offset: int = 0, frame_size: int = FRAME_SIZE) -> np.ndarray:
    """uint8 `(36, S, cell_width)`, S = `frame_size`: every symbol drawn white on black in its own cell,
    `vertical_offset` pixels (at 32, scaled to S) below the centre."""
    if vertical_offset:
        centred = glyph_atlas(weight, 0, frame_size)
        shift = scaled_pixels(vertical_offset, frame_size)
        shifted = np.zeros_like(centred)
        rows = slice(max(shift, 0), frame_size + min(shift, 0))
        shifted[:, rows] = centred[:, max(-shift, 0) : frame_size - max(shift, 0)]
        return shifted

    usable_height = frame_size - 2 * scaled_pixels(GLYPH_MARGIN, frame_size)
    size = frame_size * 2
    while True:  # largest font size whose tallest glyph still fits the usable height
        font = ImageFont.truetype(io.BytesIO(font_bytes(weight)), size)
        boxes = _glyph_boxes(font)
        top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
        if bottom - top <= usable_height:
            break
        size -= 1
    cell_width = max(b[2] - b[0] for b in boxes) + scaled_pixels(CELL_GAP, frame_size)
    baseline = (frame_size - (bottom - top)) // 2 - top  # centres the union of all glyph boxes vertically
    atlas = np.zeros((len(VOCABULARY), frame_size, cell_width), dtype=np.uint8)
    for index, (symbol, box) in enumerate(zip(VOCABULARY, boxes)):
        cell = Image.new("L", (cell_width, frame_size), 0)
        left = (cell_width - (box[2] - box[0])) // 2 - box[0]
        ImageDraw.Draw(cell).text((left, baseline), symbol, fill=255, font=font, anchor="ls")
        atlas[index] = np.asarray(cell)
    return atlas


@functools.lru_cache(maxsize=None)
def strip_atlas(weight: str = "bold", vertical_offset: int = 0, frame_size: int = FRAME_SIZE) -> np.ndarray:
    """uint8 `(S, 37, cell_width)`: `glyph_atlas` plus a blank cell (index `BLANK`), rows first, so that
    `strip_atlas(...).take(indices, axis=1).reshape(S, -1)` is those cells side by side."""
    atlas = glyph_atlas(weight, vertical_offset, frame_size)
    return np.ascontiguousarray(np.concatenate([atlas, np.zeros_like(atlas[:1])]).transpose(1, 0, 2))


@functools.lru_cache(maxsize=None)
def window_starts(
    text_width: int, direction: str, crossing_frames: int, margin: int, frame_size: int, num_frames: int
) -> np.ndarray:
    """int `(F,)`: the column where each frame's window starts in the strip padded by `margin` black
    columns on both sides (`margin >= frame_size`, so every window lies inside it), from the x position
    of the strip's left edge in each frame (`strip_left_edges`, which the model's scroll alignment reads
    too, so both agree on where every symbol is)."""
    edges = strip_left_edges(text_width, direction, crossing_frames, frame_size, num_frames)
    return margin - np.array(edges, dtype=np.int64)


def frame_windows(padded: np.ndarray) -> np.ndarray:
    """View `(width - S + 1, S, S)` of the C-contiguous `padded` `(S, width)`: entry `s` is `padded[:, s : s + S]`."""
    frame_size = padded.shape[0]
    column, row = padded.strides[1], padded.strides[0]
    shape = (padded.shape[1] - frame_size + 1, frame_size, frame_size)
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


def strip_layout(text: str, factors: dict, frame_size: int = FRAME_SIZE) -> tuple[str, dict, np.ndarray, int]:
    """`(prompt, look, atlas, margin)`: the normalised prompt, the full look, its `strip_atlas` `(S, 37,
    cell_width)` and the black margin (whole blank cells, at least a frame wide) on both ends of its strip,
    for frames of `frame_size` pixels (an int, checked by the caller)."""
    prompt = normalize_prompt(text)
    look = check_drawable_look(factors) if factors else DEFAULT_LOOK
    atlas = strip_atlas(look["weight"], look["vertical_offset"], frame_size)
    cell_width = atlas.shape[2]
    return prompt, look, atlas, -(-frame_size // cell_width) * cell_width


def text_windows(
    text: str, factors: dict, num_frames: int = NUM_FRAMES, frame_size: int = FRAME_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """`(windows, starts)`: `windows` `(W, S, S)` uint8 is every S-column window of `text`'s strip in the
    look `factors` (a dict) at the size `num_frames` x S x S (as `render_text_video`), padded with black on
    both sides; `starts` int `(F,)` is the window each frame shows, so `windows[starts]` is the video and
    `windows[starts + 1]` the same frames one pixel further along the strip."""
    num_frames, frame_size = check_video_size(num_frames, frame_size)
    prompt, look, atlas, margin = strip_layout(text, factors, frame_size)
    cell_width = atlas.shape[2]
    blanks = [BLANK] * (margin // cell_width)
    cells = blanks + [ATLAS_INDEX[symbol] for symbol in prompt] + blanks
    padded = atlas.take(cells, axis=1).reshape(frame_size, -1)
    starts = window_starts(
        len(prompt) * cell_width, look["direction"], look["crossing_frames"], margin, frame_size, num_frames
    )
    return frame_windows(padded), starts


def render_text_video(
    text: str, *, num_frames: int = NUM_FRAMES, frame_size: int = FRAME_SIZE, **factors
) -> np.ndarray:
    """uint8 `(F, S, S)`, F = `num_frames`, S = `frame_size`: the video of `text` scrolling past. Deterministic.

    `factors` choose the look, each a name of `LOOK_FACTORS` with one of its values (`direction`,
    `crossing_frames`, `vertical_offset`, `weight`); a factor left out takes its first value, so with
    none the text scrolls right to left in 15 frames (of 16), centred, in bold. The values are those of
    the default 16x32x32 video, scaled to the size asked for (see the module docstring). An unknown
    factor or value is a `ValueError`, a `vertical_offset` that is not an int (-2.0) a `TypeError`, a
    size the renderer cannot draw (`check_video_size`) a `ValueError`.
    """
    windows, starts = text_windows(text, factors, num_frames, frame_size)
    return windows[starts]  # (F, S, S), a C-contiguous copy
