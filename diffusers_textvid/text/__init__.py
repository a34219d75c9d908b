"""The text side: a character tokenizer and a small text encoder, both stock `transformers` classes."""

from .encoder import build_text_encoder
from .tokenizer import build_character_tokenizer
