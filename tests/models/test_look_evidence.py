"""Look evidence (`look_evidence_width`): with templates that are the true videos, the evidence is the exact
posterior over them; a model given the part keeps its outputs until the templates learn, and the template
loss teaches them the videos."""

import math

import pytest
import torch

from diffusers_textvid import build_pipeline
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.diffusion_loss import diffusion_loss
from diffusers_textvid.models.look_evidence import LookEvidence
from diffusers_textvid.models.modeling_textvid import patchify
from diffusers_textvid.models.noise_schedule import training_alphas_cumprod
from tests.models.test_scroll_alignment import model_inputs, scroll_model
from training.extend_model import extend_transformer, parse_settings
from training.fit_look_templates import fit_look_templates

ALPHAS_CUMPROD = training_alphas_cumprod(1000, 1e-4, 0.02, "linear")


def identity_evidence(pixels: int) -> LookEvidence:
    """Evidence whose template pixels are its features themselves (E = P, identity map, no bias)."""
    evidence = LookEvidence(dim=4, patch_volume=pixels, template_width=pixels)
    with torch.no_grad():
        evidence.template_pixels.weight.copy_(torch.eye(pixels))
        evidence.template_pixels.bias.zero_()
    return evidence


@pytest.mark.parametrize("timestep", [999, 900, 800, 700])
def test_evidence_of_templates_that_are_the_videos_is_the_exact_posterior(timestep):
    generator = torch.Generator().manual_seed(timestep)
    scrolls, tokens, pixels = 5, 6, 16
    # Grey levels, so the videos' squared norms differ and the |r|^2 term counts.
    videos = torch.rand(1, scrolls, tokens, pixels, generator=generator) * 2 - 1  # (1, R, N, P)
    abar = ALPHAS_CUMPROD[timestep]
    signal, noise = abar.sqrt().float(), (1 - abar).sqrt().float()
    noisy = signal * videos[:, 2] + noise * torch.randn(1, tokens, pixels, generator=generator)  # (1, N, P)
    look_scrolls = torch.arange(scrolls)  # one look a scroll
    logits = identity_evidence(pixels)(noisy, videos, look_scrolls, torch.zeros(scrolls, dtype=torch.long),
                                       signal[None], noise[None])
    squared_distance = ((noisy[:, None] - signal * videos) ** 2).sum(dim=(2, 3))  # (1, R)
    exact = (-squared_distance / (2 * noise**2)).softmax(dim=1)
    torch.testing.assert_close(logits.softmax(dim=1), exact, atol=1e-5, rtol=1e-4)


def test_looks_of_one_scroll_share_its_evidence_and_low_noise_is_capped():
    generator = torch.Generator().manual_seed(0)
    videos = torch.randint(0, 2, (1, 2, 3, 4), generator=generator).float() * 2 - 1  # (1, R, N, P)
    look_scrolls = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # looks 0 and 1 scroll alike
    evidence = identity_evidence(4)
    signal, noise = torch.tensor([0.99]), torch.tensor([math.sqrt(1 - 0.99**2)])
    logits = evidence(videos[:, 0], videos, look_scrolls.argmax(dim=1), torch.zeros(3, dtype=torch.long), signal, noise)
    assert logits[0, 0] == logits[0, 1] != logits[0, 2]
    fit = (videos[:, 0, None] * videos).sum(dim=(2, 3)) - signal / 2 * videos.square().sum(dim=(2, 3))  # (1, R)
    torch.testing.assert_close(logits, evidence.max_scale * fit @ look_scrolls.T)


def test_variants_of_one_scroll_are_told_apart_by_their_pixel_maps():
    # Two looks of one scroll: the second shows the scroll's video with its pixels reversed.
    generator = torch.Generator().manual_seed(0)
    pixels = 8
    video = torch.randint(0, 2, (1, 1, 3, pixels), generator=generator).float() * 2 - 1  # (1, R=1, N, P)
    evidence = LookEvidence(dim=4, patch_volume=pixels, template_width=pixels, num_variants=2)
    with torch.no_grad():
        evidence.template_pixels.weight.copy_(torch.eye(pixels))
        evidence.template_pixels.bias.zero_()
        evidence.variant_maps[1] = torch.eye(pixels).flip(0)
    look_scrolls, look_variants = torch.zeros(2, dtype=torch.long), torch.tensor([0, 1])
    reversed_video = video[:, 0].flip(-1)  # (1, N, P)
    abar = ALPHAS_CUMPROD[700]
    signal, noise = abar.sqrt().float()[None], (1 - abar).sqrt().float()[None]
    for shown, other in ((video[:, 0], reversed_video), (reversed_video, video[:, 0])):
        logits = evidence(signal * shown, video, look_scrolls, look_variants, signal, noise)
        expected = signal / noise**2 * torch.cat([(signal * shown * candidate).sum() - signal / 2 * candidate.square().sum()
                                                   for candidate in (video[:, 0], reversed_video)])
        torch.testing.assert_close(logits[0], expected)
    torch.testing.assert_close(evidence.templates(video[:, 0], torch.tensor([1])), reversed_video)


def test_scroll_codes_tell_apart_scrolls_whose_text_lies_alike():
    # Two scrolls (bold and light, say) put the same text under every token but show different videos.
    generator = torch.Generator().manual_seed(0)
    tokens, pixels = 6, 8
    shown_text = torch.randn(1, 1, tokens, 4, generator=generator).expand(2, 2, tokens, 4)  # (B, R, N, D)
    videos = torch.randint(0, 2, (2, tokens, pixels), generator=generator).float() * 2 - 1  # video b has scroll b
    scrolls, variants = torch.tensor([0, 1]), torch.zeros(2, dtype=torch.long)
    evidence = LookEvidence(dim=4, patch_volume=pixels, template_width=32, num_scrolls=2)
    features = evidence.template_features(shown_text)
    torch.testing.assert_close(features[:, 0], features[:, 1])  # codes start at zero: one template for both
    optimizer = torch.optim.Adam(evidence.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        error = evidence.template_error(evidence.template_features(shown_text), scrolls, variants, videos)
        error.backward()
        optimizer.step()
    # One template for both could at best be their mean, whose error is half the pixels where they differ.
    shared_best = ((videos[0] - videos[1]) ** 2 / 4).mean()
    assert shared_best > 0.2 and error < 0.1 * shared_best


def test_a_model_given_evidence_keeps_its_outputs_until_the_templates_learn():
    model = scroll_model()
    extended = extend_transformer(model, {"look_evidence_width": 16})
    assert extended.look_evidence is not None and model.look_evidence is None
    video, timestep, text, mask = model_inputs()
    ids = model.encode_looks([{"direction": "left_to_right"}, {}])
    before, after = (net(video, timestep, text, mask, look_ids=ids) for net in (model, extended))
    torch.testing.assert_close(after.sample, before.sample)
    torch.testing.assert_close(after.look_logits, before.look_logits)
    assert after.look_template_features.shape == (2, len(model.scroll_text.scrolls), 16 * 4 * 4, 16)  # (B, R, N, E)
    with torch.no_grad():
        extended.look_evidence.template_pixels.weight.normal_(0, 1.0)
    changed = extended(video, timestep, text, mask, look_ids=ids)
    assert not torch.allclose(changed.look_logits[:, 1], before.look_logits[:, 1])  # every factor left out
    ruled_out = ~model.scroll_text.allowed(ids[:1])[0]  # (S,): the looks of the other direction
    assert (changed.look_logits[:, 0].softmax(-1)[:, ruled_out] == 0).all()


def test_extending_refuses_unknown_arguments_and_weights_without_a_place():
    model = scroll_model()
    with pytest.raises(ValueError, match="Unknown TextVideoDiTModel argument"):
        extend_transformer(model, {"look_evidence_widht": 16})
    with pytest.raises(ValueError, match="no place of the same shape"):
        extend_transformer(model, {"hidden_size": 64, "num_attention_heads": 4})
    with pytest.raises(ValueError, match="name=value"):
        parse_settings(["look_evidence_width"])
    with pytest.raises(ValueError, match="not a JSON value"):
        parse_settings(["attention_layout=factorised"])
    assert parse_settings(["look_evidence_width=8", 'attention_layout="factorised"']) == {
        "look_evidence_width": 8, "attention_layout": "factorised"}


def test_evidence_needs_scroll_alignment_and_a_width():
    with pytest.raises(ValueError, match="needs scroll alignment"):
        scroll_model(scroll_cell_widths=None, look_evidence_width=8)
    with pytest.raises(ValueError, match="look_evidence_width must be 0"):
        scroll_model(look_evidence_width=-1)


def test_the_template_loss_teaches_the_templates_the_true_videos():
    pipe = build_pipeline("tiny")
    pipe.transformer = extend_transformer(scroll_model(), {"look_evidence_width": 32})
    transformer = pipe.transformer
    generator = torch.Generator().manual_seed(0)
    look = {"crossing_frames": 11, "direction": "right_to_left", "weight": "bold", "vertical_offset": 0}
    prompts = ["HI", "AB12"]
    clean = torch.stack([torch.from_numpy(render_text_video(prompt, **look)) for prompt in prompts])
    clean = clean.float()[:, None] / 127.5 - 1  # (B, 1, F, H, W)
    true_ids = transformer.encode_looks([look] * 2)

    def template_error() -> float:
        with torch.no_grad():
            loss = diffusion_loss(transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, prompts, clean,
                                  torch.Generator().manual_seed(1), look_ids=true_ids, true_look_ids=true_ids,
                                  look_template_weight=1.0)
            plain = diffusion_loss(transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, prompts, clean,
                                   torch.Generator().manual_seed(1), look_ids=true_ids)
        return float(loss - plain)

    start = template_error()
    assert start == pytest.approx(torch.mean(patchify(clean, (1, 8, 8)) ** 2).item(), rel=1e-4)  # blank templates
    optimizer = torch.optim.Adam(transformer.look_evidence.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss = diffusion_loss(transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, prompts, clean, generator,
                              look_ids=true_ids, true_look_ids=true_ids, look_template_weight=1.0)
        loss.backward()
        optimizer.step()
    assert template_error() < 0.5 * start


def test_fitting_the_templates_alone_lowers_their_error_and_changes_no_other_weight():
    pipe = build_pipeline("tiny")
    pipe.transformer = extend_transformer(scroll_model(), {"look_evidence_width": 32})
    others = {name: weight.clone() for name, weight in pipe.transformer.state_dict().items()
              if not name.startswith("look_evidence.")}
    errors = fit_look_templates(pipe, steps=30, batch_size=8, learning_rate=1e-2, log_every=30)
    assert len(errors) == 30 and sum(errors[-5:]) / 5 < 0.6 * errors[0]
    for name, weight in others.items():
        torch.testing.assert_close(pipe.transformer.state_dict()[name], weight, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no look evidence to fit"):
        fit_look_templates(build_pipeline("tiny"), steps=1, batch_size=2, learning_rate=1e-2)
