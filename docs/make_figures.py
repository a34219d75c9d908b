"""Make the README's pictures from a model folder (the shipped model by default).

    python docs/make_figures.py

- `docs/prompts.gif`: several prompts side by side, one row each, generated with DDIM at 25 steps.
- `docs/lora.gif` (with `--lora ADAPTER`): the same prompts from the same noise, the base model on the
  left and with the adapter on the right.
- `docs/denoising.png`: for one prompt, rows of all 16 frames at several denoising steps, from
  pure noise (top) to the result (bottom), with the true render as the last row.
- `docs/looks.gif` (with `--looks MODEL`, a model trained with looks): one prompt sampled 8
  times with every factor left out, as a 4 x 2 grid: the looks the model picks.

    python docs/make_figures.py --looks diffusers_textvid/pretrained_looks

- `docs/explain/NAME/` (with `--explain NAME`): the `textvid explain` figures of HELLO that the README
  shows, from `--model`, in 64 colours to keep the repository small.

    python docs/make_figures.py --explain default
    python docs/make_figures.py --explain looks --model diffusers_textvid/pretrained_looks
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import export_to_gif
from PIL import Image

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline, render_text_video
from diffusers_textvid.explain import explain
from diffusers_textvid.schedulers import swap_scheduler

HERE = Path(__file__).resolve().parent
PROMPTS = ["HELLO", "AB12", "AS", "DIT", "Z9Q", "CPU42"]
SCALE = 4  # pixels are tiny: enlarge for the page
EXPLAIN_FIGURES = ["cross_attention_t500", "self_attention", "video_positions", "timestep", "neurons"]  # the README's


def enlarge(image: np.ndarray) -> np.ndarray:
    """uint8 `(H, W)` -> `(H * SCALE, W * SCALE)`, nearest neighbour."""
    return np.kron(image, np.ones((SCALE, SCALE), dtype=np.uint8))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def prompt_column(pipe, steps: int, seed: int) -> np.ndarray:
    """uint8 `(F, P * (H + 2), W)`: the videos of `PROMPTS` stacked, one row per prompt, grey lines between."""
    videos = pipe(PROMPTS, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed)).frames
    videos = to_uint8(videos[..., 0])  # (P, F, H, W)
    separator = np.full((videos.shape[0], videos.shape[1], 2, videos.shape[3]), 80, dtype=np.uint8)
    stacked = np.concatenate([videos, separator], axis=2).transpose(1, 0, 2, 3)  # (F, P, H+2, W)
    return stacked.reshape(stacked.shape[0], -1, stacked.shape[-1])


def write_gif(frames: np.ndarray, path: Path):
    """uint8 `(F, H, W)` frames, enlarged, as a GIF at 8 frames/s."""
    export_to_gif([Image.fromarray(enlarge(frame)) for frame in frames], str(path), fps=8)


def prompts_gif(pipe, steps: int, seed: int, path: Path):
    """One GIF, one row per prompt: `(len(PROMPTS) * 34, 32)` pixels a frame before enlarging."""
    write_gif(prompt_column(pipe, steps, seed), path)


def lora_gif(pipe, adapter: str, steps: int, seed: int, path: Path):
    """`PROMPTS` from the same noise, the base model on the left and with the LoRA `adapter` on the right."""
    base = prompt_column(pipe, steps, seed)
    pipe.load_lora_weights(adapter, adapter_name="figure")
    adapted = prompt_column(pipe, steps, seed)
    pipe.unload_lora_weights()
    separator = np.full((base.shape[0], base.shape[1], 2), 80, dtype=np.uint8)
    write_gif(np.concatenate([base, separator, adapted], axis=2), path)


def looks_gif(pipe, prompt: str, steps: int, seed: int, path: Path, columns: int = 4, rows: int = 2):
    """`prompt` sampled `columns * rows` times from consecutive seeds, every factor of the look left to the
    model, as one GIF grid with grey lines between the videos."""
    count = columns * rows
    generators = [torch.Generator().manual_seed(seed + i) for i in range(count)]
    videos = to_uint8(pipe([prompt] * count, num_inference_steps=steps, generator=generators).frames[..., 0])
    videos = np.pad(videos, ((0, 0), (0, 0), (0, 2), (0, 2)), constant_values=80)  # (count, F, H+2, W+2)
    _, frames, height, width = videos.shape
    grid = videos.reshape(rows, columns, frames, height, width).transpose(2, 0, 3, 1, 4)  # (F, rows, H, columns, W)
    write_gif(grid.reshape(frames, rows * height, columns * width), path)


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


def explain_figures(pipe, steps: int, seed: int, folder: Path):
    """`EXPLAIN_FIGURES` of `explain` for HELLO, each a 64-colour PNG in `folder`, beside its explain.json."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        summary = explain(pipe, "HELLO", scratch, steps, seed)
        for name in EXPLAIN_FIGURES:
            with Image.open(Path(scratch) / summary["figures"][name]) as image:
                image.convert("RGB").quantize(64).save(folder / f"{name}.png", optimize=True)
        (folder / "explain.json").write_bytes((Path(scratch) / "explain.json").read_bytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lora", default=None, help="also write docs/lora.gif: the base model beside this adapter")
    parser.add_argument("--looks", metavar="MODEL",
                        help="only write docs/looks.gif, from this model trained with looks")
    parser.add_argument("--explain", metavar="NAME", help="only write docs/explain/NAME/, from --model")
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.looks or args.model)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, "ddim", args.steps)
    if args.explain:
        explain_figures(pipe, args.steps, args.seed, HERE / "explain" / args.explain)
        print(f"wrote {HERE / 'explain' / args.explain}")
        return
    if args.looks:
        looks_gif(pipe, "HELLO", args.steps, args.seed, HERE / "looks.gif")
        print(f"wrote {HERE / 'looks.gif'}")
        return
    prompts_gif(pipe, args.steps, args.seed, HERE / "prompts.gif")
    denoising_grid(pipe, "HELLO", args.steps, args.seed, HERE / "denoising.png")
    print(f"wrote {HERE / 'prompts.gif'} and {HERE / 'denoising.png'}")
    if args.lora:
        lora_gif(pipe, args.lora, args.steps, args.seed, HERE / "lora.gif")
        print(f"wrote {HERE / 'lora.gif'}")


if __name__ == "__main__":
    main()
