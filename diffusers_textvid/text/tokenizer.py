"""A character-level tokenizer: a stock `PreTrainedTokenizerFast` over a `tokenizers` WordLevel model.

Every symbol is one token; an end token follows the prompt so the (causal) text encoder has a
position that has seen the whole prompt; the rest is padding up to `MAX_TOKENS`. Lower-case
letters are upper-cased by the tokenizer's own normaliser, so the saved `tokenizer.json` does it
without any code of ours.
"""

import string

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from ..data.prompts import MAX_PROMPT_LENGTH, VOCABULARY

PAD_TOKEN, END_TOKEN, UNKNOWN_TOKEN = "[PAD]", "[END]", "[UNK]"
SPECIAL_TOKENS = (PAD_TOKEN, END_TOKEN, UNKNOWN_TOKEN)
# The longest prompt and the end token, with one position to spare (8 tokens): the pipeline reads the
# prompt-length limit back from the saved tokenizer's length.
MAX_TOKENS = MAX_PROMPT_LENGTH + 2


def build_character_tokenizer() -> PreTrainedTokenizerFast:
    """The tokenizer: ids 0-2 are `[PAD]`, `[END]`, `[UNK]`, then A-Z and 0-9 in `VOCABULARY` order."""
    vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS + tuple(VOCABULARY))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token=UNKNOWN_TOKEN))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(lower, lower.upper()) for lower in string.ascii_lowercase]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {END_TOKEN}", special_tokens=[(END_TOKEN, vocabulary[END_TOKEN])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        eos_token=END_TOKEN,
        unk_token=UNKNOWN_TOKEN,
        model_max_length=MAX_TOKENS,
        padding_side="right",
    )
