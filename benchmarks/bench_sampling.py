"""Sampling: character accuracy and PSNR against steps for five stock schedulers, and seconds per video.

    python benchmarks/bench_sampling.py --num-prompts 64

Runs the shipped model (or `--model`) on `--num-prompts` prompts of the seeded validation set, for
DDPM, DDIM, DPM-Solver++, Euler and UniPC at 1, 2, 4, 8, 25 and 50 steps (a count a scheduler
refuses is reported with its reason), then times batch 1 and batch 16 with DDIM at 25 steps.
"""

import argparse
import time

import torch

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets
from diffusers_textvid.schedulers import swap_scheduler

SCHEDULER_NAMES = {"ddim": "DDIM", "ddpm": "DDPM", "dpm": "DPM-Solver++", "euler": "Euler", "unipc": "UniPC"}
STEP_COUNTS = (1, 2, 4, 8, 25, 50)


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
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]

    print(f"character accuracy / PSNR on {len(prompts)} validation prompts, one seeded video each\n")
    print("| scheduler | " + " | ".join(f"{steps} step{'s' * (steps > 1)}" for steps in STEP_COUNTS) + " |")
    print("|---|" + "---|" * len(STEP_COUNTS))
    for name, label in SCHEDULER_NAMES.items():
        cells = []
        for steps in STEP_COUNTS:
            swap_scheduler(pipe, name, steps)
            try:
                result = evaluate_pipeline(pipe, prompts, num_inference_steps=steps, seed=args.seed, batch_size=32)
            except (ValueError, IndexError, RuntimeError) as error:  # the stock scheduler refuses this count
                cells.append(f"not supported ({type(error).__name__}: {str(error).splitlines()[0][:60]})")
                continue
            cells.append(f"{100 * result['char_accuracy']:.1f}% / {result['psnr_db']:.1f} dB")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    swap_scheduler(pipe, "ddim", 25)
    single, batched = seconds_per_video(pipe, 1, 25), seconds_per_video(pipe, 16, 25)
    print(f"\nDDIM, 25 steps: batch 1 {single:.3f} s/video, batch 16 {batched:.3f} s/video "
          f"(batching is {single / batched:.1f}x faster per video)")


if __name__ == "__main__":
    main()
