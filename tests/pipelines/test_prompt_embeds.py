"""`encode_prompt` on its own, and `prompt_embeds` / `negative_prompt_embeds` with their attention masks in `__call__`."""

import numpy as np
import pytest
import torch

from diffusers_textvid import TextVideoPipeline

from conftest import build_tiny_pipeline

STEPS = 2
TOKENS, TEXT_WIDTH = 8, 32  # the tokenizer's model_max_length, the tiny text encoder's width


def sample(pipe, **arguments) -> np.ndarray:
    return pipe(num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0), **arguments).frames


def without_text_side(pipe) -> TextVideoPipeline:
    """The same transformer and scheduler, with neither tokenizer nor text encoder: it can only take embeddings."""
    embeddings_only = TextVideoPipeline(tokenizer=None, text_encoder=None, transformer=pipe.transformer, scheduler=pipe.scheduler)
    embeddings_only.set_progress_bar_config(disable=True)
    return embeddings_only


# ----------------------------------------------------------------------------------------------
# encode_prompt
# ----------------------------------------------------------------------------------------------


def test_encode_prompt_gives_embeddings_and_masks_for_the_prompts_and_the_negative_prompt(tiny_pipeline):
    embeds, mask, negative_embeds, negative_mask = tiny_pipeline.encode_prompt(["HI", "abc"], negative_prompt="X")
    assert embeds.shape == negative_embeds.shape == (2, TOKENS, TEXT_WIDTH)
    # 1 for each symbol and the end token, 0 for the padding
    assert mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]]
    assert negative_mask.tolist() == [[1, 1, 0, 0, 0, 0, 0, 0]] * 2
    torch.testing.assert_close(embeds[1:], tiny_pipeline.encode_prompt("ABC")[0])  # upper-cased, batch-independent


def test_encode_prompt_without_guidance_encodes_no_negative_prompt(tiny_pipeline):
    *_, negative_embeds, negative_mask = tiny_pipeline.encode_prompt("HI", do_classifier_free_guidance=False)
    assert negative_embeds is None and negative_mask is None


def test_encode_prompt_defaults_the_negative_prompt_to_the_empty_prompt(tiny_pipeline):
    _, _, default_embeds, default_mask = tiny_pipeline.encode_prompt("HI")
    _, _, empty_embeds, empty_mask = tiny_pipeline.encode_prompt("HI", negative_prompt="")
    torch.testing.assert_close(default_embeds, empty_embeds)
    assert default_mask.tolist() == empty_mask.tolist() == [[1, 0, 0, 0, 0, 0, 0, 0]]  # the end token alone


def test_encode_prompt_repeats_each_prompt_once_per_video_next_to_each_other(tiny_pipeline):
    once = tiny_pipeline.encode_prompt(["HI", "YO"], num_videos_per_prompt=1)
    thrice = tiny_pipeline.encode_prompt(["HI", "YO"], num_videos_per_prompt=3)
    for single, repeated in zip(once, thrice):
        torch.testing.assert_close(repeated, single.repeat_interleave(3, dim=0))


def test_encode_prompt_needs_only_the_tokenizer_and_text_encoder(tiny_pipeline):
    text_only = TextVideoPipeline(tiny_pipeline.tokenizer, tiny_pipeline.text_encoder, transformer=None, scheduler=None)
    for alone, full in zip(text_only.encode_prompt("HI"), tiny_pipeline.encode_prompt("HI")):
        torch.testing.assert_close(alone, full)


def test_encode_prompt_casts_to_the_dtype_asked_for_and_keeps_integer_masks(tiny_pipeline):
    embeds, mask, negative_embeds, _ = tiny_pipeline.encode_prompt("HI", dtype=torch.float64)
    assert embeds.dtype == negative_embeds.dtype == torch.float64
    assert mask.dtype == torch.int64


# ----------------------------------------------------------------------------------------------
# Embeddings in __call__
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0])
def test_embeddings_from_encode_prompt_give_the_video_of_the_prompt(perturbed_pipeline, guidance_scale):
    prompts, negative_prompt = ["HI", "YO"], "Z"
    embeds, mask, negative_embeds, negative_mask = perturbed_pipeline.encode_prompt(
        prompts, negative_prompt, do_classifier_free_guidance=guidance_scale > 1
    )
    from_text = sample(perturbed_pipeline, prompt=prompts, negative_prompt=negative_prompt,
                       guidance_scale=guidance_scale, num_videos_per_prompt=2)
    from_embeddings = sample(
        without_text_side(perturbed_pipeline), prompt_embeds=embeds, prompt_attention_mask=mask,
        negative_prompt_embeds=negative_embeds, negative_prompt_attention_mask=negative_mask,
        guidance_scale=guidance_scale, num_videos_per_prompt=2,
    )
    np.testing.assert_allclose(from_embeddings, from_text, rtol=0, atol=1e-6)


def test_prompt_embeddings_with_a_text_negative_prompt_give_the_video_of_the_prompt(perturbed_pipeline):
    embeds, mask, _, _ = perturbed_pipeline.encode_prompt("HI", do_classifier_free_guidance=False)
    from_embeddings = sample(perturbed_pipeline, prompt_embeds=embeds, prompt_attention_mask=mask,
                             negative_prompt="Z", guidance_scale=3.0)
    from_text = sample(perturbed_pipeline, prompt="HI", negative_prompt="Z", guidance_scale=3.0)
    np.testing.assert_allclose(from_embeddings, from_text, rtol=0, atol=1e-6)


def test_the_attention_mask_given_with_the_embeddings_is_used(perturbed_pipeline):
    embeds, mask, _, _ = perturbed_pipeline.encode_prompt("HI", do_classifier_free_guidance=False)
    with_mask = sample(perturbed_pipeline, prompt_embeds=embeds, prompt_attention_mask=mask)
    with_padding_attended = sample(perturbed_pipeline, prompt_embeds=embeds, prompt_attention_mask=torch.ones_like(mask))
    assert not np.allclose(with_mask, with_padding_attended)


EMBEDS = torch.zeros(2, TOKENS, TEXT_WIDTH)
MASK = torch.ones(2, TOKENS, dtype=torch.long)
BAD_EMBEDDING_INPUTS = {
    "prompt and prompt_embeds": ({"prompt": "HI", "prompt_embeds": EMBEDS, "prompt_attention_mask": MASK}, "not both"),
    "neither prompt nor prompt_embeds": ({}, "`prompt` or `prompt_embeds`"),
    "prompt_embeds without a mask": ({"prompt_embeds": EMBEDS}, "needs `prompt_attention_mask`"),
    "mask of another shape": ({"prompt_embeds": EMBEDS, "prompt_attention_mask": MASK[:, :4]}, "prompt_attention_mask"),
    "embeddings without a token axis": ({"prompt_embeds": EMBEDS[:, 0], "prompt_attention_mask": MASK}, "prompt_embeds"),
    "negative prompt twice": ({"prompt": "HI", "negative_prompt": "A", "negative_prompt_embeds": EMBEDS[:1],
                               "negative_prompt_attention_mask": MASK[:1]}, "not both"),
    "negative embeddings for another batch": ({"prompt": "HI", "negative_prompt_embeds": EMBEDS,
                                               "negative_prompt_attention_mask": MASK}, "negative_prompt_embeds"),
    "latents for another batch than the embeddings": ({"prompt_embeds": EMBEDS, "prompt_attention_mask": MASK,
                                                       "latents": torch.zeros(1, 1, 16, 32, 32)}, "latents"),
}


@pytest.mark.parametrize("arguments, message", BAD_EMBEDDING_INPUTS.values(), ids=BAD_EMBEDDING_INPUTS.keys())
def test_bad_embedding_inputs_raise_value_error(tiny_pipeline, arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_pipeline(num_inference_steps=STEPS, **arguments)


NEEDS_THE_TEXT_SIDE = {
    "text prompt": {"prompt": "HI"},
    "guidance without negative embeddings": {"prompt_embeds": EMBEDS, "prompt_attention_mask": MASK, "guidance_scale": 3.0},
}


@pytest.mark.parametrize("arguments", NEEDS_THE_TEXT_SIDE.values(), ids=NEEDS_THE_TEXT_SIDE.keys())
def test_a_pipeline_without_text_encoder_asks_for_embeddings(arguments):
    with pytest.raises(ValueError, match="no tokenizer or text encoder.*pass `prompt_embeds`"):
        sample(without_text_side(build_tiny_pipeline()), **arguments)
