"""How clean is a model's estimate of the clean video, noise level by noise level?

    python benchmarks/bench_denoise_curve.py --model OLD_DIR --model NEW_DIR --num-prompts 64

For each timestep t (999 down to 20): take the true renders x_0 of validation prompts, noise them
to x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with seeded noise, run the transformer once, and
let the model's own scheduler turn its output into the clean-video estimate
(`pred_original_sample` of `DDPMScheduler.step`, clipped to [-1, 1] as in sampling). Prints the
PSNR of that estimate against x_0, one column per model. The video is a deterministic function of
the prompt, so an ideal denoiser scores as well at every t, and no worse as t falls.
"""

import argparse

import numpy as np
import torch

from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.data.dataset import video_to_model_space
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.evaluation import psnr

TIMESTEPS = (999, 900, 800, 700, 600, 500, 400, 300, 200, 150, 100, 50, 20)


@torch.no_grad()
def clean_estimate_psnr(pipe, prompts: list[str], timestep: int, seed: int) -> float:
    """Mean PSNR (dB) over `prompts` of the clean-video estimate made from x_t at `timestep`."""
    clean = torch.stack([video_to_model_space(render_text_video(p)) for p in prompts])  # (B, 1, F, H, W)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed + timestep))
    timesteps = torch.full((len(prompts),), timestep)
    noisy = pipe.scheduler.add_noise(clean, noise, timesteps)
    text, mask, _, _ = pipe.encode_prompt(
        prompts, do_classifier_free_guidance=False, device=clean.device, dtype=pipe.transformer.dtype
    )
    output = pipe.transformer(noisy, timesteps, text, mask).sample
    estimate = pipe.scheduler.step(output, timestep, noisy).pred_original_sample  # (B, 1, F, H, W) in [-1, 1]
    to_unit = lambda video: ((video[:, 0].double() + 1) / 2).clamp(0, 1).numpy()  # (B, F, H, W) in [0, 1]
    return float(np.mean([psnr(e, c) for e, c in zip(to_unit(estimate), to_unit(clean))]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="A model folder; repeat to compare.")
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prompts = list(validation_prompts())[: args.num_prompts]
    curves = []
    for folder in args.model:
        pipe = TextVideoPipeline.from_pretrained(folder)
        curves.append([clean_estimate_psnr(pipe, prompts, t, args.seed) for t in TIMESTEPS])

    print("| t | " + " | ".join(args.model) + " |")
    print("|---|" + "---|" * len(args.model))
    for row, timestep in enumerate(TIMESTEPS):
        print(f"| {timestep} | " + " | ".join(f"{curve[row]:.1f}" for curve in curves) + " |")
    for folder, curve in zip(args.model, curves):
        worst_drop = max(0.0, *(earlier - later for earlier, later in zip(curve, curve[1:])))
        print(f"{folder}: largest fall as t decreases {worst_drop:.2f} dB")


if __name__ == "__main__":
    main()
