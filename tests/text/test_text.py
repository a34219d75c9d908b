import pytest
import torch
from transformers import PreTrainedTokenizerFast

from diffusers_textvid.data.prompts import VOCABULARY
from diffusers_textvid.text import build_character_tokenizer, build_text_encoder
from diffusers_textvid.text.tokenizer import END_TOKEN, MAX_TOKENS, PAD_TOKEN, SPECIAL_TOKENS, UNKNOWN_TOKEN

END_ID, PAD_ID, UNKNOWN_ID = (SPECIAL_TOKENS.index(token) for token in (END_TOKEN, PAD_TOKEN, UNKNOWN_TOKEN))


def expected_ids(prompt: str) -> list[int]:
    """One id a symbol (after the special tokens, in vocabulary order), the end token, then padding."""
    ids = [len(SPECIAL_TOKENS) + VOCABULARY.index(symbol) for symbol in prompt] + [END_ID]
    return ids + [PAD_ID] * (MAX_TOKENS - len(ids))


def encode(tokenizer, prompts):
    return tokenizer(prompts, padding="max_length", max_length=MAX_TOKENS, return_tensors="pt")


@pytest.fixture(scope="module")
def tokenizer():
    return build_character_tokenizer()


def test_tokenizer_pads_to_eight_tokens(tokenizer):
    assert MAX_TOKENS == tokenizer.model_max_length == 8


@pytest.mark.parametrize("prompt", ["A", "HI", "Z09", "HELLO1"])
def test_each_symbol_is_one_token_followed_by_the_end_token_and_padding(tokenizer, prompt):
    tokens = encode(tokenizer, [prompt])
    assert tokens.input_ids[0].tolist() == expected_ids(prompt)
    assert tokens.attention_mask[0].tolist() == [1] * (len(prompt) + 1) + [0] * (MAX_TOKENS - len(prompt) - 1)


def test_every_symbol_has_its_own_id(tokenizer):
    ids = [tokenizer(symbol).input_ids for symbol in VOCABULARY]
    assert all(len(token_ids) == 2 and token_ids[1] == END_ID for token_ids in ids)
    assert len({token_ids[0] for token_ids in ids}) == len(VOCABULARY)


def test_tokenizer_itself_upper_cases_lower_case_letters(tokenizer):
    assert tokenizer("hello1").input_ids == tokenizer("HELLO1").input_ids == expected_ids("HELLO1")[:7]


def test_unknown_character_becomes_the_unknown_token(tokenizer):
    assert tokenizer("A?").input_ids == [len(SPECIAL_TOKENS), UNKNOWN_ID, END_ID]


def test_saved_tokenizer_loads_as_a_stock_fast_tokenizer_and_encodes_the_same(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    prompts = ["a", "Hello1", "ZZ", "q9w8e7"]
    original, reloaded = encode(tokenizer, prompts), encode(loaded, prompts)
    assert torch.equal(reloaded.input_ids, original.input_ids)
    assert torch.equal(reloaded.attention_mask, original.attention_mask)
    assert loaded.model_max_length == MAX_TOKENS
    assert (loaded.pad_token, loaded.eos_token, loaded.unk_token) == (PAD_TOKEN, END_TOKEN, UNKNOWN_TOKEN)


def test_text_encoder_vocabulary_matches_the_tokenizer(tokenizer):
    assert build_text_encoder(hidden_size=32, num_layers=1, num_heads=2).config.vocab_size == len(tokenizer)


def test_text_encoder_gives_one_embedding_per_token(tokenizer):
    torch.manual_seed(0)
    encoder = build_text_encoder(hidden_size=32, num_layers=1, num_heads=2)
    tokens = encode(tokenizer, ["AB", "BA", "HELLO1"])
    with torch.no_grad():
        embeddings = encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    assert embeddings.shape == (3, MAX_TOKENS, 32)
    assert torch.isfinite(embeddings).all()
    assert not torch.allclose(embeddings[0], embeddings[1])  # order matters
