"""Where is a sampled video wrong, and can a skip from x_t at low noise take it back?

    python benchmarks/bench_error_anatomy.py --model diffusers_textvid/pretrained --num-prompts 32

Part 1, anatomy: DDIM videos at 1, 4 and 25 steps against the true renders, split by what the
true pixel is (background 0, full ink 1, or an anti-aliased edge in between): each class's share
of the squared error, its RMS error and its mean error. Then, per frame, the integer horizontal
shift of the true text strip that matches the frame best: 0 everywhere means the text is in the
right place and the error is in how it is drawn.

Part 2, a skip from x_t: the model's clean-video estimate is blended with the input, as in the
c_skip of Karras et al. (EDM), x0' = c x_t / sqrt(abar_t) + (1 - c) x0 with c = s^2 / (sigma_t^2 + s^2)
and sigma_t = sqrt(1 - abar_t) / sqrt(abar_t), with no retraining. For each skip scale s: the
one-call estimate from a true x_t at several t (as `bench_denoise_curve`), and DDIM samples at
8, 25 and 50 steps. s = 0 is the model as it is.
"""

import argparse

import numpy as np
import torch

from bench_denoise_curve import clean_estimate_psnr
from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data import render
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets, generate_videos, render_videos
from diffusers_textvid.models.modeling_textvid import clean_video_to_prediction, signal_and_noise_scales
from diffusers_textvid.schedulers import swap_scheduler

SHIFTS = (-2, -1, 0, 1, 2)
SKIP_SCALES = (0.0, 0.08, 0.11, 0.15, 0.2)
CURVE_TIMESTEPS = (999, 300, 150, 100, 50, 20)


def error_by_pixel_class(videos: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Per class of true pixel: (share of the squared error, RMS error, mean error); videos `(N, 16, 32, 32)`."""
    error = videos - truth
    classes = {"background": truth == 0, "ink": truth == 1, "edge": (truth > 0) & (truth < 1)}
    total = float((error**2).sum())
    return {
        name: (float((error[mask] ** 2).sum()) / total, float(np.sqrt((error[mask] ** 2).mean())), float(error[mask].mean()))
        for name, mask in classes.items()
    }


def best_shifts(video: np.ndarray, prompt: str) -> list[int]:
    """For frames 1-14 of `video` `(16, 32, 32)` (default look), the shift of the true strip window that fits best."""
    windows, starts = render.text_windows(prompt)  # (S, 32, 32) uint8, (16,)
    return [
        min(SHIFTS, key=lambda shift: float(((windows[starts[frame] + shift] / 255.0 - video[frame]) ** 2).mean()))
        for frame in range(1, 15)
    ]


def add_skip(pipe, skip_scale: float):
    """Hook `pipe.transformer` so its output carries the blended estimate; returns the hook handle."""
    model = pipe.transformer
    prediction_type = model.config.prediction_type
    if prediction_type != "v_prediction":
        raise ValueError(f"The skip blend reads the model output as a velocity; this model predicts {prediction_type!r}.")

    def blend(module, args, output):
        noisy, timestep = args[0], args[1]
        signal, noise = signal_and_noise_scales(model.alphas_cumprod, timestep)
        a, s = signal[:, None, None, None, None], noise[:, None, None, None, None]
        clean = a * noisy - s * output.sample  # x0 from the velocity
        weight = skip_scale**2 / ((s / a) ** 2 + skip_scale**2)
        blended = weight * noisy / a + (1 - weight) * clean
        output.sample = clean_video_to_prediction(blended, noisy, signal, noise, prediction_type)
        return output

    return model.register_forward_hook(blend)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]
    truth = render_videos(prompts)  # (N, 16, 32, 32) in [0, 1]
    print(f"pixels of the true renders: background {np.mean(truth == 0):.1%}, ink {np.mean(truth == 1):.1%}, "
          f"edge {np.mean((truth > 0) & (truth < 1)):.1%}\n")
    print("| DDIM steps | PSNR | background: share / RMS / mean | ink: share / RMS / mean | edge: share / RMS / mean "
          "| frames whose best shift is 0 |")
    print("|---|---|---|---|---|---|")
    for steps in (1, 4, 25):
        swap_scheduler(pipe, "ddim", steps)
        videos, _ = generate_videos(pipe, prompts, args.seed, 32, num_inference_steps=steps)
        mse = float(((videos - truth) ** 2).mean())
        classes = error_by_pixel_class(videos, truth)
        shifts = [shift for video, prompt in zip(videos, prompts) for shift in best_shifts(video, prompt)]
        cells = [f"{share:.0%} / {rms:.3f} / {mean:+.3f}" for share, rms, mean in classes.values()]
        print(f"| {steps} | {-10 * np.log10(mse):.2f} dB | " + " | ".join(cells)
              + f" | {shifts.count(0)} of {len(shifts)} |", flush=True)

    print("\n| skip scale s | " + " | ".join(f"t={t}" for t in CURVE_TIMESTEPS) + " | DDIM 8 | DDIM 25 | DDIM 50 |")
    print("|---|" + "---|" * (len(CURVE_TIMESTEPS) + 3))
    for skip_scale in SKIP_SCALES:
        handle = add_skip(pipe, skip_scale)
        swap_scheduler(pipe, "ddpm")
        curve = [clean_estimate_psnr(pipe, prompts, t, args.seed) for t in CURVE_TIMESTEPS]
        sampled = []
        for steps in (8, 25, 50):
            swap_scheduler(pipe, "ddim", steps)
            sampled.append(evaluate_pipeline(pipe, prompts, num_inference_steps=steps, seed=args.seed, batch_size=32))
        handle.remove()
        print(f"| {skip_scale} | " + " | ".join(f"{psnr:.1f}" for psnr in curve) + " | "
              + " | ".join(f"{100 * r['char_accuracy']:.1f}% / {r['psnr_db']:.2f} dB" for r in sampled) + " |", flush=True)


if __name__ == "__main__":
    main()
