"""diffusers-textvid: text-to-video diffusion of scrolling text, as a Diffusers plugin."""

import importlib.resources

from .data import render_text_video
from .models import TextVideoDiTModel, TextVideoDiTOutput
from .pipelines import TextVideoPipeline, TextVideoPipelineOutput
from .presets import PRESETS, build_pipeline, build_scheduler

DEFAULT_MODEL_DIR = str(importlib.resources.files(__name__).joinpath("pretrained"))
# The second shipped model: trained with looks (`diffusers_textvid.data.LOOK_FACTORS`), the pipeline's `look=`.
LOOKS_MODEL_DIR = str(importlib.resources.files(__name__).joinpath("pretrained_looks"))
VARIED_MODEL_DIR = LOOKS_MODEL_DIR  # its deprecated name

__version__ = "0.1.0"
