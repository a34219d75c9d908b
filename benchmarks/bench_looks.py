"""Looks against sampling steps: control, coverage, characters and PSNR of a model trained with looks.

    python benchmarks/bench_looks.py --num-prompts 32
    python benchmarks/bench_looks.py --num-prompts 200 --samples-per-prompt 8 --modes denoised --samplers ddim:25 ddpm:50

Scores the shipped model with looks (or `--model`) with `evaluate_looks` (what `textvid eval
--looks` prints) for each of `--samplers` (default DDIM at 1, 2, 4, 8, 25 and 50 steps), on
`--num-prompts` seeded validation prompts: each asked for one random full look (control, characters), and
each sampled `--samples-per-prompt` times with every factor left out (coverage, the look the model picks,
and the characters read in that look). `--modes` picks how the pipeline leaves a look to the model:
`drawn` first draws the left-out factors from the model's guess of the look on the starting noise
(`draw_left_out_look=True`), `denoised` leaves them to the denoising alone (the pipeline's default). Denoising alone, one step can
only return the mean over the looks the model could pick, a blur of them; the table shows whether more
steps commit to one.
"""

import argparse
import itertools

from diffusers_textvid import LOOKS_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.evaluation import SAMPLES_PER_PROMPT, evaluate_looks, evaluation_prompt_sets
from diffusers_textvid.schedulers import swap_scheduler

DEFAULT_SAMPLERS = ("ddim:1", "ddim:2", "ddim:4", "ddim:8", "ddim:25", "ddim:50")
MODES = {"drawn": True, "denoised": False}  # name: draw_left_out_look


def parse_sampler(text: str) -> tuple[str, int]:
    """"ddim:25" -> ("ddim", 25)."""
    name, _, steps = text.partition(":")
    if not steps.isdigit():
        raise argparse.ArgumentTypeError(f"A sampler is scheduler:steps (e.g. ddim:25), got {text!r}.")
    return name, int(steps)


def looks_benchmark_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark of `evaluate_looks` takes: --model, --num-prompts, --samples-per-prompt, --seed."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=LOOKS_MODEL_DIR)
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--samples-per-prompt", type=int, default=SAMPLES_PER_PROMPT)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main():
    parser = looks_benchmark_parser(__doc__)
    parser.add_argument("--samplers", type=parse_sampler, nargs="+", default=[parse_sampler(s) for s in DEFAULT_SAMPLERS])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    factors = " | ".join(f"TV {factor}" for factor in LOOK_FACTORS)
    print(f"{len(prompts)} prompts, {args.samples_per_prompt} left-out samples each\n")
    print(f"| left out | sampler | control | characters | {factors} | PSNR control | PSNR left out | characters left out |")
    print("|---" * (7 + len(LOOK_FACTORS)) + "|")
    for mode, (scheduler, steps) in itertools.product(args.modes, args.samplers):
        swap_scheduler(pipe, scheduler, steps)
        result = evaluate_looks(pipe, prompts, num_inference_steps=steps, seed=args.seed,
                                     samples_per_prompt=args.samples_per_prompt, batch_size=64,
                                     draw_left_out_look=MODES[mode])
        coverage = " | ".join(f"{result['coverage_tv'][factor]:.3f}" for factor in LOOK_FACTORS)
        print(f"| {mode} | {scheduler} {steps} | {100 * result['control_accuracy']:.1f}% | {100 * result['char_accuracy']:.1f}% | "
              f"{coverage} | {result['control_psnr_db']:.1f} dB | {result['coverage_psnr_db']:.1f} dB | "
              f"{100 * result['coverage_char_accuracy']:.2f}% |", flush=True)


if __name__ == "__main__":
    main()
