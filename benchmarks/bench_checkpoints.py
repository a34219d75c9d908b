"""Learning curve of a training run: sample every checkpoint named and score it.

    python benchmarks/bench_checkpoints.py --run RUN_FOLDER --steps 1000 1500 2000 --num-prompts 32
    python benchmarks/bench_checkpoints.py --pipelines RUN_FOLDER   # a saved pipeline (EMA weights)

Each checkpoint's raw weights (not EMA) are loaded into the networks the run trains (rebuilt from its
`training_args.json`); `--pipelines` scores saved pipeline folders as they are, such as the one a run
writes when it ends (its EMA weights). A model with looks is asked for one random full look per validation
prompt (`evaluate_looks`' control: characters in the asked look, control, PSNR of those videos against
the asked look's render) with one coverage video per prompt; a model without looks is scored by
`evaluate_pipeline`. DDIM at `--inference-steps`, seed 0. Also prints the cross-attention alignment of
`textvid explain` (block by block) on the renders noised to t=500, the number that says whether the
network reads each symbol where it is drawn.
"""

import argparse
import os

import numpy as np
import torch

from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.evaluation import evaluate_looks, evaluate_pipeline, model_looks
from diffusers_textvid.explain import cross_attention_alignment
from diffusers_textvid.pipelines.pipeline_textvid import TextVideoPipeline
from diffusers_textvid.schedulers import swap_scheduler
from diffusers_textvid.training.training_model import checkpoint_pipeline


def score(name: str, pipe, prompts: list[str], inference_steps: int) -> str:
    """One line: characters, control and PSNR under asked looks (or `evaluate_pipeline`'s scores for a model
    without looks), and the cross-attention alignment block by block."""
    swap_scheduler(pipe, "ddim", inference_steps)
    alignment = cross_attention_alignment(pipe, prompts[:16])
    by_layer = " ".join(f"{100 * share:.0f}" for share in alignment["cross_attention_alignment_by_layer"])
    if model_looks(pipe) is not None:
        result = evaluate_looks(pipe, prompts, num_inference_steps=inference_steps, samples_per_prompt=1,
                                batch_size=32)
        asked = result["per_video"][: len(prompts)]
        scores = (f"control {100 * result['control_accuracy']:5.1f}% characters {100 * result['char_accuracy']:5.1f}% "
                  f"PSNR {np.mean([video['psnr_db'] for video in asked]):5.2f} dB")
    else:
        result = evaluate_pipeline(pipe, prompts, num_inference_steps=inference_steps, batch_size=32)
        scores = f"characters {100 * result['char_accuracy']:5.1f}% PSNR {result['psnr_db']:5.2f} dB"
    return (f"{name}: {scores} | alignment by block {by_layer} (best "
            f"{100 * alignment['cross_attention_alignment']:.0f}%, chance {100 * alignment['cross_attention_chance']:.0f}%)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="A training run's --output_dir, whose checkpoints --steps names.")
    parser.add_argument("--steps", type=int, nargs="+", default=[])
    parser.add_argument("--pipelines", nargs="+", default=[], help="Saved pipeline folders, scored as they are.")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--inference-steps", type=int, default=25)
    args = parser.parse_args()
    if args.steps and not args.run:
        parser.error("--steps needs --run.")
    if not args.steps and not args.pipelines:
        parser.error("Name checkpoints (--run with --steps) or --pipelines to score.")
    prompts = list(validation_prompts())[: args.num_prompts]
    torch.manual_seed(0)
    run_name = os.path.basename(os.path.normpath(args.run or ""))
    for step in args.steps:
        print(score(f"{run_name} step {step:5d}", checkpoint_pipeline(args.run, step), prompts, args.inference_steps),
              flush=True)
    for folder in args.pipelines:
        pipe = TextVideoPipeline.from_pretrained(folder)
        print(score(f"{os.path.normpath(folder)} (saved)", pipe, prompts, args.inference_steps), flush=True)


if __name__ == "__main__":
    main()
