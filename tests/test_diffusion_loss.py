"""The diffusion loss: targets, SNR weights for each prediction type, and a perfect prediction."""

import pytest
import torch

from diffusers_textvid import build_scheduler
from diffusers_textvid.diffusion_loss import LOSS_WEIGHTINGS, diffusion_loss, loss_weights, training_target

TIMESTEPS = torch.tensor([0, 10, 250, 500, 999])


def snr_of(scheduler, timesteps: torch.Tensor) -> torch.Tensor:
    alphas_cumprod = scheduler.alphas_cumprod[timesteps].double()
    return alphas_cumprod / (1 - alphas_cumprod)


def test_velocity_target_is_signal_times_noise_minus_noise_scale_times_clean():
    scheduler = build_scheduler("v_prediction")
    generator = torch.Generator().manual_seed(0)
    clean, noise = torch.randn(5, 1, 4, 8, 8, generator=generator), torch.randn(5, 1, 4, 8, 8, generator=generator)
    alphas_cumprod = scheduler.alphas_cumprod[TIMESTEPS][:, None, None, None, None]
    expected = alphas_cumprod.sqrt() * noise - (1 - alphas_cumprod).sqrt() * clean
    torch.testing.assert_close(training_target(scheduler, clean, noise, TIMESTEPS), expected)


@pytest.mark.parametrize("prediction_type, expected", [("epsilon", "noise"), ("sample", "clean")])
def test_epsilon_and_sample_targets_are_the_noise_and_the_clean_video(prediction_type, expected):
    clean, noise = torch.zeros(2, 1, 4, 8, 8), torch.ones(2, 1, 4, 8, 8)
    target = training_target(build_scheduler(prediction_type), clean, noise, TIMESTEPS[:2])
    assert torch.equal(target, {"noise": noise, "clean": clean}[expected])


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_weights_are_ones_without_snr_gamma(prediction_type):
    assert torch.equal(loss_weights(build_scheduler(prediction_type), TIMESTEPS, None), torch.ones(5))


@pytest.mark.parametrize("weighting", sorted(LOSS_WEIGHTINGS))
@pytest.mark.parametrize("prediction_type, target_scale", [
    ("epsilon", lambda snr: snr),  # squared epsilon error = squared clean-video error * SNR
    ("v_prediction", lambda snr: snr + 1),  # squared velocity error = squared clean-video error * (SNR + 1)
    ("sample", lambda snr: torch.ones_like(snr)),
])
def test_snr_weights_times_the_target_scale_give_the_clean_video_weighting(prediction_type, target_scale, weighting):
    scheduler = build_scheduler(prediction_type)
    snr = snr_of(scheduler, TIMESTEPS)
    clean_video_weights = loss_weights(scheduler, TIMESTEPS, 5.0, weighting).double() * target_scale(snr)
    expected = torch.clamp(snr, max=5.0) if weighting == "min_snr" else torch.clamp(snr + 1, max=5.0)
    torch.testing.assert_close(clean_video_weights, expected, rtol=1e-4, atol=1e-6)


def test_min_snr_plus_one_keeps_the_noisiest_step_while_min_snr_nearly_drops_it():
    scheduler = build_scheduler("v_prediction")
    noisiest = torch.tensor([999])
    assert loss_weights(scheduler, noisiest, 5.0, "min_snr").item() < 1e-3
    assert loss_weights(scheduler, noisiest, 5.0, "min_snr_plus_one").item() == pytest.approx(1.0, abs=1e-6)


def test_unknown_weighting_is_rejected_by_name():
    with pytest.raises(ValueError, match="'snr_squared'"):
        loss_weights(build_scheduler("v_prediction"), TIMESTEPS, 5.0, "snr_squared")


class PerfectModel(torch.nn.Module):
    """Returns the exact target: it is handed the clean video and reads the noise back from x_t."""

    def __init__(self, scheduler, clean: torch.Tensor):
        super().__init__()
        self.scheduler, self.clean = scheduler, clean

    def forward(self, noisy, timesteps, text, mask):
        alphas_cumprod = self.scheduler.alphas_cumprod[timesteps][:, None, None, None, None]
        noise = (noisy - alphas_cumprod.sqrt() * self.clean) / (1 - alphas_cumprod).sqrt()
        return type("Output", (), {"sample": training_target(self.scheduler, self.clean, noise, timesteps)})


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_a_perfect_prediction_has_zero_loss_and_a_blank_one_does_not(tiny_pipeline, prediction_type):
    scheduler = build_scheduler(prediction_type)
    clean = torch.rand(3, 1, 16, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    args = (tiny_pipeline.text_encoder, tiny_pipeline.tokenizer, scheduler, ["AB", "C", "123"], clean)
    perfect = diffusion_loss(PerfectModel(scheduler, clean), *args, torch.Generator().manual_seed(1), 5.0)
    blank = diffusion_loss(PerfectModel(scheduler, torch.zeros_like(clean)), *args, torch.Generator().manual_seed(1))
    assert perfect.item() < 1e-6
    assert blank.item() > 1e-2
