"""The looks a video can take: how the text moves and which font weight draws it.

`LOOK_FACTORS` names each factor and its values; the first value of every factor is the original look
(right to left, crossing in 15 frames, vertically centred, bold), so `render_text_video(text)` with no
factors is the video it always was.

The values in frames and pixels are those of the default video, 16 frames of 32x32; a video of another
size scales them (`render.py`): `crossing_frames` by (frames - 1) / 15, `vertical_offset` by size / 32.
"""

import itertools

LOOK_FACTORS: dict[str, tuple] = {
    # Which way the text scrolls.
    "direction": ("right_to_left", "left_to_right"),
    # Frames the crossing takes (of 16): the text is just outside the frame at frame 0 and has just left it at
    # this frame; the frames after it are black.
    "crossing_frames": (15, 11, 7),
    # Pixels the text sits below the centre (negative: above), at 32x32; the glyphs have 2 free rows above and below.
    "vertical_offset": (0, -2, 2),
    # Comic Neue weight (both shipped, SIL OFL).
    "weight": ("bold", "light"),
}

DEFAULT_LOOK = {factor: values[0] for factor, values in LOOK_FACTORS.items()}


def check_look(factors: dict) -> dict:
    """`factors` completed with the default of every factor left out; `ValueError` naming an unknown
    factor or value."""
    unknown = factors.keys() - LOOK_FACTORS.keys()
    if unknown:
        raise ValueError(
            f"Unknown look factor(s) {', '.join(map(repr, sorted(unknown)))}; known: {', '.join(LOOK_FACTORS)}."
        )
    for factor, value in factors.items():
        if value not in LOOK_FACTORS[factor]:
            raise ValueError(f"{factor}={value!r} is not one of {LOOK_FACTORS[factor]}.")
    return DEFAULT_LOOK | factors


def all_looks() -> list[dict]:
    """Every combination of the factors, one dict each, the default look first."""
    return [dict(zip(LOOK_FACTORS, values)) for values in itertools.product(*LOOK_FACTORS.values())]
