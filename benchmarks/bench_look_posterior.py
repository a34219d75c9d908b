"""How sure is the model of the look, from the noisy video alone, against the exact posterior?

    python benchmarks/bench_look_posterior.py --model diffusers_textvid/pretrained_looks
    python benchmarks/bench_look_posterior.py --run RUN_FOLDER --step 1000   # a checkpoint's raw weights

For a model with scroll alignment. Each validation prompt gets a random full look; its render is noised to
each timestep, and nothing of the look is given to the model. For one prompt the 36 looks are 36 videos,
so the exact posterior over them follows from x_t alone (Gaussian likelihood of each render, equal
priors). Printed per timestep: the chance the exact posterior gives the true look, and the chance the
model's last block gives it, with how often each ranks it first. Denoising alone can only commit to one
look as early as the model's guess sharpens; where the exact column is near 1 and the model's is not, the
look is still a blur that later steps will split into ghosts.
"""

import argparse

import numpy as np
import torch

from diffusers_textvid import LOOKS_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.looks import all_looks
from diffusers_textvid.evaluation import evaluation_prompt_sets, exact_look_posterior, render_videos
from diffusers_textvid.training.training_model import checkpoint_pipeline

TIMESTEPS = (999, 959, 919, 879, 839, 799, 759, 719, 639, 519, 399, 279)


def look_posteriors(pipe, prompts: list[str], timesteps, seed: int = 0) -> list[dict]:
    """One row per timestep: `t`, and for the exact posterior and the model's last block the mean chance
    of the true look (`exact`, `model`) and the share of prompts where it ranks first (`exact_top`,
    `model_top`)."""
    transformer, scheduler = pipe.transformer, pipe.scheduler
    if getattr(transformer, "scroll_text", None) is None:
        raise ValueError("The model guesses no look: it has no scroll alignment (`scroll_cell_widths`).")
    generator = torch.Generator().manual_seed(seed)
    looks = all_looks()
    model_order = transformer.scroll_text.true_look(transformer.encode_looks(looks))  # all_looks() -> model's look number
    shape = (transformer.config.sample_frames, transformer.config.sample_size, transformer.config.sample_size)
    renders = np.stack([render_videos(prompts, look, shape) for look in looks], axis=1)  # (P, 36, F, S, S)
    renders = torch.from_numpy(renders * 2 - 1).float()
    rows = torch.arange(len(prompts))
    true = torch.randint(0, len(looks), (len(prompts),), generator=generator)
    clean = renders[rows, true][:, None]  # (P, 1, F, S, S)
    text, mask = pipe.encode_text(prompts, torch.device("cpu"))
    left_out = transformer.encode_looks([{}] * len(prompts))
    results = []
    for t in timesteps:
        timestep = torch.full((len(prompts),), t)
        noisy = scheduler.add_noise(clean, torch.randn(clean.shape, generator=generator), timestep)
        exact = exact_look_posterior(noisy, renders[:, :, None], scheduler.alphas_cumprod[t])  # (P, 36)
        with torch.no_grad():
            output = transformer(noisy, timestep, text, mask, look_ids=left_out)
        guess = output.look_logits[-1].softmax(dim=1)[:, model_order]  # (P, 36), in all_looks() order
        results.append({
            "t": t,
            "exact": exact[rows, true].mean().item(), "exact_top": (exact.argmax(1) == true).float().mean().item(),
            "model": guess[rows, true].mean().item(), "model_top": (guess.argmax(1) == true).float().mean().item(),
        })
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"A saved pipeline folder (default: {LOOKS_MODEL_DIR}).")
    parser.add_argument("--run", help="A training run's --output_dir; with --step, score that checkpoint.")
    parser.add_argument("--step", type=int)
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if (args.run is None) != (args.step is None):
        parser.error("--run and --step go together.")
    if args.run is not None:
        pipe, name = checkpoint_pipeline(args.run, args.step), f"{args.run} step {args.step}"
    else:
        pipe = TextVideoPipeline.from_pretrained(args.model or LOOKS_MODEL_DIR)
        name = args.model or LOOKS_MODEL_DIR
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    print(f"{name}: {len(prompts)} validation prompts, one random look each, every factor left out\n")
    print("| t | exact: chance of the true look | exact: ranks it first | model: chance | model: ranks it first |")
    print("|---|---|---|---|---|")
    for row in look_posteriors(pipe, prompts, TIMESTEPS, args.seed):
        print(f"| {row['t']} | {row['exact']:.2f} | {100 * row['exact_top']:.0f}% | {row['model']:.2f} | "
              f"{100 * row['model_top']:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
