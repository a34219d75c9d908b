"""`textvid explain`: what a trained `TextVideoDiTModel` learned, as arrays (for notebooks) and figures."""

from .attention import (
    alignment_scores, cross_attention_alignment, prompt_cross_attention, record_attention, self_attention_motion,
)
from .denoising import denoising_trajectory
from .embeddings import text_position_similarity, timestep_response, video_position_similarity
from .mlp import selective_neurons, symbol_probe, token_activations
from .report import explain, explain_arrays
