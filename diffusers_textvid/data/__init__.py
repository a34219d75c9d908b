"""Scrolling-text videos made on the fly: the prompt language, the renderer and its looks, the splits
and the dataset."""

from .prompts import MAX_PROMPT_LENGTH, MIN_PROMPT_LENGTH, VOCABULARY, normalize_prompt
from .render import FRAME_SIZE, NUM_FRAMES, render_text_video
from .looks import DEFAULT_LOOK, LOOK_FACTORS, all_looks, check_look
