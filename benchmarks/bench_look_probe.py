"""Does a model trained with looks use them? A probe that needs no sampling, for checkpoints mid-run.

    python benchmarks/bench_look_probe.py --checkpoint runs/varied/checkpoint-2000
    python benchmarks/bench_look_probe.py --model path/to/saved/pipeline
    python benchmarks/bench_look_probe.py --checkpoint runs/varied/checkpoint-2000 --vary direction

Validation prompts are rendered in random looks (every factor drawn, or only those of `--vary`) and
noised to x_t at a few large t, where the noise hides the look; the transformer, asked for the true
look, estimates the clean video. For each factor it prints how often the nearest look of that
estimate (`nearest_variation`) has the asked value: a model that ignores a factor scores chance there
(1/2 or 1/3), one that obeys it 100%.
The PSNR of the estimate against the true render is printed beside.
"""

import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import load_file

from diffusers_textvid import TextVideoPipeline, build_pipeline
from diffusers_textvid.data.dataset import video_to_model_space
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.variations import DEFAULT_VARIATION, VARIATIONS, all_variations
from diffusers_textvid.diffusion_loss import prediction_to_clean_video
from diffusers_textvid.evaluation import evaluation_prompt_sets, nearest_variation, psnr


def load_checkpoint(folder: str, preset: str, model_config: str | None = None, looks: bool = True) -> TextVideoPipeline:
    """The preset's pipeline, with looks unless `looks` is False and its transformer arguments overridden by
    the JSON file `model_config` (as in training), holding the training weights of an accelerate checkpoint
    folder written by training/train_textvid.py (its `model.safetensors`: `transformer.*` and `text_encoder.*`)."""
    overrides = None
    if model_config:
        with open(model_config) as file:
            overrides = json.load(file)
    pipe = build_pipeline(preset, variations=looks, transformer_overrides=overrides)
    state = load_file(os.path.join(folder, "model.safetensors"))
    for name in ("transformer", "text_encoder"):
        prefix = name + "."
        getattr(pipe, name).load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return pipe


@torch.no_grad()
def probe(pipe, prompts: list[str], looks: list[dict], timestep: int, seed: int) -> tuple[float, dict[str, float]]:
    """Mean PSNR (dB) of the clean-video estimate at `timestep`, and per factor the share of estimates whose
    nearest look has the asked value."""
    clean = torch.stack([video_to_model_space(render_text_video(p, **look)) for p, look in zip(prompts, looks)])
    timesteps = torch.full((len(prompts),), timestep)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    noisy = pipe.scheduler.add_noise(clean, noise, timesteps)  # (B, 1, F, H, W)
    text, mask, _, _ = pipe.encode_prompt(
        prompts, do_classifier_free_guidance=False, device=clean.device, dtype=pipe.transformer.dtype
    )
    prediction = pipe.transformer(noisy, timesteps, text, mask,
                                  variation_ids=pipe.transformer.encode_variations(looks)).sample
    estimate = prediction_to_clean_video(pipe.scheduler, prediction, noisy, timesteps)  # (B, 1, F, H, W)
    to_unit = lambda video: ((video[:, 0].double() + 1) / 2).clamp(0, 1).numpy()  # (B, F, H, W) in [0, 1]
    estimates, truths = to_unit(estimate), to_unit(clean)
    nearest = [nearest_variation(video, prompt) for video, prompt in zip(estimates, prompts)]
    shares = {factor: float(np.mean([n[factor] == look[factor] for n, look in zip(nearest, looks)]))
              for factor in VARIATIONS}
    return float(np.mean([psnr(e, t) for e, t in zip(estimates, truths)])), shares


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a checkpoint-N folder of a --variations training run")
    source.add_argument("--model", help="a saved pipeline folder trained with looks")
    parser.add_argument("--preset", default="small", help="with --checkpoint: the run's --model_preset")
    parser.add_argument("--model-config", help="with --checkpoint: the run's --model_config JSON")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[900, 600])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vary", nargs="*", default=list(VARIATIONS), choices=list(VARIATIONS), metavar="FACTOR",
                        help="factors drawn at random (default: all); the others keep their first value. "
                             "`--vary` alone probes the default look.")
    args = parser.parse_args()

    if args.checkpoint:
        pipe = load_checkpoint(args.checkpoint, args.preset, args.model_config)
    else:
        pipe = TextVideoPipeline.from_pretrained(args.model)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    fixed = {factor: value for factor, value in DEFAULT_VARIATION.items() if factor not in args.vary}
    candidates = [look for look in all_variations() if fixed.items() <= look.items()]
    looks = [candidates[int(i)] for i in np.random.default_rng(args.seed).integers(len(candidates), size=len(prompts))]
    print(f"{args.checkpoint or args.model}: {len(prompts)} validation prompts, each in a random look "
          f"({', '.join(args.vary) or 'none'} drawn, the other factors at their first value)\n")
    print("| t | PSNR (dB) | " + " | ".join(VARIATIONS) + " |")
    print("|---" * (len(VARIATIONS) + 2) + "|")
    for timestep in args.timesteps:
        psnr, shares = probe(pipe, prompts, looks, timestep, args.seed + timestep)
        print(f"| {timestep} | {psnr:.1f} | " + " | ".join(f"{100 * shares[f]:.0f}%" for f in VARIATIONS) + " |")


if __name__ == "__main__":
    main()
