"""Sampling: seconds per video and character accuracy against steps, for four stock schedulers.

    python benchmarks/bench_sampling.py --num-prompts 48

Runs the shipped model (or `--model`) on the first `--num-prompts` prompts of the seeded
validation set, for DDPM, DDIM, DPM-Solver++ and UniPC at 4, 8, 16, 25 and 50 steps, then times
batch 1 and batch 16 with DDIM at 25 steps.
"""

import argparse
import time

import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets
from diffusers_textvid.schedulers import swap_scheduler

SCHEDULER_NAMES = {"ddpm": "DDPM", "ddim": "DDIM", "dpm": "DPM-Solver++", "unipc": "UniPC"}
STEP_COUNTS = (4, 8, 16, 25, 50)


def seconds_per_video(pipe, batch_size: int, steps: int, repeats: int = 3) -> float:
    """Wall seconds per video when generating `batch_size` videos at once (best of `repeats`)."""
    prompts = ["HELLO"] * batch_size
    pipe(prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        pipe(prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
        best = min(best, time.perf_counter() - start)
    return best / batch_size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--num-prompts", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]

    print(f"char accuracy on {len(prompts)} validation prompts (seconds/video at batch 16 in brackets)\n")
    print("| scheduler | " + " | ".join(f"{steps} steps" for steps in STEP_COUNTS) + " |")
    print("|---|" + "---|" * len(STEP_COUNTS))
    for name, label in SCHEDULER_NAMES.items():
        cells = []
        for steps in STEP_COUNTS:
            swap_scheduler(pipe, name, steps)
            result = evaluate_pipeline(pipe, prompts, num_inference_steps=steps, seed=args.seed, batch_size=16)
            cells.append(f"{100 * result['char_accuracy']:.1f}% ({result['seconds_per_video']:.3f} s)")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    swap_scheduler(pipe, "ddim", 25)
    single, batched = seconds_per_video(pipe, 1, 25), seconds_per_video(pipe, 16, 25)
    print(f"\nDDIM, 25 steps: batch 1 {single:.3f} s/video, batch 16 {batched:.3f} s/video "
          f"(batching is {single / batched:.1f}x faster per video)")


if __name__ == "__main__":
    main()
