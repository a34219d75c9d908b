"""The training loss: noise a clean video, ask the model for its target, weight the error per noise level.

Weights are defined on the error of the clean-video estimate x_0 and then expressed for the
target the scheduler names: an error e in x_0 is an error e * sqrt(SNR) in epsilon and
e * sqrt(SNR + 1) in velocity, so their squared errors are the x_0 one times SNR and SNR + 1.
"""

import torch
from diffusers.training_utils import compute_snr

# name: weight of the x_0 squared error at signal-to-noise ratio `snr`, capped at `gamma`.
LOSS_WEIGHTINGS = {
    # Min-SNR-gamma (Hang et al., 2023), as in Diffusers' training examples: min(SNR, gamma).
    "min_snr": lambda snr, gamma: torch.clamp(snr, max=gamma),
    # min(SNR + 1, gamma): like min_snr where the signal dominates, but never below the plain x_0 loss,
    # so the noisiest steps, which set where each symbol goes, still teach.
    "min_snr_plus_one": lambda snr, gamma: torch.clamp(snr + 1, max=gamma),
}


def training_target(scheduler, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the model must predict, as `scheduler.config.prediction_type` names it. `(B, C, F, H, W)`."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(clean, noise, timesteps)
    if prediction_type == "sample":
        return clean
    raise ValueError(f"Unknown prediction_type {prediction_type!r}.")


def loss_weights(
    scheduler, timesteps: torch.Tensor, snr_gamma: float | None, weighting: str = "min_snr"
) -> torch.Tensor:
    """`(B,)` float32 weights of the squared error in the scheduler's target: ones when `snr_gamma`
    is None, else `LOSS_WEIGHTINGS[weighting]` divided by how the target scales the x_0 error."""
    if snr_gamma is None:
        return torch.ones(timesteps.shape, dtype=torch.float32)
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"Unknown loss weighting {weighting!r}; choose one of {sorted(LOSS_WEIGHTINGS)}.")
    snr = compute_snr(scheduler, timesteps).float()
    weights = LOSS_WEIGHTINGS[weighting](snr, snr_gamma)
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return weights / snr
    if prediction_type == "v_prediction":
        return weights / (snr + 1)
    return weights


def diffusion_loss(
    transformer, text_encoder, tokenizer, scheduler, prompts: list[str], clean: torch.Tensor,
    generator: torch.Generator, snr_gamma: float | None = None, weighting: str = "min_snr",
) -> torch.Tensor:
    """Noise `clean` `(B, 1, F, H, W)` at random timesteps and return the weighted MSE to the target.

    All randomness comes from `generator` (a CPU generator), so a step is a pure function of its inputs.
    """
    batch = clean.shape[0]
    noise = torch.randn(clean.shape, generator=generator).to(clean.device)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator).to(clean.device)
    noisy = scheduler.add_noise(clean, noise, timesteps)
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt")
    tokens = tokens.to(clean.device)
    text = text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    prediction = transformer(noisy, timesteps, text, tokens.attention_mask).sample
    target = training_target(scheduler, clean, noise, timesteps)
    per_sample = torch.mean((prediction.float() - target.float()) ** 2, dim=(1, 2, 3, 4))  # (B,)
    weights = loss_weights(scheduler, timesteps, snr_gamma, weighting).to(per_sample.device)
    return (per_sample * weights).mean()
