"""The text encoder: a small stock `CLIPTextModel`, trained from scratch together with the DiT.

CLIP's text tower has learned absolute positions (the DiT must know which symbol is where) and
nothing that goes unused in training, which keeps multi-process training free of unused-parameter
errors.
"""

from transformers import CLIPTextConfig, CLIPTextModel

from .tokenizer import END_TOKEN, MAX_TOKENS, SPECIAL_TOKENS
from ..data.prompts import VOCABULARY


def build_text_encoder(hidden_size: int = 128, num_layers: int = 2, num_heads: int = 4) -> CLIPTextModel:
    """A randomly initialised `CLIPTextModel` sized for the character tokenizer."""
    config = CLIPTextConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(VOCABULARY),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        projection_dim=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        max_position_embeddings=MAX_TOKENS,
        hidden_act="gelu",
        pad_token_id=SPECIAL_TOKENS.index("[PAD]"),
        bos_token_id=SPECIAL_TOKENS.index(END_TOKEN),
        eos_token_id=SPECIAL_TOKENS.index(END_TOKEN),
    )
    return CLIPTextModel(config)
