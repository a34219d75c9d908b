"""Make the README's pictures from a model folder (the shipped model by default).

    python docs/make_figures.py

- `docs/prompts.gif`: several prompts side by side, one row each, generated with DDIM at 25 steps.
- `docs/denoising.png`: for one prompt, rows of all 16 frames at several denoising steps, from
  pure noise (top) to the result (bottom), with the true render as the last row.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import export_to_gif
from PIL import Image

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline, render_text_video
from diffusers_textvid.schedulers import swap_scheduler

HERE = Path(__file__).resolve().parent
PROMPTS = ["HELLO", "AB12", "AS", "DIT", "Z9Q", "CPU42"]
SCALE = 4  # pixels are tiny: enlarge for the page


def enlarge(image: np.ndarray) -> np.ndarray:
    """uint8 `(H, W)` -> `(H * SCALE, W * SCALE)`, nearest neighbour."""
    return np.kron(image, np.ones((SCALE, SCALE), dtype=np.uint8))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def prompts_gif(pipe, steps: int, seed: int, path: Path):
    """One GIF, one row per prompt: `(len(PROMPTS) * 32, 32)` pixels a frame before enlarging."""
    videos = pipe(PROMPTS, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed)).frames
    videos = to_uint8(videos[..., 0])  # (P, F, H, W)
    separator = np.full((videos.shape[0], videos.shape[1], 2, videos.shape[3]), 80, dtype=np.uint8)
    stacked = np.concatenate([videos, separator], axis=2).transpose(1, 0, 2, 3)  # (F, P, H+2, W)
    frames = [Image.fromarray(enlarge(frame.reshape(-1, frame.shape[-1]))) for frame in stacked]
    export_to_gif(frames, str(path), fps=8)


def denoising_grid(pipe, prompt: str, steps: int, seed: int, path: Path, rows: int = 6):
    """A PNG: the starting noise, then the 16 frames of the latents after evenly spaced steps, then the true render."""
    snapshots = {}
    show_after = set(np.linspace(0, steps - 1, rows - 1).round().astype(int).tolist())

    def keep_latents(pipeline, step_index, timestep, tensors):
        if step_index in show_after:
            snapshots[step_index] = tensors["latents"][0, 0].float().numpy()  # (F, H, W) in [-1, 1]
        return {}

    noise = torch.randn(pipe.latent_shape(1), generator=torch.Generator().manual_seed(seed))
    pipe(prompt, num_inference_steps=steps, latents=noise.clone(), callback_on_step_end=keep_latents)
    rows_of_frames = [noise[0, 0].numpy()] + [snapshots[k] for k in sorted(snapshots)]
    rows_of_frames = [to_uint8((frames + 1) / 2) for frames in rows_of_frames]
    rows_of_frames.append(render_text_video(prompt))
    grid = np.concatenate([np.concatenate(list(frames), axis=1) for frames in rows_of_frames], axis=0)
    Image.fromarray(enlarge(grid)).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, "ddim", args.steps)
    prompts_gif(pipe, args.steps, args.seed, HERE / "prompts.gif")
    denoising_grid(pipe, "HELLO", args.steps, args.seed, HERE / "denoising.png")
    print(f"wrote {HERE / 'prompts.gif'} and {HERE / 'denoising.png'}")


if __name__ == "__main__":
    main()
