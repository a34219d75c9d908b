"""The noise schedule maths of the clean-video parametrization: the training schedule's cumulative
alphas (from the stock `DDPMScheduler`), the signal and noise scales at any timestep, and the turn of
a clean-video estimate into the target a scheduler of each prediction type expects."""

import torch
from diffusers.schedulers import DDPMScheduler

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def training_alphas_cumprod(num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str):
    """`(T,)` float64 cumulative products of (1 - beta), taken from the stock `DDPMScheduler` itself."""
    try:
        scheduler = DDPMScheduler(num_train_timesteps, beta_start, beta_end, beta_schedule)
    except NotImplementedError as error:
        raise ValueError(f"beta_schedule {beta_schedule!r} is not supported by DDPMScheduler: {error}") from None
    return scheduler.alphas_cumprod.double()


def signal_and_noise_scales(alphas_cumprod: torch.Tensor, timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sqrt(abar_t), sqrt(1 - abar_t))`, each `(B,)` float32, with x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

    `timestep` `(B,)` may be fractional (Euler-type schedulers): `abar` is interpolated linearly.
    """
    t = timestep.detach().to("cpu", torch.float64).clamp(0, len(alphas_cumprod) - 1)
    low = t.floor().long()
    high = (low + 1).clamp(max=len(alphas_cumprod) - 1)
    fraction = t - low
    abar = alphas_cumprod[low] * (1 - fraction) + alphas_cumprod[high] * fraction
    return abar.sqrt().float().to(timestep.device), (1 - abar).sqrt().float().to(timestep.device)


def clean_video_to_prediction(
    clean: torch.Tensor, noisy: torch.Tensor, signal: torch.Tensor, noise: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """Turn a clean-video estimate `(B, C, F, H, W)` into what a scheduler of `prediction_type` expects.

    `noisy` is x_t; `signal`, `noise` `(B,)` are sqrt(abar_t) and sqrt(1 - abar_t). The x_t terms carry
    the input at full resolution, so the estimate has no noise to reproduce.
    """
    signal, noise = signal[:, None, None, None, None], noise[:, None, None, None, None]
    if prediction_type == "v_prediction":
        return (signal * noisy - clean) / noise
    if prediction_type == "epsilon":
        return (noisy - signal * clean) / noise
    if prediction_type == "sample":
        return clean
    raise ValueError(f"prediction_type {prediction_type!r} is not one of {PREDICTION_TYPES}.")
