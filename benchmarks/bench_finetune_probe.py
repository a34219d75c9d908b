"""Which training change keeps long sampling runs sharp? A short fine-tune of a trained model per recipe.

    python benchmarks/bench_finetune_probe.py --model diffusers_textvid/pretrained --steps 500 \
        --recipe plain --recipe own_estimate

Each recipe starts from the same weights, trains `--steps` steps at batch 32 (AdamW, lr 1e-4 after
50 warm-up steps, the shipped loss: velocity MSE weighted by min(SNR + 1, 5)), then samples with
DDIM at 1, 8, 25 and 50 steps on validation prompts. A probe, not a recipe: it shows which change
moves the long-trajectory scores, on a model that already spells.

- `plain`: more of the same training (the control).
- `own_estimate`: half of each batch noised from the model's own earlier estimate at t in
  [100, 300) (`diffusers_textvid.diffusion_loss.OwnEstimateInputs`).
"""

import argparse
import json
import time

import torch
from diffusers import DDIMScheduler

from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.diffusion_loss import OwnEstimateInputs, diffusion_loss
from diffusers_textvid.evaluation import evaluate_pipeline

RECIPES = {"plain": None, "own_estimate": OwnEstimateInputs(share=0.5, band=(100, 300), lookahead=(20, 200))}
SAMPLING_STEPS = (1, 8, 25, 50)


def fine_tune(pipe, own_estimate_inputs, steps: int, batch_size: int = 32, seed: int = 0):
    """Train `pipe`'s text encoder and DiT in place for `steps` steps."""
    torch.manual_seed(seed)
    params = list(pipe.transformer.parameters()) + list(pipe.text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    stream = iter(ScrollingTextDataset(seed=seed + 1))
    generator = torch.Generator().manual_seed(seed)
    pipe.transformer.train(), pipe.text_encoder.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-4 * min(1.0, (step + 1) / 50)
        prompts, videos = zip(*(next(stream) for _ in range(batch_size)))
        loss = diffusion_loss(pipe.transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, list(prompts),
                              torch.stack(videos), generator, 5.0, "min_snr_plus_one", own_estimate_inputs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    pipe.transformer.eval(), pipe.text_encoder.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="The trained model folder every recipe starts from.")
    parser.add_argument("--recipe", action="append", choices=sorted(RECIPES), required=True)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--num-prompts", type=int, default=32)
    args = parser.parse_args()

    prompts = list(validation_prompts())[: args.num_prompts]
    print("| recipe | train steps | train s | " + " | ".join(f"DDIM {n}" for n in SAMPLING_STEPS) + " |")
    print("|---|---|---|" + "---|" * len(SAMPLING_STEPS))
    for recipe in args.recipe:
        pipe = TextVideoPipeline.from_pretrained(args.model)
        pipe.set_progress_bar_config(disable=True)
        began = time.time()
        fine_tune(pipe, RECIPES[recipe], args.steps)
        seconds = time.time() - began
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        cells = []
        with torch.no_grad():
            for num_steps in SAMPLING_STEPS:
                scores = evaluate_pipeline(pipe, prompts, num_inference_steps=num_steps)
                cells.append(f"{100 * scores['char_accuracy']:.1f}% / {scores['psnr_db']:.2f} dB")
        print(f"| {recipe} | {args.steps} | {seconds:.0f} | " + " | ".join(cells) + " |", flush=True)
        print(json.dumps({"recipe": recipe, "cells": cells}), flush=True)


if __name__ == "__main__":
    main()
