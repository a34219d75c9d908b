"""Where the text strip lies in each frame: the motion the renderer draws, in one place that the
renderer and the model's scroll alignment both read."""


def strip_left_edges(
    text_width: int, direction: str, crossing_frames: int, frame_width: int = 32, num_frames: int = 16
) -> list[int]:
    """x of the text strip's left edge in each frame (pixels; negative: left of the frame).

    The strip starts just outside one edge (frame 0 shows none of it) and has just left past the other
    edge at frame `crossing_frames`, moving the same distance every frame; it stays outside after that.
    The renderer draws with these edges, so the model's alignment is exact.
    """
    travel = frame_width + text_width
    edges = []
    for frame in range(num_frames):
        moved = min(frame, crossing_frames) * travel / crossing_frames
        edges.append(round(frame_width - moved) if direction == "right_to_left" else round(moved - text_width))
    return edges
