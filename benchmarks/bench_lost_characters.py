"""Where a model with looks loses characters: by look, by symbol, and the asked looks it does not draw.

    python benchmarks/bench_lost_characters.py --num-prompts 160 --samples-per-prompt 4 --seed 1

Runs `evaluate_looks` as `bench_looks.py` does (one sampler, denoising alone: the pipeline's default) on
the shipped model with looks (or `--model`), then breaks its per-video scores down:
- the characters of the left-out videos (every factor left to the model) that are read wrong, by the
  weight and crossing of the look each video was found to show, and which symbols they were;
- the control videos (one full look asked) whose found look is not the asked one, with the factors that
  differ, the asked and the found value.
With `--trace N`, those control videos are sampled again with `denoising_trajectory`, and so are up to N
control videos that kept a look the missed ones were asked for (same asked values of the factors that
changed): per step, the squared distance of the clean-video estimate to the other look's render minus
its distance to the asked look's render (above 0: nearer the asked look; the other look of a kept video
is its asked look changed as the first matching miss changed).

    python benchmarks/bench_lost_characters.py --num-prompts 160 --samples-per-prompt 4 --seed 1 --trace 4
"""

import collections

from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.evaluation import evaluate_looks, evaluation_prompt_sets, render_videos
from diffusers_textvid.explain.denoising import denoising_trajectory
from diffusers_textvid.schedulers import swap_scheduler

from bench_looks import looks_benchmark_parser, parse_sampler


def lost_by_look(videos: list[dict], factors: tuple[str, str]) -> dict:
    """(value of factors[0], value of factors[1]) -> (characters read, characters lost) over `videos`,
    `evaluate_looks` per-video entries, each counted in the look it was found to show."""
    counts = collections.defaultdict(lambda: [0, 0])
    for video in videos:
        key = tuple(video["nearest_look"][factor] for factor in factors)
        counts[key][0] += len(video["characters_correct"])
        counts[key][1] += video["characters_correct"].count(False)
    return dict(counts)


def lost_symbols(videos: list[dict]) -> collections.Counter:
    """How often each symbol of the prompts is read wrong in `videos`."""
    return collections.Counter(
        symbol for video in videos for symbol, correct in zip(video["prompt"], video["characters_correct"]) if not correct
    )


def missed_looks(videos: list[dict]) -> list[tuple[str, dict]]:
    """(prompt, {factor: (asked, found)}) for every control video in `videos` not found in its asked look."""
    return [
        (video["prompt"], {factor: (value, video["nearest_look"][factor])
                           for factor, value in video["asked_look"].items() if video["nearest_look"][factor] != value})
        for video in videos if video["nearest_look"] != video["asked_look"]
    ]


def look_drift(pipe, prompt: str, seed: int, steps: int, asked: dict, other: dict) -> list[tuple[int, float]]:
    """(t, mse(estimate, render in `other`) - mse(estimate, render in `asked`)) at every step of sampling
    `prompt` in the look `asked` from noise seeded by `seed`."""
    trajectory = denoising_trajectory(pipe, prompt, steps, seed=seed, look=asked, show_steps=steps)
    shape = trajectory["estimates"].shape[1:]
    asked_render, other_render = (render_videos([prompt], look, shape)[0] * 2 - 1 for look in (asked, other))
    return [(t, float(((estimate - other_render) ** 2).mean() - ((estimate - asked_render) ** 2).mean()))
            for t, estimate in zip(trajectory["timesteps"], trajectory["estimates"])]


def traced_videos(control: list[dict], seed: int, kept_count: int) -> list[tuple[str, int, str, dict, dict]]:
    """(tag, seed, prompt, asked look, other look) of the control videos to trace: every miss (other: its
    found look), then up to `kept_count` videos kept in their asked look, whose asked values of a miss's
    changed factors are the miss's (other: their asked look changed as that miss changed)."""
    traced, changes = [], []  # changes: (asked values of the changed factors, found values), one per miss
    for i, video in enumerate(control):
        asked, found = video["asked_look"], video["nearest_look"]
        if found != asked:
            traced.append(("missed", seed + i, video["prompt"], asked, found))
            changed = [factor for factor in asked if found[factor] != asked[factor]]
            changes.append(({factor: asked[factor] for factor in changed}, {factor: found[factor] for factor in changed}))
    kept = []
    for i, video in enumerate(control):
        asked = video["asked_look"]
        if len(kept) == kept_count or video["nearest_look"] != asked:
            continue
        change = next((found for before, found in changes if before.items() <= asked.items()), None)
        if change is not None:
            kept.append(("kept", seed + i, video["prompt"], asked, asked | change))
    return traced + kept


def main():
    parser = looks_benchmark_parser(__doc__)
    parser.add_argument("--sampler", type=parse_sampler, default=parse_sampler("ddim:25"))
    parser.add_argument("--trace", type=int, default=None, metavar="N",
                        help="Trace the missed control videos and up to N kept ones along the sampling.")
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    scheduler, steps = args.sampler
    swap_scheduler(pipe, scheduler, steps)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    result = evaluate_looks(pipe, prompts, num_inference_steps=steps, seed=args.seed,
                            samples_per_prompt=args.samples_per_prompt, batch_size=64, draw_left_out_look=False)
    control, left_out = result["per_video"][:len(prompts)], result["per_video"][len(prompts):]

    print(f"{scheduler} {steps}, {len(prompts)} prompts (seed {args.seed}), {args.samples_per_prompt} left-out videos each: "
          f"characters left out {100 * result['coverage_char_accuracy']:.2f}%, control {100 * result['control_accuracy']:.1f}%\n")
    print("| weight | crossing frames | characters | lost | share lost |\n|---|---|---|---|---|")
    for (weight, crossing), (read, lost) in sorted(lost_by_look(left_out, ("weight", "crossing_frames")).items()):
        print(f"| {weight} | {crossing} | {read} | {lost} | {100 * lost / read:.2f}% |")
    symbols = lost_symbols(left_out).most_common()
    print("\nsymbols lost (left out):", ", ".join(f"{symbol} {count}" for symbol, count in symbols) or "none")
    misses = missed_looks(control)
    print(f"\ncontrol videos not in the asked look: {len(misses)} of {len(control)}")
    for prompt, differences in misses:
        print(f"  {prompt}: " + ", ".join(f"{factor} asked {asked}, found {found}" for factor, (asked, found) in differences.items()))

    if args.trace is not None:
        print("\nestimate's distance to the other look's render minus to the asked look's, every other step:")
        for tag, video_seed, prompt, asked, other in traced_videos(control, args.seed, args.trace):
            drift = look_drift(pipe, prompt, video_seed, steps, asked, other)[::2]
            print(f"  {tag} {prompt} seed {video_seed}: " + " ".join(f"{t}:{value:+.3f}" for t, value in drift))


if __name__ == "__main__":
    main()
