"""Validation during training, on the main process: a loss on held-out prompts with fixed noise, and
sampled videos written as GIFs and logged to the trackers."""

import os

import numpy as np
import torch
from diffusers.utils import export_to_gif

from ..data.dataset import video_to_model_space
from ..data.render import render_text_video
from ..data.looks import DEFAULT_LOOK
from ..schedulers import SCHEDULERS, build_sampling_pipeline
from ..tracking import log_validation_videos


@torch.no_grad()
def validation_loss(accelerator, model, prompts: list[str], seed: int) -> float:
    """Mean loss on held-out validation prompts, rendered at the model's video size, with fixed noise:
    comparable across steps."""
    num_frames, frame_size = model.video_size()
    clean = torch.stack([
        video_to_model_space(render_text_video(p, num_frames=num_frames, frame_size=frame_size)) for p in prompts
    ]).to(accelerator.device)  # (B, 1, F, S, S)
    generator = torch.Generator().manual_seed(seed)
    # The original look, asked for in full where the model knows looks.
    looks = [DEFAULT_LOOK] * len(prompts) if model.has_looks() else None
    with accelerator.autocast():
        return float(model(prompts, clean, generator, looks, true_looks=looks))


@torch.no_grad()
def render_validation_videos(accelerator, pipe, args, global_step: int):
    """Sample the validation prompts with DDIM, write GIFs, and log them as videos (TensorBoard, W&B) and as
    one frame grid (TensorBoard)."""
    sampler = build_sampling_pipeline(pipe, SCHEDULERS["ddim"])
    generator = torch.Generator().manual_seed(args.seed)
    with accelerator.autocast():
        videos = sampler(
            args.validation_prompts, num_inference_steps=args.validation_inference_steps, generator=generator,
            output_type="np",
        ).frames  # (B, F, H, W, 1)
    folder = os.path.join(args.output_dir, "validation", f"step-{global_step}")
    os.makedirs(folder, exist_ok=True)
    for prompt, video in zip(args.validation_prompts, videos):
        frames = sampler.video_processor.numpy_to_pil(video)
        export_to_gif(frames, os.path.join(folder, f"{prompt}.gif"))
    log_validation_videos(accelerator, args.validation_prompts, videos, global_step)
    grid = np.concatenate([np.concatenate(list(video[..., 0]), axis=1) for video in videos], axis=0)  # (B*H, F*W)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("validation/frames", grid[None], global_step, dataformats="CHW")
