"""Where the text strip lies in each frame: the motion the renderer draws, in one place that the
renderer and the model's scroll alignment both read.

The `crossing_frames` look factor counts frames of the default 16-frame video. A video of `num_frames`
frames stretches the crossing with it: it takes `crossing_frames_at(crossing_frames, num_frames)`
frames, `round(crossing_frames * (num_frames - 1) / 15)`, so 15, 11 and 7 stay 15, 11 and 7 at 16
frames and become 63, 46 and 29 at 64.
"""

LOOK_FRAMES = 16  # the video length the values of the `crossing_frames` factor are counted in


def crossing_frames_at(crossing_frames: int, num_frames: int) -> int:
    """Frames that a crossing of `crossing_frames` (counted at 16 frames) takes in a video of `num_frames`
    frames: scaled by `(num_frames - 1) / 15` and rounded, at least 1."""
    return max(1, round(crossing_frames * (num_frames - 1) / (LOOK_FRAMES - 1)))


def strip_left_edges(
    text_width: int, direction: str, crossing_frames: int, frame_width: int = 32, num_frames: int = 16
) -> list[int]:
    """x of the text strip's left edge in each of `num_frames` frames (pixels; negative: left of the frame).

    The strip starts just outside one edge (frame 0 shows none of it) and has just left past the other
    edge at frame `crossing_frames_at(crossing_frames, num_frames)`, moving the same distance every frame;
    it stays outside after that. The renderer draws with these edges, so the model's alignment is exact.
    """
    crossing = crossing_frames_at(crossing_frames, num_frames)
    travel = frame_width + text_width
    edges = []
    for frame in range(num_frames):
        moved = min(frame, crossing) * travel / crossing
        edges.append(round(frame_width - moved) if direction == "right_to_left" else round(moved - text_width))
    return edges
