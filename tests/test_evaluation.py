import numpy as np
import pytest
import torch
from conftest import build_tiny_pipeline

from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.data.looks import all_looks, check_look
from diffusers_textvid.evaluation import (
    HOLDOUT_SET_SIZE,
    PSNR_CAP_DB,
    character_correct,
    evaluate_pipeline,
    evaluation_prompt_sets,
    exact_look_posterior,
    ink_look_checks,
    nearest_look,
    psnr,
    render_videos,
)
from diffusers_textvid.schedulers import swap_scheduler

BLACK = np.zeros((16, 32, 32))
LARGER_SHAPES = [(16, 64, 64), (64, 64, 64)]


def true_render(prompt: str) -> np.ndarray:
    return render_videos([prompt])[0]


@pytest.mark.parametrize("prompt", ["A", "HELLO", "ABC123", "AS"])
def test_true_render_gets_every_character_right(prompt):
    assert character_correct(true_render(prompt), prompt) == [True] * len(prompt)


@pytest.mark.parametrize("prompt", ["WM8", "ABCDEF"])
def test_black_video_gets_no_character_right(prompt):
    # No symbol of these prompts is the faintest at its position, so some variant is closer to black.
    assert character_correct(BLACK, prompt) == [False] * len(prompt)


@pytest.mark.parametrize("position", range(5))
def test_render_differing_at_one_position_is_wrong_there_only(position):
    prompt = "HELLO"
    other = prompt[:position] + "Z" + prompt[position + 1 :]
    correct = character_correct(true_render(other), prompt)
    assert correct == [i != position for i in range(len(prompt))]
    assert sum(correct) / len(correct) == (len(prompt) - 1) / len(prompt)


def test_lower_case_prompt_is_scored_as_upper_case():
    assert character_correct(true_render("AB"), "ab") == [True, True]


def test_video_in_minus_one_to_one_range_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        character_correct(true_render("AB") * 2 - 1, "AB")


def test_video_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((16, 32)), np.zeros((16, 32)))


def test_videos_of_two_sizes_are_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"\(16, 64, 64\), got \(16, 32, 32\)"):
        psnr(true_render("HELLO"), render_videos(["HELLO"], None, (16, 64, 64))[0])


@pytest.mark.parametrize("shape", [(16, 32, 24), (16, 8, 8), (1, 32, 32)])
def test_a_video_the_renderer_has_no_size_for_is_refused(shape):
    with pytest.raises(ValueError, match="shape|frame_size|num_frames"):
        character_correct(np.zeros(shape), "AB")


@pytest.mark.parametrize("shape", LARGER_SHAPES)
def test_true_render_of_a_larger_size_scores_every_character_the_psnr_cap_and_its_look(shape):
    look = check_look({"direction": "left_to_right", "crossing_frames": 11, "vertical_offset": -2})
    video = render_videos(["AB12"], look, shape)[0]
    assert video.shape == shape
    assert character_correct(video, "AB12", look) == [True] * 4
    assert psnr(video, video) == PSNR_CAP_DB
    assert nearest_look(video, "AB12") == look
    assert all(ink_look_checks(video, "AB12", look).values())


@pytest.mark.parametrize("shape", LARGER_SHAPES)
def test_black_video_of_a_larger_size_scores_no_character_and_a_low_psnr(shape):
    black = np.zeros(shape)
    assert character_correct(black, "WM8") == [False] * 3
    assert 0 < psnr(black, render_videos(["HELLO"], None, shape)[0]) < 15


def test_psnr_of_true_render_is_the_cap():
    video = true_render("HELLO")
    assert psnr(video, video) == PSNR_CAP_DB


def test_psnr_of_black_video_is_finite_and_low():
    value = psnr(BLACK, true_render("HELLO"))
    assert np.isfinite(value) and 0 < value < 15


def test_psnr_drops_as_noise_grows():
    video = true_render("HELLO")
    rng = np.random.default_rng(0)
    noisy = [np.clip(video + scale * rng.standard_normal(video.shape), 0, 1) for scale in (0.01, 0.1)]
    assert PSNR_CAP_DB > psnr(noisy[0], video) > psnr(noisy[1], video)


def test_prompt_sets_have_the_asked_sizes_and_hold_outs():
    sets = evaluation_prompt_sets(num_prompts=80, seed=1)
    assert len(sets["validation"]) == 80 and len(set(sets["validation"])) == 80
    assert set(sets["validation"]) <= set(validation_prompts())
    assert len(sets["holdout_leading_a"]) == len(sets["holdout_s_second"]) == HOLDOUT_SET_SIZE
    assert all(p[0] == "A" and p[1:2] != "S" for p in sets["holdout_leading_a"])
    assert all(p[1] == "S" and p[0] != "A" for p in sets["holdout_s_second"])
    assert sets["AS"] == ["AS"]


def test_small_prompt_sets_shrink_the_hold_outs_too():
    sizes = {name: len(prompts) for name, prompts in evaluation_prompt_sets(num_prompts=3).items()}
    assert sizes == {"validation": 3, "holdout_leading_a": 3, "holdout_s_second": 3, "AS": 1}


def test_prompt_sets_depend_on_the_seed_only():
    assert evaluation_prompt_sets(20, seed=5) == evaluation_prompt_sets(20, seed=5)
    assert evaluation_prompt_sets(20, seed=5)["validation"] != evaluation_prompt_sets(20, seed=6)["validation"]


@pytest.mark.parametrize("sample_size", [32, 64])
def test_evaluate_pipeline_reports_the_metrics(sample_size):
    pipe = build_tiny_pipeline(transformer_overrides={"sample_size": sample_size})
    results = evaluate_pipeline(pipe, ["A", "bc", "XYZ"], num_inference_steps=2, seed=0, batch_size=2)
    assert results["num_prompts"] == 3
    for key in ("char_accuracy", "prompt_accuracy", "psnr_db", "seconds_per_video"):
        assert np.isfinite(results[key])
    assert 0 <= results["char_accuracy"] <= 1 and 0 <= results["prompt_accuracy"] <= 1
    assert [result["prompt"] for result in results["per_prompt"]] == ["A", "BC", "XYZ"]
    assert [len(result["characters_correct"]) for result in results["per_prompt"]] == [1, 2, 3]


def test_evaluate_pipeline_refuses_a_pipeline_whose_size_the_renderer_cannot_draw():
    pipe = build_tiny_pipeline(transformer_overrides={"sample_size": 8})  # one 8x8 patch a frame
    with pytest.raises(ValueError, match="renderer cannot draw.*frame_size must be at least 16 .*got 8"):
        evaluate_pipeline(pipe, ["AB"], num_inference_steps=1)


def test_evaluate_pipeline_scores_do_not_depend_on_batch_size(perturbed_pipeline):
    swap_scheduler(perturbed_pipeline, "ddpm")  # stochastic at every step, so the noise seeding is tested throughout
    one_by_one, all_at_once = (
        evaluate_pipeline(perturbed_pipeline, ["AB", "CD", "EF"], num_inference_steps=3, seed=7, batch_size=size)
        for size in (1, 3)
    )
    assert [r["psnr_db"] for r in one_by_one["per_prompt"]] == pytest.approx(
        [r["psnr_db"] for r in all_at_once["per_prompt"]], abs=1e-4
    )


def test_ink_checks_pass_the_true_render_in_every_look():
    for look in all_looks():
        assert all(ink_look_checks(render_text_video("HELLO", **look) / 255.0, "HELLO", look).values()), look


def test_ink_checks_need_no_symbol_right():
    # every symbol differs, the length and the look do not
    for look in all_looks()[::5]:
        other_text = render_text_video("QXZ97", **look) / 255.0
        assert all(ink_look_checks(other_text, "HELLO", look).values()), look


@pytest.mark.parametrize(
    "factor, drawn", [("direction", "left_to_right"), ("crossing_frames", 7), ("vertical_offset", 2)]
)
def test_ink_checks_fail_the_factor_drawn_otherwise(factor, drawn):
    asked = {"direction": "right_to_left", "crossing_frames": 11, "vertical_offset": -2, "weight": "bold"}
    video = render_text_video("AB12", **(asked | {factor: drawn})) / 255.0
    checks = ink_look_checks(video, "AB12", asked)
    assert not checks[factor]
    # the height shows in the ink per row, whatever the motion; the motion checks may fail together
    assert checks["vertical_offset"] == (factor != "vertical_offset")


def test_the_exact_look_posterior_finds_the_true_video_at_low_noise_and_none_at_pure_noise():
    generator = torch.Generator().manual_seed(0)
    renders = torch.randint(0, 2, (3, 5, 1, 4, 8, 8), generator=generator).float() * 2 - 1  # (B, K, C, F, H, W)
    true = torch.tensor([0, 3, 4])
    clean = renders[torch.arange(3), true]  # (B, C, F, H, W)
    for alpha_cumprod, expect_sure in ((0.5, True), (1e-6, False)):
        noisy = alpha_cumprod**0.5 * clean + (1 - alpha_cumprod) ** 0.5 * torch.randn(clean.shape, generator=generator)
        chances = exact_look_posterior(noisy, renders, alpha_cumprod)
        torch.testing.assert_close(chances.sum(dim=1), torch.ones(3))
        if expect_sure:
            assert (chances[torch.arange(3), true] > 0.99).all()
        else:
            assert (chances - 0.2).abs().max() < 0.05  # 5 candidates, nothing to tell them apart
