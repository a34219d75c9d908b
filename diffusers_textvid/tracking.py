"""Experiment tracking for the training scripts: check `--report_to` before training, log validation videos.

TensorBoard's `add_video` (in `torch.utils.tensorboard`) encodes the GIF with `moviepy.editor`, which
moviepy 2 no longer has; without it `add_video` prints a line and logs nothing. So where
`moviepy.editor` cannot be imported, the same record is written directly: an image summary whose
payload is an animated GIF, which TensorBoard's Images tab plays. Weights & Biases gets `wandb.Video`.
"""

import importlib.util
import io

import numpy as np
from PIL import Image

# --report_to name -> the package its Accelerate tracker imports.
TRACKER_PACKAGES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "comet_ml": "comet_ml",
    "mlflow": "mlflow",
    "aim": "aim",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "trackio": "trackio",
}
VIDEO_FPS = 8


def check_report_to(report_to: str) -> str | list[str] | None:
    """The `log_with` for `Accelerator` that `--report_to` asks for (comma-separated names, "all" or "none").

    Raises `ValueError` at once for an unknown tracker or one whose package is not installed, so a run
    never trains for hours without the tracking it was asked for.
    """
    if report_to == "none":
        return None
    if report_to == "all":
        return "all"
    names = [name.strip() for name in report_to.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRACKER_PACKAGES]
    if unknown or not names:
        raise ValueError(f"--report_to {report_to!r}: unknown tracker(s) {unknown}; choose from "
                         f"{', '.join(TRACKER_PACKAGES)}, 'all' or 'none'.")
    missing = [name for name in names if importlib.util.find_spec(TRACKER_PACKAGES[name]) is None]
    if missing:
        installs = " ".join(TRACKER_PACKAGES[name] for name in missing)
        raise ValueError(f"--report_to {report_to!r} needs {installs}, which is not installed: pip install {installs} "
                         "(or choose --report_to none).")
    return names


def video_to_uint8(video: np.ndarray) -> np.ndarray:
    """float `(F, H, W, 1)` in [0, 1] (the pipeline's "np" output) -> uint8 `(F, H, W)`."""
    return np.round(np.clip(video[..., 0], 0.0, 1.0) * 255).astype(np.uint8)


def gif_bytes(frames: np.ndarray, fps: int = VIDEO_FPS) -> bytes:
    """uint8 `(F, H, W)` -> an endlessly looping animated GIF."""
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)
    return buffer.getvalue()


def moviepy_editor_available() -> bool:
    try:
        return importlib.util.find_spec("moviepy.editor") is not None
    except ModuleNotFoundError:  # no moviepy at all
        return False


def add_tensorboard_video(writer, tag: str, frames: np.ndarray, step: int, fps: int = VIDEO_FPS):
    """`writer.add_video` for uint8 `(F, H, W)` frames, or its GIF record written directly (see the module docstring)."""
    if moviepy_editor_available():
        writer.add_video(tag, frames[None, :, None], step, fps=fps)  # (N, T, C, H, W)
        return
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(height=frames.shape[1], width=frames.shape[2], colorspace=1,
                          encoded_image_string=gif_bytes(frames, fps))
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def log_validation_videos(accelerator, prompts: list[str], videos: np.ndarray, step: int, fps: int = VIDEO_FPS):
    """Log one video per prompt (`videos` float `(B, F, H, W, 1)` in [0, 1]) to every tracker that shows
    videos: TensorBoard as `validation/{prompt}`, Weights & Biases as a list of `wandb.Video` under "validation"."""
    frames = [video_to_uint8(video) for video in videos]  # each (F, H, W)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            for prompt, video in zip(prompts, frames):
                add_tensorboard_video(tracker.writer, f"validation/{prompt}", video, step, fps)
            tracker.writer.flush()
        elif tracker.name == "wandb":
            import wandb

            tracker.log({"validation": [wandb.Video(video[:, None], caption=prompt, fps=fps, format="gif")
                                        for prompt, video in zip(prompts, frames)]}, step=step)
