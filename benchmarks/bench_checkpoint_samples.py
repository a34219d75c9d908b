"""Sampled scores of a training checkpoint, with or without looks, for learning curves mid-run.

    python benchmarks/bench_checkpoint_samples.py --checkpoint runs/RUN/checkpoint-N [--preset P] [--model-config J]

Samples DDIM 25 videos of validation prompts from an accelerate checkpoint of training/train_textvid.py and
prints characters right and PSNR against the true render. For a model with looks, every prompt is asked for
a random full look, and the ink checks of `diffusers_textvid.evaluation.ink_look_checks`, which need no
symbol right, are printed beside: early in training the nearest render over all looks says nothing yet,
and these already do. `--coverage N` also samples every prompt N times with every factor left out and
prints, per factor, the total-variation distance of the looks drawn from even draws (`evaluate_variations`).
"""

import argparse
import random

import numpy as np
import torch

from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.variations import all_variations
from diffusers_textvid.evaluation import (
    character_correct,
    evaluate_variations,
    evaluation_prompt_sets,
    ink_look_checks,
    psnr,
)
from diffusers_textvid.schedulers import swap_scheduler

from bench_look_probe import load_checkpoint  # the script's own folder is on the path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--preset", default="small", help="the run's --model_preset")
    parser.add_argument("--model-config", help="the run's --model_config JSON")
    parser.add_argument("--looks", action="store_true", help="the run was trained with --variations")
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--coverage", type=int, metavar="N", help="with --looks: left-out samples of each prompt")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = load_checkpoint(args.checkpoint, args.preset, args.model_config, looks=args.looks)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, "ddim", 25)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    choose = random.Random(args.seed)
    looks = [choose.choice(all_variations()) for _ in prompts] if args.looks else [{} for _ in prompts]
    videos = pipe(prompts, variation=looks if args.looks else None, num_inference_steps=25,
                  generator=torch.Generator().manual_seed(args.seed), output_type="np").frames[..., 0]
    asked = list(zip(prompts, looks, videos))
    chars = [ok for prompt, look, video in asked for ok in character_correct(video, prompt, look or None)]
    psnrs = [psnr(video, render_text_video(prompt, **look) / 255.0) for prompt, look, video in asked]
    scores = {"chars": f"{100 * np.mean(chars):.1f}%", "PSNR": f"{np.mean(psnrs):.1f} dB"}
    if args.looks:
        checks = [ink_look_checks(video, prompt, look) for prompt, look, video in asked]
        scores |= {name: f"{100 * np.mean([check[name] for check in checks]):.0f}%" for name in checks[0]}
    if args.looks and args.coverage:
        drawn = evaluate_variations(pipe, prompts, 25, args.coverage, args.seed, batch_size=64)
        scores |= {f"TV {factor}": f"{tv:.3f}" for factor, tv in drawn["coverage_tv"].items()}
        scores |= {f"control {factor}": f"{100 * share:.0f}%" for factor, share in drawn["control_accuracy_per_factor"].items()}
    print(args.checkpoint, scores)


if __name__ == "__main__":
    main()
