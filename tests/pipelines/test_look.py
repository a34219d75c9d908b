"""Look conditioning: `TextVideoDiTModel(looks=...)`, `encode_looks` and the pipeline's `look=`."""

import pytest
import torch

from diffusers_textvid import TextVideoPipeline, build_pipeline
from diffusers_textvid.data.looks import LOOK_FACTORS


def sharpened(pipe: TextVideoPipeline) -> TextVideoPipeline:
    """`pipe` with its zero-initialised output paths randomised, so the conditioning reaches the video."""
    torch.manual_seed(0)
    transformer = pipe.transformer
    for block in transformer.blocks:
        torch.nn.init.normal_(block.modulation[-1].weight, std=0.1)
    torch.nn.init.normal_(transformer.output_layer.modulation[-1].weight, std=0.1)
    torch.nn.init.normal_(transformer.output_layer.projection.weight)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def looks_pipe():
    return sharpened(build_pipeline("tiny", looks=True))


def sample(pipe, look=None, prompt="HI", seed=0, **kwargs) -> torch.Tensor:
    return pipe(prompt, num_inference_steps=2, generator=torch.Generator().manual_seed(seed), look=look,
                output_type="pt", **kwargs).frames


def test_ids_are_one_plus_the_value_index_per_factor_in_name_order_and_zero_when_left_out(looks_pipe):
    ids = looks_pipe.transformer.encode_looks([{"direction": "left_to_right"}, {}, {"crossing_frames": 7, "weight": "light"}])
    factors = sorted(LOOK_FACTORS)  # crossing_frames, direction, vertical_offset, weight
    assert factors == ["crossing_frames", "direction", "vertical_offset", "weight"]
    assert ids.tolist() == [[0, 2, 0, 0], [0, 0, 0, 0], [3, 0, 0, 2]]
    assert looks_pipe.transformer.variation_embedding.num_embeddings == sum(len(v) + 1 for v in LOOK_FACTORS.values())


def test_each_factor_value_changes_the_video_and_the_same_look_gives_the_same_video(looks_pipe):
    left_out = sample(looks_pipe)
    assert torch.equal(left_out, sample(looks_pipe, {}))
    for factor, values in LOOK_FACTORS.items():
        videos = [sample(looks_pipe, {factor: value}) for value in values]
        for i, video in enumerate(videos):
            assert not torch.equal(video, left_out), (factor, values[i])
            assert all(not torch.equal(video, other) for other in videos[i + 1:]), (factor, values[i])


def test_a_list_gives_each_prompt_its_own_look_and_repeats_it_for_its_videos(looks_pipe):
    looks = [{"direction": "left_to_right"}, {"weight": "light", "vertical_offset": -2}]
    together = looks_pipe(
        ["HI", "AB"], num_inference_steps=2, look=looks, num_videos_per_prompt=2, output_type="pt",
        generator=[torch.Generator().manual_seed(seed) for seed in range(4)],
    ).frames  # videos 0, 1 of "HI", then 2, 3 of "AB"
    for index, (prompt, look) in enumerate([("HI", looks[0]), ("HI", looks[0]), ("AB", looks[1]), ("AB", looks[1])]):
        assert torch.allclose(together[index], sample(looks_pipe, look, prompt=prompt, seed=index)[0], atol=1e-5)


def test_guidance_keeps_the_look_in_both_halves(looks_pipe):
    guided = sample(looks_pipe, {"direction": "left_to_right"}, guidance_scale=3.0)
    assert not torch.equal(guided, sample(looks_pipe, {"direction": "right_to_left"}, guidance_scale=3.0))
    assert torch.isfinite(guided).all()


def test_looks_survive_save_and_load_in_the_same_order(looks_pipe, tmp_path):
    looks_pipe.save_pretrained(tmp_path)
    loaded = TextVideoPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.transformer.config.looks == {f: list(v) for f, v in LOOK_FACTORS.items()}
    for look in ({"direction": "left_to_right"}, {"crossing_frames": 7, "weight": "light"}, {"vertical_offset": 2}):
        assert torch.equal(sample(loaded, look), sample(looks_pipe, look)), look


def test_a_pipeline_with_scroll_alignment_follows_the_direction_and_survives_save_and_load(tmp_path):
    widths = {"bold": 35, "light": 34}
    pipe = sharpened(build_pipeline("tiny", looks=True,
                                    transformer_overrides={"patch_size": (1, 32, 8), "scroll_cell_widths": widths}))
    with torch.no_grad():
        for block in pipe.transformer.blocks:  # zero at first: let the aligned text reach the video
            torch.nn.init.normal_(block.aligned_text_out.weight, std=0.1)
    look = {"direction": "left_to_right"}
    assert not torch.equal(sample(pipe, look), sample(pipe, {"direction": "right_to_left"}))
    pipe.save_pretrained(tmp_path)
    loaded = TextVideoPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.transformer.config.scroll_cell_widths == widths
    torch.testing.assert_close(sample(loaded, look), sample(pipe, look))


@pytest.mark.parametrize("look, error, phrase", [
    ({"colour": "red"}, ValueError, "Unknown look factor(s) 'colour'"),
    ({"direction": "up"}, ValueError, "direction='up' is not one of ('right_to_left', 'left_to_right')"),
    ([{}, {}], ValueError, "`look` has 2 entries but there are 1 prompts"),
    ("left_to_right", TypeError, "`look` must be a dict or a list of dicts, got str"),
    ([["direction"]], TypeError, "A look must be a dict of factor -> value, got list"),
])
def test_bad_variations_are_refused_before_sampling(looks_pipe, look, error, phrase, monkeypatch):
    monkeypatch.setattr(looks_pipe.transformer, "forward", lambda *a, **k: pytest.fail("the transformer ran"))
    with pytest.raises(error) as raised:
        looks_pipe("HI", num_inference_steps=1, look=look)
    assert phrase in str(raised.value)


def test_a_model_without_looks_refuses_a_look_but_takes_none_or_empty_ones():
    plain = sharpened(build_pipeline("tiny"))
    assert plain.transformer.variation_embedding is None
    with pytest.raises(ValueError, match="trained without looks"):
        sample(plain, {"weight": "light"})
    assert torch.equal(sample(plain, {}), sample(plain, None))
    assert torch.equal(sample(plain, [{}]), sample(plain, None))
    with pytest.raises(ValueError, match="trained without looks"):
        plain.transformer(torch.zeros(1, 1, 16, 32, 32), 10, torch.zeros(1, 8, 32), look_ids=torch.zeros(1, 4, dtype=torch.long))


@pytest.mark.parametrize("table, phrase", [
    ({"direction": []}, "non-empty lists of values"),
    ({"direction": ["a", "a"]}, "repeats a value"),
])
def test_a_bad_variation_table_is_refused_when_the_model_is_built(table, phrase):
    from diffusers_textvid import TextVideoDiTModel

    with pytest.raises(ValueError, match=phrase):
        TextVideoDiTModel(hidden_size=32, num_attention_heads=2, num_layers=1, looks=table)


def scroll_pipeline() -> TextVideoPipeline:
    return sharpened(build_pipeline("tiny", looks=True, transformer_overrides={
        "patch_size": (1, 32, 8), "scroll_cell_widths": {"bold": 35, "light": 34}}))


def drawn_looks(pipe: TextVideoPipeline, look: dict, seeds: range) -> list[dict]:
    """The look `draw_left_out_look` gives each seed's starting noise, as factor -> value."""
    noise = torch.randn(pipe.latent_shape(len(seeds)), generator=torch.Generator().manual_seed(0))
    text, mask, _, _ = pipe.encode_prompt(["HI"] * len(seeds), do_classifier_free_guidance=False,
                                          device=noise.device, dtype=noise.dtype)
    ids = pipe.transformer.encode_looks([look] * len(seeds))
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    drawn = pipe.draw_left_out_look(noise, torch.tensor(999), text, mask, ids, generators)
    return [pipe.transformer.scroll_text.look_values(look) for look in pipe.transformer.scroll_text.true_look(drawn)]


def test_left_out_factors_are_drawn_from_the_models_guess_and_given_ones_kept():
    pipe = scroll_pipeline()
    looks = drawn_looks(pipe, {"direction": "left_to_right"}, range(64))
    assert all(look["direction"] == "left_to_right" for look in looks)
    assert len({tuple(look.values()) for look in looks}) > 6  # an untrained guess is even over the 18 allowed
    favoured = {"direction": "left_to_right", "crossing_frames": 11, "vertical_offset": 2, "weight": "light"}
    with torch.no_grad():  # the last block's guess decides
        pipe.transformer.blocks[-1].look_choice.bias[pipe.transformer.scroll_text.looks.index((1, 1, 2, 1))] = 50.0
    assert drawn_looks(pipe, {"direction": "left_to_right"}, range(16)) == [favoured] * 16
    assert drawn_looks(pipe, {"direction": "right_to_left"}, range(4))[0]["direction"] == "right_to_left"


def test_the_draw_is_off_by_default_and_the_look_left_to_the_denoising():
    pipe = scroll_pipeline()
    default = pipe("HI", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").frames
    denoised = pipe("HI", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt",
                    draw_left_out_look=False).frames
    drawn = pipe("HI", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt",
                 draw_left_out_look=True).frames
    torch.testing.assert_close(default, denoised, rtol=0, atol=0)
    assert not torch.allclose(drawn, denoised)
    full_look = {"direction": "left_to_right", "crossing_frames": 11, "vertical_offset": 2, "weight": "light"}
    # Nothing left out: nothing is drawn, and the generator's noise is the same.
    torch.testing.assert_close(sample(pipe, full_look), sample(pipe, full_look, draw_left_out_look=False))
