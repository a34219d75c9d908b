"""diffusers-textvid: text-to-video diffusion of scrolling text, as a Diffusers plugin."""

import importlib.resources

from .data import render_text_video
from .models import TextVideoDiTModel, TextVideoDiTOutput
from .pipelines import TextVideoPipeline, TextVideoPipelineOutput
from .presets import PRESETS, build_pipeline, build_scheduler

DEFAULT_MODEL_DIR = str(importlib.resources.files(__name__).joinpath("pretrained"))
# The second shipped model: trained with looks (`diffusers_textvid.data.VARIATIONS`), the pipeline's `variation=`.
VARIED_MODEL_DIR = str(importlib.resources.files(__name__).joinpath("pretrained_varied"))

__version__ = "0.1.0"
