"""The training loss: noise a clean video, ask the model for its target, weight the error per noise level.

Weights are defined on the error of the clean-video estimate x_0 and then expressed for the
target the scheduler names: an error e in x_0 is an error e * sqrt(SNR) in epsilon and
e * sqrt(SNR + 1) in velocity, so their squared errors are the x_0 one times SNR and SNR + 1.

`OwnEstimateInputs` trains on the inputs a sampler really hands the model: x_t made from the
model's own earlier estimate rather than from the true video, still asking for the true video.
`LookEmphasis` weighs the videos of chosen looks more where x_t already shows the look.
"""

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from diffusers.training_utils import compute_snr

from .models.attention_capture import AttentionRecorder
from .models.modeling_textvid import patchify

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


def prediction_to_clean_video(scheduler, prediction: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor):
    """The clean-video estimate `(B, C, F, H, W)` in a model output of the scheduler's prediction type,
    clipped to [-1, 1] as the samplers clip it."""
    alphas_cumprod = scheduler.alphas_cumprod.to(noisy.device)[timesteps].float()[:, None, None, None, None]
    signal, noise_scale = alphas_cumprod.sqrt(), (1 - alphas_cumprod).sqrt()
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        clean = (noisy - noise_scale * prediction) / signal
    elif prediction_type == "v_prediction":
        clean = signal * noisy - noise_scale * prediction
    elif prediction_type == "sample":
        clean = prediction
    else:
        raise ValueError(f"Unknown prediction_type {prediction_type!r}.")
    return clean.clamp(-1, 1)


@dataclass(frozen=True)
class OwnEstimateInputs:
    """Noise the model's own estimate, not the true video, for a share of each batch.

    A sampler hands the model x_t built from the model's estimate at the previous, noisier step. Where
    that estimate is a little blurred, a model trained only on true videos can blur it further, and a
    deterministic sampler keeps what it is given: long DDIM runs lose several dB at the middle noise
    levels. For `share` of the batch, t is drawn evenly from the timesteps of `bands` (each [low, high);
    several bands for several places along the trajectory, e.g. where the look is decided and where
    the strokes are), the model estimates the video (without gradients) from the true video noised
    `lookahead` steps earlier, and x_t is made from that estimate; the target is still the true video.
    """

    share: float = 0.5
    bands: tuple[tuple[int, int], ...] = ((100, 300),)
    lookahead: tuple[int, int] = (20, 200)

    def __post_init__(self):
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"OwnEstimateInputs share must be in [0, 1], got {self.share}.")
        if not self.bands or any(len(band) != 2 or not 0 <= band[0] < band[1] for band in self.bands):
            raise ValueError(f"OwnEstimateInputs bands must each be [low, high) with 0 <= low < high, got {self.bands}.")
        if not 1 <= self.lookahead[0] <= self.lookahead[1]:
            raise ValueError(f"OwnEstimateInputs lookahead must be 1 <= low <= high, got {self.lookahead}.")


def own_estimate_sources(
    transformer, scheduler, clean: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
    generator: torch.Generator, inputs: OwnEstimateInputs, look_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sources (B, C, F, H, W), timesteps (B,))`: the videos to noise into x_t and the timesteps to use.

    Rows not chosen keep `clean` and their timestep; chosen rows get a timestep in the bands and the
    model's estimate from `lookahead` steps earlier. Draws nothing from `generator` when `share` is 0,
    and the same amount for any choice of rows otherwise.
    """
    if inputs.share == 0.0:
        return clean, timesteps
    batch, last = clean.shape[0], scheduler.config.num_train_timesteps - 1
    chosen = (torch.rand(batch, generator=generator) < inputs.share).to(clean.device)
    in_bands = torch.zeros(last + 1, dtype=torch.bool)
    for low, high in inputs.bands:
        in_bands[low:high] = True
    allowed = in_bands.nonzero().squeeze(1)
    band_steps = allowed[torch.randint(len(allowed), (batch,), generator=generator)]
    timesteps = torch.where(chosen, band_steps.to(clean.device), timesteps)
    ahead = torch.randint(inputs.lookahead[0], inputs.lookahead[1] + 1, (batch,), generator=generator)
    earlier = (timesteps + ahead.to(clean.device)).clamp(max=last)
    earlier_noise = torch.randn(clean.shape, generator=generator).to(clean.device)
    rows = chosen.nonzero().squeeze(1)  # only the chosen rows pay for the extra model call
    if len(rows) == 0:
        return clean, timesteps
    with torch.no_grad():
        earlier_noisy = scheduler.add_noise(clean[rows], earlier_noise[rows], earlier[rows])
        looks = None if look_ids is None else look_ids[rows]
        output = transformer(earlier_noisy, earlier[rows], text[rows].detach(), text_mask[rows], look_ids=looks).sample
        estimate = prediction_to_clean_video(scheduler, output.float(), earlier_noisy.float(), earlier[rows])
    sources = clean.clone()
    sources[rows] = estimate.to(clean.dtype)
    return sources, timesteps


@dataclass(frozen=True)
class SymbolAttention:
    """A loss on where cross-attention looks: in `blocks`, the heads' mean attention of every video token
    that shows a symbol's ink should fall on that symbol's text token. The labels come from the renderer
    (`data.symbol_layout`); the model never reads them, so it learns the layout and samples without it."""

    weight: float
    blocks: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        if not self.weight > 0:
            raise ValueError(f"SymbolAttention weight must be above 0, got {self.weight}.")
        if not self.blocks or any(block < 0 for block in self.blocks):
            raise ValueError(f"SymbolAttention blocks must be block numbers (0 or more), got {self.blocks}.")


def symbol_attention_loss(probabilities: dict[int, torch.Tensor], token_symbols: torch.Tensor) -> torch.Tensor:
    """Mean over the recorded blocks and the video tokens that show ink of -log(the attention, heads averaged,
    on the symbols they show). `probabilities`: block -> `(B, heads, N, L)`; `token_symbols` bool `(B, N, L)`
    (`data.symbol_layout.token_symbols`). 0 when no token shows ink (every prompt dropped)."""
    inked = token_symbols.any(dim=2)  # (B, N)
    if not inked.any():
        return torch.zeros((), device=token_symbols.device)
    losses = []
    for weights in probabilities.values():
        on_symbols = (weights.mean(dim=1) * token_symbols).sum(dim=2)  # (B, N)
        losses.append(-on_symbols[inked].clamp(min=1e-6).log().mean())
    return torch.stack(losses).mean()


@dataclass(frozen=True)
class LookEmphasis:
    """A heavier loss on the videos of some looks, at timesteps below `below_timestep` only.

    Below it x_t already shows its look, so a weight that follows the true look sharpens the strokes of
    that look without moving which look the model picks from noise; at high t the same weight would pull
    the model's average over the looks toward the heavier ones. `weights` maps factor -> {value: weight},
    e.g. {"weight": {"light": 2.0}}; a video's weight is the product over its factors (1 for values not named).
    """

    weights: dict[str, dict]
    below_timestep: int = 300

    def __post_init__(self):
        if self.below_timestep < 1:
            raise ValueError(f"LookEmphasis below_timestep must be at least 1, got {self.below_timestep}.")
        for factor, values in self.weights.items():
            for value, weight in values.items():
                if not weight > 0:  # (also true for NaN)
                    raise ValueError(f"LookEmphasis weight of {factor}={value} must be positive, got {weight}.")

    def row_weights(self, true_looks: list[dict], timesteps: torch.Tensor) -> torch.Tensor:
        """`(B,)` float32 multipliers of each video's loss: the weight of its full look in `true_looks`
        where its timestep in `timesteps` `(B,)` is below `below_timestep`, else 1."""
        look_weights = torch.tensor([
            math.prod(self.weights.get(factor, {}).get(value, 1.0) for factor, value in look.items())
            for look in true_looks
        ], dtype=torch.float32)
        return torch.where(timesteps.cpu() < self.below_timestep, look_weights, torch.ones(()))


def diffusion_loss(
    transformer, text_encoder, tokenizer, scheduler, prompts: list[str], clean: torch.Tensor,
    generator: torch.Generator, snr_gamma: float | None = None, weighting: str = "min_snr",
    own_estimate_inputs: OwnEstimateInputs | None = None, look_ids: torch.Tensor | None = None,
    true_look_ids: torch.Tensor | None = None, look_guess_weight: float = 0.0,
    symbol_attention: SymbolAttention | None = None, token_symbols: torch.Tensor | None = None,
    look_template_weight: float = 0.0, look_emphasis: LookEmphasis | None = None,
    true_looks: list[dict] | None = None,
) -> torch.Tensor:
    """Noise `clean` `(B, 1, F, H, W)` at random timesteps and return the weighted MSE to the target.

    `look_ids` `(B, K)` are the look ids of a model trained with looks (see
    `TextVideoDiTModel.encode_looks`), None for one without. With `look_guess_weight` above 0 (a
    model with scroll alignment), the loss adds that times the cross-entropy of every block's guess of the
    look against the true one, from `true_look_ids` `(B, K)`, the full looks: the guesses learn
    the chance of each look given the noisy video and the factors given.
    With `look_template_weight` above 0 (a model with look evidence), the loss adds that times the mean
    squared error between the template of each video's true look and the true video, patch by patch.
    With `symbol_attention`, the loss adds its weight times `symbol_attention_loss` against `token_symbols`
    `(B, N, L)`, where the renderer drew each prompt's symbols.
    With `look_emphasis`, each video's squared error is also multiplied by `LookEmphasis.row_weights` of
    its full look in `true_looks` (one dict per video).
    With `own_estimate_inputs`, part of the batch is noised from the model's own estimate (see
    `OwnEstimateInputs`); the target always leads back to `clean`.
    All randomness comes from `generator` (a CPU generator), so a step is a pure function of its inputs.
    """
    batch = clean.shape[0]
    noise = torch.randn(clean.shape, generator=generator).to(clean.device)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator).to(clean.device)
    tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt")
    tokens = tokens.to(clean.device)
    text = text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    sources = clean
    if own_estimate_inputs is not None:
        sources, timesteps = own_estimate_sources(
            transformer, scheduler, clean, timesteps, text, tokens.attention_mask, generator, own_estimate_inputs,
            look_ids,
        )
    noisy = scheduler.add_noise(sources, noise, timesteps)
    if sources is not clean:
        # The noise that makes x_t out of the true video: the target then asks for the true video.
        alphas_cumprod = scheduler.alphas_cumprod.to(clean.device)[timesteps][:, None, None, None, None]
        noise = (noisy - alphas_cumprod.sqrt() * clean) / (1 - alphas_cumprod).sqrt()
    recorder = AttentionRecorder(transformer, "cross", symbol_attention.blocks) if symbol_attention else nullcontext()
    with recorder:
        output = transformer(noisy, timesteps, text, tokens.attention_mask, look_ids=look_ids)
    target = training_target(scheduler, clean, noise, timesteps)
    per_sample = torch.mean((output.sample.float() - target.float()) ** 2, dim=(1, 2, 3, 4))  # (B,)
    weights = loss_weights(scheduler, timesteps, snr_gamma, weighting).to(per_sample.device)
    if look_emphasis is not None:
        if true_looks is None:
            raise ValueError("look_emphasis needs the true look of every video (`true_looks`).")
        weights = weights * look_emphasis.row_weights(true_looks, timesteps).to(per_sample.device)
    loss = (per_sample * weights).mean()
    if look_guess_weight:
        if output.look_logits is None or true_look_ids is None:
            raise ValueError("look_guess_weight needs a model with scroll alignment and the true looks.")
        true_look = transformer.scroll_text.true_look(true_look_ids).to(clean.device)  # (B,)
        guesses = output.look_logits.log_softmax(dim=2)  # (num_layers, B, S)
        loss = loss - look_guess_weight * guesses.gather(2, true_look.expand(len(guesses), -1)[:, :, None]).mean()
    if look_template_weight:
        if output.look_template_features is None or true_look_ids is None:
            raise ValueError("look_template_weight needs a model with look evidence and the true looks.")
        scrolls, variants = transformer.scroll_text.true_scroll_and_variant(true_look_ids)  # (B,) each
        clean_tokens = patchify(clean, transformer.config.patch_size)  # (B, N, P)
        error = transformer.look_evidence.template_error(output.look_template_features, scrolls, variants, clean_tokens)
        loss = loss + look_template_weight * error
    if symbol_attention is not None:
        if token_symbols is None:
            raise ValueError("symbol_attention needs `token_symbols`, where the renderer drew each symbol.")
        loss = loss + symbol_attention.weight * symbol_attention_loss(recorder.probabilities, token_symbols.to(clean.device))
    return loss
