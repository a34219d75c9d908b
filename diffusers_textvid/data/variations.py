"""The looks a video can take: how the text moves and which font weight draws it.

`VARIATIONS` names each factor and its values; the first value of every factor is the original look
(right to left, crossing in 15 frames, vertically centred, bold), so `render_text_video(text)` with no
factors is the video it always was.
"""

import itertools

VARIATIONS: dict[str, tuple] = {
    # Which way the text scrolls.
    "direction": ("right_to_left", "left_to_right"),
    # Frames the crossing takes: the text is just outside the frame at frame 0 and has just left it at this
    # frame; the frames after it are black.
    "crossing_frames": (15, 11, 7),
    # Pixels the text sits below the centre (negative: above); the glyphs have 2 free rows above and below.
    "vertical_offset": (0, -2, 2),
    # Comic Neue weight (both shipped, SIL OFL).
    "weight": ("bold", "light"),
}

DEFAULT_VARIATION = {factor: values[0] for factor, values in VARIATIONS.items()}


def check_variation(factors: dict) -> dict:
    """`factors` completed with the default of every factor left out; `ValueError` naming an unknown
    factor or value."""
    unknown = factors.keys() - VARIATIONS.keys()
    if unknown:
        raise ValueError(
            f"Unknown variation factor(s) {', '.join(map(repr, sorted(unknown)))}; known: {', '.join(VARIATIONS)}."
        )
    for factor, value in factors.items():
        if value not in VARIATIONS[factor]:
            raise ValueError(f"{factor}={value!r} is not one of {VARIATIONS[factor]}.")
    return DEFAULT_VARIATION | factors


def all_variations() -> list[dict]:
    """Every combination of the factors, one dict each, the default look first."""
    return [dict(zip(VARIATIONS, values)) for values in itertools.product(*VARIATIONS.values())]
