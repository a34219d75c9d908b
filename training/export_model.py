"""Evaluate a trained model folder and package it as a model shipped with diffusers-textvid.

    python training/export_model.py --model_dir runs/small --target diffusers_textvid/pretrained
    python training/export_model.py --model_dir runs/looks --target diffusers_textvid/pretrained_looks

1. Scores the model with `textvid`'s metrics: DDIM at 25 steps on validation prompts and the
   generalisation hold-outs; on the validation prompts also DDIM and DDPM at 50 steps,
   DPM-Solver++ at 4, and DDIM, DPM-Solver++, UniPC and Euler at 8. A model trained with looks
   (`--looks`) is scored by `evaluate_looks` instead (control, characters in the asked
   look, coverage of the looks it picks, PSNR), with DDIM 25 on every set and DPM-Solver++ 4 on
   the validation prompts.
2. Writes the scores to `eval.json`, renders the model card, and saves the pipeline with fp16
   weights (half the size; `TextVideoPipeline.from_pretrained` loads them as fp32) into `--target`,
   with the package's code copied in (`self_contained`) unless the target lies inside the package.
"""

import argparse
import json
import os
import shutil
import sys

import torch

import diffusers_textvid
from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.evaluation import evaluate_pipeline, evaluate_looks, evaluation_prompt_sets, model_looks
from diffusers_textvid.model_card import METRICS_FILE, SUMMARY_FILE, write_model_card, write_sample_gif
from diffusers_textvid.schedulers import swap_scheduler
from diffusers_textvid.training.arguments import MAX_SEED

# (scheduler, steps) scored on the validation prompts after DDIM 25 on every set.
VALIDATION_RUNS = (("ddim", 50), ("ddpm", 50), ("dpm", 4), ("ddim", 8), ("dpm", 8), ("unipc", 8), ("euler", 8))
# The same for a model trained with looks, whose every video is scored on `samples_per_prompt` + 1 samples.
LOOKS_VALIDATION_RUNS = (("dpm", 4),)


def score(pipe, scheduler: str, steps: int, prompt_sets: dict[str, list[str]], seed: int) -> list[dict]:
    """One metrics row per prompt set for `scheduler` at `steps`, without the per-video details; by
    `evaluate_looks` for a model trained with looks, else by `evaluate_pipeline`."""
    swap_scheduler(pipe, scheduler, steps)
    looks = model_looks(pipe) is not None
    rows = []
    for name, prompts in prompt_sets.items():
        if looks:
            result = evaluate_looks(pipe, prompts, num_inference_steps=steps, seed=seed, batch_size=32)
        else:
            result = evaluate_pipeline(pipe, prompts, num_inference_steps=steps, seed=seed, batch_size=32)
        rows.append({"set": name, "scheduler": scheduler, "steps": steps,
                     **{k: v for k, v in result.items() if k not in ("per_prompt", "per_video")}})
        control = f"control {100 * result['control_accuracy']:5.1f}% tv {result['coverage_tv_max']:.3f} " if looks else ""
        print(f"{scheduler:6s} {steps:3d} steps {name:18s} {control}char {100 * result['char_accuracy']:5.1f}% "
              f"prompt {100 * result['prompt_accuracy']:5.1f}% psnr {result['psnr_db']:5.1f} dB", flush=True)
    return rows


def ships_in_the_package(folder: str) -> bool:
    """Whether `folder` lies inside the `diffusers_textvid` package (a shipped model), whose code it would
    only copy: such a folder gets no code, any other one does (it may be loaded without the package)."""
    package = os.path.realpath(os.path.dirname(diffusers_textvid.__file__))
    return os.path.commonpath([package, os.path.realpath(folder)]) == package


def check_export_args(args):
    """`ValueError` naming the first bad argument: `--model_dir` must be a pipeline folder, `--target` a
    folder that is new or holds a pipeline (it is replaced whole), and the counts in range."""
    if not os.path.isfile(os.path.join(args.model_dir, "model_index.json")):
        raise ValueError(f"--model_dir {args.model_dir!r} is not a pipeline folder (no model_index.json).")
    if os.path.exists(args.target):
        if not os.path.isdir(args.target):
            raise ValueError(f"--target {args.target!r} is a file; give a folder (it is created if missing).")
        if os.listdir(args.target) and not os.path.isfile(os.path.join(args.target, "model_index.json")):
            raise ValueError(f"--target {args.target!r} holds files but no pipeline (no model_index.json): it "
                             "would be deleted whole. Give a new folder or a shipped model's folder.")
        if os.path.samefile(args.target, args.model_dir):
            raise ValueError(f"--target {args.target!r} is --model_dir: the export replaces the target, so give another folder.")
    if args.num_prompts < 1:
        raise ValueError(f"--num_prompts must be a positive integer, got {args.num_prompts}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be 0 to {MAX_SEED}, got {args.seed}.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="A folder written by training/train_textvid.py.")
    parser.add_argument("--target", default=os.path.join("diffusers_textvid", "pretrained"))
    parser.add_argument("--num_prompts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        check_export_args(args)
    except ValueError as error:
        parser.error(str(error))  # before the model is loaded or the target touched

    pipe = TextVideoPipeline.from_pretrained(args.model_dir)
    pipe.set_progress_bar_config(disable=True)
    prompt_sets = evaluation_prompt_sets(args.num_prompts, args.seed)
    rows = score(pipe, "ddim", 25, prompt_sets, args.seed)
    for scheduler, steps in LOOKS_VALIDATION_RUNS if model_looks(pipe) else VALIDATION_RUNS:
        rows += score(pipe, scheduler, steps, {"validation": prompt_sets["validation"]}, args.seed)
    swap_scheduler(pipe, "ddpm")  # ship the training scheduler, as trained

    if os.path.isdir(args.target):
        shutil.rmtree(args.target)
    pipe.to(torch.float16).save_pretrained(args.target, self_contained=not ships_in_the_package(args.target))
    shutil.copyfile(os.path.join(args.model_dir, SUMMARY_FILE), os.path.join(args.target, SUMMARY_FILE))
    command = "python training/export_model.py " + " ".join(sys.argv[1:])
    with open(os.path.join(args.target, METRICS_FILE), "w") as file:
        json.dump({"command": command, "rows": rows}, file, indent=2)
    write_sample_gif(TextVideoPipeline.from_pretrained(args.target), args.target)  # as shipped, loaded in fp32
    print(f"wrote {write_model_card(args.target)} and the model to {args.target}")


if __name__ == "__main__":
    main()
