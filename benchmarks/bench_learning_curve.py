"""Quality per CPU-minute of training: the shipped recipe vs the original design's recipe.

    python benchmarks/bench_learning_curve.py --minutes 3 --eval-every 1

Both recipes train in this one process, one after the other, on the same data stream, for the
same CPU time (`time.process_time`, evaluation excluded). At each mark the current weights are
scored with DDIM at 25 steps on validation prompts: character accuracy and PSNR.
"""

import argparse
import importlib.util
import time
from pathlib import Path

import torch

from diffusers_textvid import build_pipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.diffusion_loss import diffusion_loss
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets
from diffusers_textvid.schedulers import SCHEDULERS, build_sampling_pipeline

TRAIN_SCRIPT = Path(__file__).resolve().parent.parent / "training" / "train_textvid.py"
RECIPES = {
    # name: (preset, autocast dtype, learning rate, batch size)
    "shipped: small, v-prediction, bf16": ("small", torch.bfloat16, 5e-4, 32),
    "original: 2x4x4 patches, epsilon, fp32": ("original", None, 1e-4, 32),
}


def load_training_module():
    spec = importlib.util.spec_from_file_location("train_textvid", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(pipe, prompts: list[str]) -> dict:
    sampler = build_sampling_pipeline(pipe, SCHEDULERS["ddim"])
    pipe.transformer.eval()
    result = evaluate_pipeline(sampler, prompts, num_inference_steps=25, seed=0, batch_size=32)
    pipe.transformer.train()
    return result


def train_for(recipe: tuple, minutes: float, eval_every: float, prompts: list[str], training) -> list[tuple]:
    """Train one recipe for `minutes` of CPU time; return `(cpu_minutes, steps, char_acc, psnr)` marks."""
    preset, dtype, learning_rate, batch_size = recipe
    torch.manual_seed(0)
    pipe = build_pipeline(preset)
    parameters = list(pipe.transformer.parameters()) + list(pipe.text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    batches = iter(torch.utils.data.DataLoader(ScrollingTextDataset(seed=0), batch_size=batch_size))
    marks, cpu_seconds, step, next_mark = [], 0.0, 0, eval_every
    while cpu_seconds < minutes * 60:
        started = time.process_time()
        prompts_batch, clean = next(batches)
        generator = training.step_generator(0, 0, step)
        prompts_batch = training.drop_prompts(list(prompts_batch), 0.1, generator)
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = diffusion_loss(pipe.transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler,
                                           prompts_batch, clean, generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        cpu_seconds += time.process_time() - started
        if cpu_seconds >= next_mark * 60:
            result = score(pipe, prompts)
            marks.append((cpu_seconds / 60, step, result["char_accuracy"], result["psnr_db"]))
            print(f"  {cpu_seconds / 60:5.2f} CPU-min, step {step}: char {100 * result['char_accuracy']:.1f}% "
                  f"PSNR {result['psnr_db']:.1f} dB", flush=True)
            next_mark += eval_every
    return marks


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="CPU minutes of training per recipe")
    parser.add_argument("--eval-every", type=float, default=1.0, help="CPU minutes between scores")
    parser.add_argument("--num-prompts", type=int, default=32)
    args = parser.parse_args()
    training = load_training_module()
    prompts = evaluation_prompt_sets(args.num_prompts, 0)["validation"]
    curves = {}
    for name, recipe in RECIPES.items():
        print(name, flush=True)
        curves[name] = train_for(recipe, args.minutes, args.eval_every, prompts, training)
    print("\n| recipe | CPU-min | steps | char accuracy | PSNR (dB) |\n|---|---|---|---|---|")
    for name, marks in curves.items():
        for minutes, steps, accuracy, psnr in marks:
            print(f"| {name} | {minutes:.1f} | {steps} | {100 * accuracy:.1f}% | {psnr:.1f} |")


if __name__ == "__main__":
    main()
