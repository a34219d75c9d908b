"""One video along its denoising trajectory: the sample and the model's clean-video estimate at each step."""

import numpy as np
import torch

from ..diffusion_loss import prediction_to_clean_video


def denoising_trajectory(pipe, prompt: str, num_inference_steps: int = 25, seed: int = 0, look: dict | None = None,
                         show_steps: int = 6) -> dict:
    """Sample `prompt` (guidance 1, the pipeline's scheduler) from noise seeded by `seed`, and keep
    `show_steps` evenly spaced steps, the last included.

    Returns `steps` (step indices), `timesteps`, `samples` and `estimates` float32 `(S, F, H, W)` in
    [-1, 1]: the sample after that step and the clean video the model estimated at it (from its
    prediction at that step's input, through the scheduler's prediction type), and `video`, the
    pipeline's output `(F, H, W)` in [0, 1]. A forward hook reads the transformer's calls; the
    video is the one the same call without it gives.
    """
    estimates = []

    def keep_estimate(transformer, args, kwargs, output):
        noisy, timesteps = args[0], args[1]
        estimates.append(prediction_to_clean_video(pipe.scheduler, output.sample.float(), noisy.float(), timesteps))

    samples = []

    def keep_sample(pipeline, step_index, timestep, tensors):
        samples.append(tensors["latents"].float())
        return {}

    handle = pipe.transformer.register_forward_hook(keep_estimate, with_kwargs=True)
    try:
        video = pipe(prompt, num_inference_steps=num_inference_steps, generator=torch.Generator().manual_seed(seed),
                     look=look, output_type="np", callback_on_step_end=keep_sample).frames[0, ..., 0]  # (F, H, W)
    finally:
        handle.remove()
    estimates = estimates[-len(samples):]  # a model with scroll alignment makes one call before the loop
    steps = np.unique(np.linspace(0, len(samples) - 1, show_steps).round().astype(int))
    timesteps = pipe.scheduler.timesteps.cpu().numpy()
    return {
        "steps": steps.tolist(),
        "timesteps": [int(timesteps[step]) for step in steps],
        "samples": np.stack([samples[step][0, 0].cpu().numpy() for step in steps]),
        "estimates": np.stack([estimates[step][0, 0].cpu().numpy() for step in steps]),
        "video": video,
    }
