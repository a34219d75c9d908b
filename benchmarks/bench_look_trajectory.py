"""When does denoising decide the look? Every factor left out, the look of each step's clean-video estimate.

    python benchmarks/bench_look_trajectory.py --model FOLDER --num-prompts 30 --seeds 8

For `--num-prompts` validation prompts x `--seeds` seeds, a model with looks samples with every factor of
the look left out (no `look=`; a model with scroll alignment is also kept from drawing the look from its
classifier, `draw_left_out_look=False`), DDIM at `--steps` (or `--scheduler`, e.g. `ddpm --steps 50`).
At every step a forward hook turns the transformer's prediction into its clean-video estimate, and
`nearest_look` names the look of that estimate. Printed: per step, the share of videos whose estimate
already has each factor of the final video's look (the step where a factor is decided is where this
reaches 1); then the coverage of the final looks (total-variation distance from even draws, per factor,
as `evaluate_looks` reports it) and their PSNR against the render of their nearest look.

With `--lean` (a model with scroll alignment): who decided it. At every step the x_t the sampler hands
the model is scored against the prompt's 36 renders (the exact posterior over them, equal priors) and
set beside the chances the model's last block gives the looks. A sampler draws each look as often as
training showed it only if the guess stays near that posterior; where the model leans to one value while
x_t is still undecided, it pushes every video that way. Printed per step and factor: the value the model
favours most over the exact posterior (mean chance, model minus exact), and in brackets the look
evidence's own lean (`LookEvidence` alone, for a model with it).

    python benchmarks/bench_look_trajectory.py --model FOLDER --num-prompts 8 --seeds 8 --lean
"""

import argparse

import numpy as np
import torch

from diffusers_textvid.data.looks import LOOK_FACTORS, all_looks
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.diffusion_loss import prediction_to_clean_video
from diffusers_textvid.evaluation import (
    exact_look_posterior, look_coverage, look_video_scores, nearest_look, render_videos,
)
from diffusers_textvid.pipelines.pipeline_textvid import TextVideoPipeline
from diffusers_textvid.schedulers import SCHEDULERS, swap_scheduler


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


def guesses_along_trajectory(pipe, prompts: list[str], seeds: int, steps: int) -> list[dict]:
    """One dict per step: `t`, and float `(V, 36)` chances of the looks of `all_looks()` for the V =
    len(prompts) * seeds videos: `exact` (from x_t and the renders), `model` (last block) and `evidence`
    (look evidence alone; None without it)."""
    transformer = pipe.transformer
    if getattr(transformer, "scroll_text", None) is None:
        raise ValueError("This model guesses no look: it has no scroll alignment (`scroll_cell_widths`).")
    looks = all_looks()
    order = transformer.scroll_text.true_look(transformer.encode_looks(looks))  # all_looks() -> model's look
    video_prompts = [prompt for prompt in prompts for _ in range(seeds)]
    shape = (transformer.config.sample_frames, transformer.config.sample_size, transformer.config.sample_size)
    renders = np.stack([render_videos(video_prompts, look, shape) for look in looks], axis=1)  # (V, 36, F, H, W)
    renders = torch.from_numpy(renders * 2 - 1).float()[:, :, None]  # (V, 36, 1, F, H, W)
    alphas_cumprod = pipe.scheduler.alphas_cumprod
    rows, evidence = [], []

    def keep_guesses(module, args, kwargs, output):
        noisy, timestep = args[0], int(args[1].flatten()[0])
        rows.append({"t": timestep, "exact": exact_look_posterior(noisy, renders, alphas_cumprod[timestep]),
                     "model": output.look_logits[-1].float().softmax(dim=1)[:, order]})

    handles = [transformer.register_forward_hook(keep_guesses, with_kwargs=True)]
    if getattr(transformer, "look_evidence", None) is not None:
        handles.append(transformer.look_evidence.register_forward_hook(
            lambda module, args, output: evidence.append(output.float().softmax(dim=1)[:, order])))
    try:
        pipe(video_prompts, num_inference_steps=steps, output_type="np", draw_left_out_look=False,
             generator=[torch.Generator().manual_seed(seed) for seed in range(len(video_prompts))])
    finally:
        for handle in handles:
            handle.remove()
    for row, step_evidence in zip(rows, evidence or [None] * len(rows)):
        row["evidence"] = step_evidence
    return rows


def factor_chances(chances: torch.Tensor, factor: str) -> torch.Tensor:
    """`(k,)`: the mean chance of each value of `factor`, over the videos, from `chances` `(V, 36)`."""
    values = [look[factor] for look in all_looks()]
    return torch.stack([chances[:, [value == wanted for value in values]].sum(dim=1).mean()
                        for wanted in LOOK_FACTORS[factor]])


def lean(chances: torch.Tensor, exact: torch.Tensor, factor: str) -> tuple[str, float]:
    """The value of `factor` that `chances` favour most over `exact` (both `(V, 36)`), and by how much."""
    gap = factor_chances(chances, factor) - factor_chances(exact, factor)
    return str(LOOK_FACTORS[factor][int(gap.argmax())]), float(gap.max())


def print_leans(pipe, prompts: list[str], seeds: int, steps: int):
    """The `--lean` table: per step and factor, the model's and the evidence's lean over the exact posterior."""
    print("model's lean over the exact posterior of x_t (evidence alone in brackets)\n")
    print("| step | t | " + " | ".join(LOOK_FACTORS) + " |")
    print("|---|---|" + "---|" * len(LOOK_FACTORS))
    for step, row in enumerate(guesses_along_trajectory(pipe, prompts, seeds, steps)):
        cells = []
        for factor in LOOK_FACTORS:
            value, gap = lean(row["model"], row["exact"], factor)
            cell = f"{value} {gap:+.2f}"
            if row["evidence"] is not None:
                evidence_value, evidence_gap = lean(row["evidence"], row["exact"], factor)
                cell += f" ({evidence_value} {evidence_gap:+.2f})"
            cells.append(cell)
        print(f"| {step} | {row['t']} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved pipeline folder of a model with looks.")
    parser.add_argument("--num-prompts", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--scheduler", default="ddim", choices=list(SCHEDULERS), help="The sampler (default ddim).")
    parser.add_argument("--lean", action="store_true", help="Print who decided the look instead (scroll alignment).")
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    swap_scheduler(pipe, args.scheduler, args.steps)
    prompts = list(validation_prompts())[: args.num_prompts]
    if args.lean:
        print(f"{args.model}: {len(prompts)} prompts x {args.seeds} seeds, every factor left out, {args.scheduler} {args.steps}")
        print_leans(pipe, prompts, args.seeds, args.steps)
        return

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
    print(f"{args.model}: {len(prompts)} prompts x {args.seeds} seeds, every factor left out, {args.scheduler} {args.steps}\n")
    print("| step | t | " + " | ".join(LOOK_FACTORS) + " |")
    print("|---|---|" + "---|" * len(LOOK_FACTORS))
    for step in range(args.steps):
        print(f"| {step} | {timesteps[step]} | " + " | ".join(f"{100 * share:.0f}%" for share in agreement[step]) + " |")
    _, tv = look_coverage(final_looks)
    print("\ncoverage TV: " + ", ".join(f"{factor} {value:.2f}" for factor, value in tv.items())
          + f"; PSNR against the nearest render {np.mean(psnrs):.2f} dB")


if __name__ == "__main__":
    main()
