"""Where does a long sampling trajectory lose the clean video?

    python benchmarks/bench_trajectory.py --model diffusers_textvid/pretrained --steps 25 --steps 50

Runs DDIM from seeded noise on validation prompts and, at every step, scores the clean-video
estimate the scheduler forms (`pred_original_sample`, clipped to [-1, 1]) against the true render.
Beside it, the estimate the model makes at the same t from a true x_t (the true render noised with
fresh noise, as in `bench_denoise_curve.py`): where the two columns part, the trajectory has left
the inputs the model was trained on.
"""

import argparse

import numpy as np
import torch
from diffusers import DDIMScheduler

from bench_denoise_curve import clean_estimate_psnr
from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.data.dataset import video_to_model_space
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.evaluation import psnr


def unit_range(video: torch.Tensor) -> np.ndarray:
    """`(B, 1, F, H, W)` in [-1, 1] to `(B, F, H, W)` in [0, 1]."""
    return ((video[:, 0].double() + 1) / 2).clamp(0, 1).numpy()


@torch.no_grad()
def trajectory_psnr(pipe, prompts: list[str], num_steps: int, seed: int) -> list[tuple[int, float]]:
    """(t, mean PSNR of the clean-video estimate at that step) along one DDIM trajectory per prompt."""
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(num_steps)
    clean = unit_range(torch.stack([video_to_model_space(render_text_video(p)) for p in prompts]))
    text, mask, _, _ = pipe.encode_prompt(
        prompts, do_classifier_free_guidance=False, device=pipe.device, dtype=pipe.transformer.dtype
    )
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn((len(prompts), 1, *clean.shape[1:]), generator=generator)  # (B, 1, F, H, W)
    scores = []
    for timestep in scheduler.timesteps:
        output = pipe.transformer(sample, timestep.expand(len(prompts)), text, mask).sample
        step = scheduler.step(output, timestep, sample)
        estimate = unit_range(step.pred_original_sample)
        scores.append((int(timestep), float(np.mean([psnr(e, c) for e, c in zip(estimate, clean)]))))
        sample = step.prev_sample
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A model folder.")
    parser.add_argument("--steps", type=int, action="append", help="DDIM step counts (repeatable; default 25 and 50).")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    prompts = list(validation_prompts())[: args.num_prompts]
    for num_steps in args.steps or [25, 50]:
        print(f"\nDDIM, {num_steps} steps: PSNR (dB) of the clean-video estimate")
        print("| t | along the trajectory | from a true x_t |")
        print("|---|---|---|")
        for timestep, along in trajectory_psnr(pipe, prompts, num_steps, args.seed):
            from_true = clean_estimate_psnr(pipe, prompts, timestep, args.seed)
            print(f"| {timestep} | {along:.2f} | {from_true:.2f} |")


if __name__ == "__main__":
    main()
