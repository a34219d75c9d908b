"""When does denoising decide the look? Every factor left out, the look of each step's clean-video estimate.

    python benchmarks/bench_look_trajectory.py --model FOLDER --num-prompts 30 --seeds 8

For `--num-prompts` validation prompts x `--seeds` seeds, a model with looks samples with every factor of
the look left out (no `look=`; a model with scroll alignment is also kept from drawing the look from its
classifier, `draw_left_out_look=False`), DDIM at `--steps`. At every step a forward hook turns the
transformer's prediction into its clean-video estimate, and `nearest_look` names the look of that
estimate. Printed: per step, the share of videos whose estimate already has each factor of the final
video's look (the step where a factor is decided is where this reaches 1); then the coverage of the final
looks (total-variation distance from even draws, per factor, as `evaluate_looks` reports it) and their
PSNR against the render of their nearest look.
"""

import argparse

import numpy as np
import torch

from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.diffusion_loss import prediction_to_clean_video
from diffusers_textvid.evaluation import look_coverage, look_video_scores, nearest_look
from diffusers_textvid.pipelines.pipeline_textvid import TextVideoPipeline
from diffusers_textvid.schedulers import swap_scheduler


def trajectory_looks(pipe, prompt: str, seeds: list[int], steps: int) -> tuple[list[list[dict]], np.ndarray]:
    """`(looks, videos)`: `looks[step][video]`, the nearest look of each video's clean-video estimate at
    each step, and the final videos float `(S, F, H, W)` in [0, 1]."""
    estimates = []

    def keep_estimate(transformer, args, kwargs, output):
        noisy, timesteps = args[0], args[1]
        estimate = prediction_to_clean_video(pipe.scheduler, output.sample.float(), noisy.float(), timesteps)
        estimates.append(((estimate[:, 0].clamp(-1, 1) + 1) / 2).cpu().numpy())  # (S, F, H, W) in [0, 1]

    handle = pipe.transformer.register_forward_hook(keep_estimate, with_kwargs=True)
    options = {"draw_left_out_look": False} if getattr(pipe.transformer, "scroll_text", None) is not None else {}
    try:
        videos = pipe([prompt] * len(seeds), num_inference_steps=steps, output_type="np",
                      generator=[torch.Generator().manual_seed(seed) for seed in seeds], **options).frames[..., 0]
    finally:
        handle.remove()
    looks = [[nearest_look(video, prompt) for video in step_estimates] for step_estimates in estimates[-steps:]]
    return looks, videos


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved pipeline folder of a model with looks.")
    parser.add_argument("--num-prompts", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, "ddim", args.steps)
    prompts = list(validation_prompts())[: args.num_prompts]

    agreement = np.zeros((args.steps, len(LOOK_FACTORS)))  # videos whose estimate has the final value, summed
    final_looks, psnrs = [], []
    for index, prompt in enumerate(prompts):
        seeds = [index * args.seeds + seed for seed in range(args.seeds)]
        looks, videos = trajectory_looks(pipe, prompt, seeds, args.steps)
        for video in videos:
            scores = look_video_scores(video, prompt, {})
            final_looks.append(scores["nearest_look"])
            psnrs.append(scores["psnr_db"])
        for step, step_looks in enumerate(looks):
            for column, factor in enumerate(LOOK_FACTORS):
                agreement[step, column] += sum(
                    look[factor] == final[factor] for look, final in zip(step_looks, final_looks[-len(videos):])
                )
    agreement /= len(final_looks)

    timesteps = pipe.scheduler.timesteps.tolist()
    print(f"{args.model}: {len(prompts)} prompts x {args.seeds} seeds, every factor left out, DDIM {args.steps}\n")
    print("| step | t | " + " | ".join(LOOK_FACTORS) + " |")
    print("|---|---|" + "---|" * len(LOOK_FACTORS))
    for step in range(args.steps):
        print(f"| {step} | {timesteps[step]} | " + " | ".join(f"{100 * share:.0f}%" for share in agreement[step]) + " |")
    _, tv = look_coverage(final_looks)
    print("\ncoverage TV: " + ", ".join(f"{factor} {value:.2f}" for factor, value in tv.items())
          + f"; PSNR against the nearest render {np.mean(psnrs):.2f} dB")


if __name__ == "__main__":
    main()
