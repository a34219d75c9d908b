"""Looks against sampling steps: control, coverage, characters and PSNR of a model trained with looks.

    python benchmarks/bench_looks.py --num-prompts 32

Scores the shipped model with looks (or `--model`) with `evaluate_looks` (what `textvid eval
--looks` prints) for DDIM at 1, 2, 4, 8, 25 and 50 steps, on `--num-prompts` seeded validation
prompts: each asked for one random full look (control, characters), and each sampled
`--samples-per-prompt` times with every factor left out (coverage, the look the model picks). Both ways
the pipeline can leave a look to the model are measured: `drawn` (the default) first draws the left-out
factors from the model's guess of the look on the starting noise, `denoised` leaves them to the denoising
alone (`draw_left_out_look=False`). Denoising alone, one step can only return the mean over the looks the
model could pick, a blur of them; the table shows whether more steps commit to one.
"""

import argparse
import itertools

from diffusers_textvid import LOOKS_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.evaluation import SAMPLES_PER_PROMPT, evaluate_looks, evaluation_prompt_sets
from diffusers_textvid.schedulers import swap_scheduler

STEP_COUNTS = (1, 2, 4, 8, 25, 50)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=LOOKS_MODEL_DIR)
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--samples-per-prompt", type=int, default=SAMPLES_PER_PROMPT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    factors = " | ".join(f"TV {factor}" for factor in LOOK_FACTORS)
    print(f"{len(prompts)} prompts, {args.samples_per_prompt} left-out samples each, DDIM\n")
    print(f"| left out | steps | control | characters | {factors} | PSNR control | PSNR left out |")
    print("|---" * (6 + len(LOOK_FACTORS)) + "|")
    for (mode, draw), steps in itertools.product((("drawn", True), ("denoised", False)), STEP_COUNTS):
        swap_scheduler(pipe, "ddim", steps)
        result = evaluate_looks(pipe, prompts, num_inference_steps=steps, seed=args.seed,
                                     samples_per_prompt=args.samples_per_prompt, batch_size=64,
                                     draw_left_out_look=draw)
        control = [video["psnr_db"] for video in result["per_video"] if video["asked_look"]]
        left_out = [video["psnr_db"] for video in result["per_video"] if not video["asked_look"]]
        coverage = " | ".join(f"{result['coverage_tv'][factor]:.3f}" for factor in LOOK_FACTORS)
        print(f"| {mode} | {steps} | {100 * result['control_accuracy']:.1f}% | {100 * result['char_accuracy']:.1f}% | "
              f"{coverage} | {sum(control) / len(control):.1f} dB | {sum(left_out) / len(left_out):.1f} dB |",
              flush=True)


if __name__ == "__main__":
    main()
