"""The diffusion loss: targets, SNR weights for each prediction type, and a perfect prediction."""

import pytest
import torch

from diffusers_textvid import build_scheduler
from diffusers_textvid.diffusion_loss import (
    LOSS_WEIGHTINGS, LookEmphasis, OwnEstimateInputs, diffusion_loss, loss_weights, training_target,
)

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

    def forward(self, noisy, timesteps, text, mask, look_ids=None):
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


class PerfectWhenTrainedModel(PerfectModel):
    """Perfect on the gradient pass; without gradients (the own-estimate pass) it estimates a blank
    video. Records the timesteps and inputs of every call."""

    def __init__(self, scheduler, clean: torch.Tensor):
        super().__init__(scheduler, clean)
        self.calls, self.looks_seen = [], []

    def forward(self, noisy, timesteps, text, mask, look_ids=None):
        self.calls.append((torch.is_grad_enabled(), timesteps.clone(), noisy.clone()))
        self.looks_seen.append(look_ids)
        if torch.is_grad_enabled():
            return super().forward(noisy, timesteps, text, mask)
        blank = PerfectModel(self.scheduler, torch.full_like(noisy, -1.0))
        return blank.forward(noisy, timesteps, text, mask)


def own_estimate_case(tiny_pipeline, prediction_type: str, inputs: OwnEstimateInputs, seed: int = 1,
                      look_ids: torch.Tensor | None = None):
    scheduler = build_scheduler(prediction_type)
    clean = torch.rand(8, 1, 16, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model = PerfectWhenTrainedModel(scheduler, clean)
    loss = diffusion_loss(model, tiny_pipeline.text_encoder, tiny_pipeline.tokenizer, scheduler, ["AB"] * 8, clean,
                          torch.Generator().manual_seed(seed), 5.0, own_estimate_inputs=inputs,
                          look_ids=look_ids)
    return scheduler, clean, model, loss


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_own_estimate_inputs_still_ask_for_the_true_video(tiny_pipeline, prediction_type):
    scheduler, clean, model, loss = own_estimate_case(tiny_pipeline, prediction_type, OwnEstimateInputs(share=1.0))
    assert loss.item() < 1e-6  # the gradient pass, perfect for the true video, has nothing to learn
    (_, _, earlier_input), (_, timesteps, trained_input) = model.calls
    blank = torch.full_like(clean, -1.0)
    signal = scheduler.alphas_cumprod[timesteps].sqrt()[:, None, None, None, None]
    # x_t was made from the (blank) own estimate: it sits nearer the noised blank than the noised truth
    noise_scale = (1 - signal**2).sqrt()
    noise_if_blank = (trained_input - signal * blank) / noise_scale
    noise_if_true = (trained_input - signal * clean) / noise_scale
    assert noise_if_blank.std() < 1.1 < noise_if_true.std()


def test_own_estimate_rows_take_timesteps_from_the_band_and_estimate_from_earlier_steps(tiny_pipeline):
    inputs = OwnEstimateInputs(share=1.0, bands=((100, 300),), lookahead=(20, 200))
    _, _, model, _ = own_estimate_case(tiny_pipeline, "v_prediction", inputs)
    (earlier_grad, earlier, _), (trained_grad, timesteps, _) = model.calls
    assert not earlier_grad and trained_grad
    assert ((timesteps >= 100) & (timesteps < 300)).all()
    ahead = earlier - timesteps
    assert ((ahead >= 20) & (ahead <= 200)).all()


def test_own_estimate_rows_with_two_bands_take_timesteps_from_both_and_none_between(tiny_pipeline):
    inputs = OwnEstimateInputs(share=1.0, bands=((100, 110), (600, 610)))
    timesteps = torch.cat([own_estimate_case(tiny_pipeline, "v_prediction", inputs, seed=seed)[2].calls[1][1]
                           for seed in range(6)])  # 48 rows
    low, high = (timesteps >= 100) & (timesteps < 110), (timesteps >= 600) & (timesteps < 610)
    assert (low | high).all()
    assert low.sum() >= 10 and high.sum() >= 10  # even over the 20 steps: 24 each expected


def test_own_estimate_share_zero_is_the_plain_loss(tiny_pipeline):
    plain_scheduler, clean = build_scheduler("v_prediction"), torch.rand(4, 1, 16, 32, 32) * 2 - 1
    blank = PerfectModel(plain_scheduler, torch.zeros_like(clean))
    args = (tiny_pipeline.text_encoder, tiny_pipeline.tokenizer, plain_scheduler, ["AB"] * 4, clean)
    plain = diffusion_loss(blank, *args, torch.Generator().manual_seed(3), 5.0)
    zero_share = diffusion_loss(blank, *args, torch.Generator().manual_seed(3), 5.0,
                                own_estimate_inputs=OwnEstimateInputs(share=0.0))
    assert torch.equal(plain, zero_share)


@pytest.mark.parametrize("fields, phrase", [
    (dict(share=1.5), "share must be in"),
    (dict(bands=((300, 100),)), "bands must each be"),
    (dict(bands=((100, 300), (500, 500))), "bands must each be"),
    (dict(bands=()), "bands must each be"),
    (dict(lookahead=(0, 10)), "lookahead must be"),
])
def test_own_estimate_settings_out_of_range_are_rejected(fields, phrase):
    with pytest.raises(ValueError, match=phrase):
        OwnEstimateInputs(**fields)


def test_only_the_chosen_share_of_rows_is_estimated_and_noised_from_the_estimate(tiny_pipeline):
    scheduler, clean, model, loss = own_estimate_case(tiny_pipeline, "v_prediction", OwnEstimateInputs(share=0.5))
    (_, earlier, _), (_, timesteps, trained_input) = model.calls
    signal = scheduler.alphas_cumprod[timesteps].sqrt()[:, None, None, None, None]
    from_truth = ((trained_input - signal * clean) / (1 - signal**2).sqrt()).std(dim=(1, 2, 3, 4)) < 1.1  # (B,)
    assert 0 < len(earlier) < len(clean)
    assert int((~from_truth).sum()) == len(earlier)
    assert loss.item() < 1e-6


def test_own_estimates_of_a_model_with_looks_are_made_in_each_rows_own_look(tiny_pipeline):
    looks = torch.arange(8)[:, None] * torch.ones(1, 4, dtype=torch.long)  # (8, 4): row i asks for ids i
    scheduler, clean, model, _ = own_estimate_case(tiny_pipeline, "v_prediction", OwnEstimateInputs(share=0.5),
                                                   look_ids=looks)
    (_, _, _), (_, timesteps, trained_input) = model.calls
    estimate_looks, trained_looks = model.looks_seen
    signal = scheduler.alphas_cumprod[timesteps].sqrt()[:, None, None, None, None]
    from_truth = ((trained_input - signal * clean) / (1 - signal**2).sqrt()).std(dim=(1, 2, 3, 4)) < 1.1  # (B,)
    assert torch.equal(estimate_looks, looks[~from_truth])  # the estimate rows, each in its own look
    assert torch.equal(trained_looks, looks)


def scroll_pipeline():
    from diffusers_textvid import build_pipeline

    return build_pipeline("tiny", looks=True, transformer_overrides={
        "patch_size": (1, 32, 8), "scroll_cell_widths": {"bold": 35, "light": 34}})


def test_look_guess_weight_adds_the_cross_entropy_of_every_blocks_guess_of_the_true_look():
    pipe = scroll_pipeline()
    transformer = pipe.transformer
    true_look = {"direction": "left_to_right", "crossing_frames": 7, "vertical_offset": 0, "weight": "light"}
    wrong_look = true_look | {"direction": "right_to_left"}
    true_ids = transformer.encode_looks([true_look])
    given = transformer.encode_looks([{"vertical_offset": 0}])  # the rest of the look is left to the model
    clean = torch.zeros(1, 1, 16, 32, 32)

    def loss(weight: float) -> float:
        return diffusion_loss(transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, ["HI"], clean,
                              torch.Generator().manual_seed(0), look_ids=given, true_look_ids=true_ids,
                              look_guess_weight=weight).item()

    plain = loss(0.0)
    # Untrained, every block guesses the 12 looks the offset allows alike: the added term is weight * log 12.
    assert loss(0.1) == pytest.approx(plain + 0.1 * torch.log(torch.tensor(12.0)).item(), rel=1e-5)
    for favoured, lower in ((true_look, True), (wrong_look, False)):
        look = transformer.scroll_text.true_look(transformer.encode_looks([favoured])).item()
        with torch.no_grad():
            for block in transformer.blocks:
                block.look_choice.bias.zero_()
                block.look_choice.bias[look] = 5.0
        assert (loss(0.1) < plain + 0.1 * 2.0) == lower  # log 12 is about 2.48


def test_look_guess_weight_needs_scroll_alignment_and_full_looks(tiny_pipeline):
    with pytest.raises(ValueError, match="scroll alignment and the true looks"):
        diffusion_loss(tiny_pipeline.transformer, tiny_pipeline.text_encoder, tiny_pipeline.tokenizer,
                       tiny_pipeline.scheduler, ["HI"], torch.zeros(1, 1, 16, 32, 32),
                       torch.Generator().manual_seed(0), look_guess_weight=0.1)
    transformer = scroll_pipeline().transformer
    with pytest.raises(ValueError, match="every factor of the look given"):
        transformer.scroll_text.true_look(transformer.encode_looks([{"direction": "left_to_right"}]))


LIGHT_FAST = {"direction": "left_to_right", "crossing_frames": 7, "vertical_offset": 0, "weight": "light"}
BOLD_SLOW = {"direction": "right_to_left", "crossing_frames": 15, "vertical_offset": 2, "weight": "bold"}


def test_look_emphasis_multiplies_the_weights_of_the_named_values_below_its_timestep_only():
    emphasis = LookEmphasis({"weight": {"light": 2.0}, "crossing_frames": {7: 3.0}}, below_timestep=300)
    looks = [LIGHT_FAST, LIGHT_FAST | {"crossing_frames": 11}, BOLD_SLOW, LIGHT_FAST]
    weights = emphasis.row_weights(looks, torch.tensor([10, 299, 0, 300]))
    assert torch.equal(weights, torch.tensor([6.0, 2.0, 1.0, 1.0]))  # the last row is at the threshold


def test_look_emphasis_scales_the_loss_of_emphasised_videos_only(tiny_pipeline):
    """Every training timestep lies below 1000: light and fast videos weigh 2 x 3, bold and slow ones 1."""
    scheduler, clean = build_scheduler("v_prediction"), torch.rand(4, 1, 16, 32, 32) * 2 - 1
    blank = PerfectModel(scheduler, torch.zeros_like(clean))
    args = (tiny_pipeline.text_encoder, tiny_pipeline.tokenizer, scheduler, ["AB"] * 4, clean)
    plain = diffusion_loss(blank, *args, torch.Generator().manual_seed(3), 5.0)
    emphasis = LookEmphasis({"weight": {"light": 2.0}, "crossing_frames": {7: 3.0}}, below_timestep=1000)
    emphasised = diffusion_loss(blank, *args, torch.Generator().manual_seed(3), 5.0, look_emphasis=emphasis,
                                true_looks=[LIGHT_FAST] * 4)
    untouched = diffusion_loss(blank, *args, torch.Generator().manual_seed(3), 5.0, look_emphasis=emphasis,
                               true_looks=[BOLD_SLOW] * 4)
    torch.testing.assert_close(emphasised, 6.0 * plain)
    torch.testing.assert_close(untouched, plain)


@pytest.mark.parametrize("fields, phrase", [
    (dict(weights={"weight": {"light": 0.0}}), "must be positive"),
    (dict(weights={"weight": {"light": float("nan")}}), "must be positive"),
    (dict(weights={}, below_timestep=0), "below_timestep must be at least 1"),
])
def test_look_emphasis_settings_out_of_range_are_rejected(fields, phrase):
    with pytest.raises(ValueError, match=phrase):
        LookEmphasis(**fields)


def test_look_emphasis_needs_the_true_looks(tiny_pipeline):
    clean = torch.zeros(1, 1, 16, 32, 32)
    with pytest.raises(ValueError, match="look_emphasis needs the true look"):
        diffusion_loss(PerfectModel(tiny_pipeline.scheduler, clean), tiny_pipeline.text_encoder,
                       tiny_pipeline.tokenizer, tiny_pipeline.scheduler, ["HI"], clean,
                       torch.Generator().manual_seed(0), look_emphasis=LookEmphasis({"weight": {"light": 2.0}}))
