from types import SimpleNamespace

import numpy as np
import pytest
import torch

from diffusers_textvid.data.looks import DEFAULT_LOOK, LOOK_FACTORS, all_looks
from diffusers_textvid.evaluation import PSNR_CAP_DB, evaluate_looks, render_videos

# Each factor's total-variation distance from even draws when every video takes the same value: (k - 1) / k.
ONE_VALUE_TV = {"direction": 1 / 2, "crossing_frames": 2 / 3, "vertical_offset": 2 / 3, "weight": 1 / 2}


class FakeLookPipeline:
    """Stands in for a pipeline trained with looks; every video is the true render of its prompt.

    A factor asked for is obeyed; one left out comes from `all_looks()[noise seed % 36]`, so any 36
    consecutive seeds draw every look exactly once. `ignores_looks`: every video is in the default look,
    whatever is asked. `noise`: add Gaussian noise of that standard deviation, drawn from the video's
    generator. `seeds` records the noise seed of every video, call by call. The videos are of
    `video_shape` `(F, S, S)`, the size its transformer config gives. `misspells_last_symbol_unasked`: a video
    with every factor left out shows its last symbol as another one.
    """

    def __init__(self, ignores_looks: bool = False, noise: float = 0.0, looks=dict(LOOK_FACTORS),
                 video_shape: tuple = (16, 32, 32), misspells_last_symbol_unasked: bool = False):
        config = SimpleNamespace(looks=looks, sample_frames=video_shape[0], sample_size=video_shape[1])
        self.transformer = SimpleNamespace(config=config)
        self.ignores_looks, self.noise, self.video_shape = ignores_looks, noise, video_shape
        self.misspells_last_symbol_unasked = misspells_last_symbol_unasked
        self.seeds = []

    def __call__(self, prompt, generator, output_type, look=None, **options):
        prompts = [prompt] if isinstance(prompt, str) else prompt
        asked_looks = look if isinstance(look, list) else [look or {}] * len(prompts)
        assert output_type == "np" and len(generator) == len(asked_looks) == len(prompts)
        self.seeds.append([noise.initial_seed() for noise in generator])
        videos = []
        for text, asked, noise in zip(prompts, asked_looks, generator):
            look = DEFAULT_LOOK if self.ignores_looks else all_looks()[noise.initial_seed() % 36] | asked
            wrong_last = text[:-1] + ("B" if text[-1] == "A" else "A")
            shown = wrong_last if self.misspells_last_symbol_unasked and not asked else text
            video = render_videos([shown], look, self.video_shape)[0]  # (F, S, S)
            if self.noise:
                video = np.clip(video + self.noise * torch.randn(video.shape, generator=noise).double().numpy(), 0, 1)
            videos.append(video)
        return SimpleNamespace(frames=np.stack(videos)[..., None])  # (B, F, S, S, 1)


@pytest.mark.parametrize("video_shape", [(16, 32, 32), (16, 64, 64)])
def test_obedient_even_model_scores_full_control_and_zero_distance_from_even(video_shape):
    # 2 prompts x 18 samples: 36 consecutive seeds, every look drawn once.
    results = evaluate_looks(FakeLookPipeline(video_shape=video_shape), ["HI", "a7"], samples_per_prompt=18,
                             batch_size=8)
    assert results["control_accuracy"] == 1.0
    assert results["control_accuracy_per_factor"] == {factor: 1.0 for factor in LOOK_FACTORS}
    assert results["char_accuracy"] == results["prompt_accuracy"] == results["coverage_char_accuracy"] == 1.0
    assert results["control_psnr_db"] == results["coverage_psnr_db"] == PSNR_CAP_DB
    assert results["coverage_tv"] == {factor: pytest.approx(0.0) for factor in LOOK_FACTORS}
    assert results["coverage_tv_max"] == pytest.approx(0.0)
    assert results["coverage_shares"]["crossing_frames"] == {value: pytest.approx(1 / 3) for value in (15, 11, 7)}
    assert (results["num_prompts"], results["samples_per_prompt"], len(results["per_video"])) == (2, 18, 2 + 36)


def test_model_that_ignores_looks_scores_the_exact_distance_of_always_one_value():
    results = evaluate_looks(FakeLookPipeline(ignores_looks=True), ["HI", "AB", "XYZ", "7"], samples_per_prompt=3)
    asked = [video["asked_look"] for video in results["per_video"][:4]]
    assert all(set(look) == set(LOOK_FACTORS) for look in asked)  # control asks for every factor
    assert results["control_accuracy"] == np.mean([look == DEFAULT_LOOK for look in asked]) < 0.5
    for factor in LOOK_FACTORS:
        expected = np.mean([look[factor] == DEFAULT_LOOK[factor] for look in asked])
        assert results["control_accuracy_per_factor"][factor] == pytest.approx(expected)
    assert results["coverage_tv"] == pytest.approx(ONE_VALUE_TV)
    assert results["coverage_tv_max"] == pytest.approx(2 / 3)


def test_coverage_characters_are_read_in_the_look_each_video_was_found_to_show():
    # Two-symbol prompts whose unasked videos misspell the second symbol: half their characters are wrong.
    results = evaluate_looks(FakeLookPipeline(misspells_last_symbol_unasked=True), ["HI", "AB"], samples_per_prompt=18)
    assert results["char_accuracy"] == 1.0
    assert results["coverage_char_accuracy"] == pytest.approx(0.5)
    assert results["coverage_psnr_db"] < results["control_psnr_db"] == PSNR_CAP_DB


def test_psnr_is_the_cap_for_exact_renders_and_drops_with_noise():
    exact = evaluate_looks(FakeLookPipeline(), ["HI"], samples_per_prompt=2)
    noisy = evaluate_looks(FakeLookPipeline(noise=0.05), ["HI"], samples_per_prompt=2)
    assert exact["psnr_db"] == PSNR_CAP_DB
    assert 20 < noisy["psnr_db"] < 40
    assert noisy["control_accuracy"] == 1.0  # the look is still recovered through the noise


def test_control_videos_are_seeded_first_then_coverage_videos_one_seed_each():
    pipe = FakeLookPipeline()
    evaluate_looks(pipe, ["HI", "AB"], samples_per_prompt=3, seed=10, batch_size=4)
    warm_up, *calls = pipe.seeds
    assert warm_up == [10]
    assert calls == [[10, 11], [12, 13, 14, 15], [16, 17]]


def test_scores_do_not_depend_on_batch_size():
    one_by_one, all_at_once = (
        evaluate_looks(FakeLookPipeline(noise=0.05), ["HI", "AB", "C"], samples_per_prompt=2, seed=3, batch_size=size)
        for size in (1, 9)
    )
    assert [video["asked_look"] for video in one_by_one["per_video"]] == [
        video["asked_look"] for video in all_at_once["per_video"]
    ]
    assert [video["psnr_db"] for video in one_by_one["per_video"]] == pytest.approx(
        [video["psnr_db"] for video in all_at_once["per_video"]]
    )


def test_asked_looks_follow_the_seed():
    def asked_looks(seed: int) -> list[dict]:
        results = evaluate_looks(FakeLookPipeline(), ["A", "B", "C", "D"], samples_per_prompt=1, seed=seed)
        return [video["asked_look"] for video in results["per_video"][:4]]

    assert asked_looks(0) == asked_looks(0) != asked_looks(1)


@pytest.mark.parametrize(
    "prompts, options, looks, message",
    [
        ([], {}, dict(LOOK_FACTORS), "at least one prompt"),
        (["HI"], {"samples_per_prompt": 0}, dict(LOOK_FACTORS), "samples_per_prompt"),
        (["HI"], {"batch_size": 0}, dict(LOOK_FACTORS), "batch_size"),
        (["HI"], {}, None, "without looks"),
    ],
)
def test_bad_arguments_are_refused_before_any_video(prompts, options, looks, message):
    pipe = FakeLookPipeline(looks=looks)
    with pytest.raises(ValueError, match=message):
        evaluate_looks(pipe, prompts, **options)
    assert pipe.seeds == []


def test_a_model_whose_size_the_renderer_cannot_draw_is_refused_before_any_video():
    pipe = FakeLookPipeline(video_shape=(16, 8, 8))
    with pytest.raises(ValueError, match="renderer cannot draw.*frame_size must be at least"):
        evaluate_looks(pipe, ["HI"])
    assert pipe.seeds == []


def test_videos_of_another_size_than_the_transformer_config_says_are_refused_naming_both_shapes():
    pipe = FakeLookPipeline(video_shape=(16, 32, 32))
    pipe.transformer.config.sample_size = 64
    with pytest.raises(ValueError, match=r"shape \(16, 32, 32\).*size is \(16, 64, 64\)"):
        evaluate_looks(pipe, ["HI"])


@pytest.mark.slow
@pytest.mark.parametrize("sample_size", [32, 64])
def test_tiny_untrained_model_with_looks_gets_every_score_in_range(sample_size):
    from diffusers_textvid.presets import build_pipeline

    torch.manual_seed(0)
    pipe = build_pipeline("tiny", looks=True, transformer_overrides={"sample_size": sample_size})
    pipe.set_progress_bar_config(disable=True)
    results = evaluate_looks(pipe, ["HI", "A7"], num_inference_steps=2, samples_per_prompt=2, batch_size=4)
    for key in ("control_accuracy", "char_accuracy", "prompt_accuracy", "coverage_tv_max"):
        assert 0 <= results[key] <= 1
    for factor, values in LOOK_FACTORS.items():
        assert 0 <= results["control_accuracy_per_factor"][factor] <= 1
        assert 0 <= results["coverage_tv"][factor] <= (len(values) - 1) / len(values)
        assert sum(results["coverage_shares"][factor].values()) == pytest.approx(1.0)
    assert 0 < results["psnr_db"] <= PSNR_CAP_DB and results["seconds_per_video"] > 0
    assert len(results["per_video"]) == 2 + 2 * 2
