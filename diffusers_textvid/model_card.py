"""Model cards the Hub lists and renders: the package's `model_cards/model_card.md` and `lora_model_card.md`
templates filled with a run's real numbers. The templates are package data, so a wheel install renders cards
too; the repo's top-level `model_card.md` and `lora_model_card.md` are links to them.

The training script writes `training_summary.json` next to the model (the command, steps, samples
seen); evaluation adds metric rows; `write_model_card` renders both into the folder's README.md, with
the metadata that lists the model under text-to-video and a sample GIF from the folder.
`train_textvid_lora.py` writes `lora_summary.json`, which `write_lora_model_card` renders likewise.
"""

import importlib.resources
import json
import os
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from .data.render import FRAME_SIZE, NUM_FRAMES

TEMPLATE_DIR = Path(str(importlib.resources.files(__package__).joinpath("model_cards")))
TEMPLATE = TEMPLATE_DIR / "model_card.md"
LORA_TEMPLATE = TEMPLATE_DIR / "lora_model_card.md"
SUMMARY_FILE = "training_summary.json"
LORA_SUMMARY_FILE = "lora_summary.json"
METRICS_FILE = "eval.json"
SAMPLE_FILE = "sample.gif"  # a video the card shows, made by `write_sample_gif`
SAMPLE_PROMPT = "HELLO"
LICENSE = "apache-2.0"
TAGS = ["text-to-video", "diffusers", "diffusers-textvid", "video-diffusion", "scrolling-text"]


def card_data(tags: list[str] = TAGS, **fields) -> ModelCardData:
    """The card metadata every model of this package carries: the Hub lists it under text-to-video."""
    return ModelCardData(library_name="diffusers", pipeline_tag="text-to-video", license=LICENSE, tags=tags, **fields)


def write_sample_gif(pipe, model_dir: str, prompt: str = SAMPLE_PROMPT, num_inference_steps: int = 25,
                     seed: int = 0) -> str:
    """Sample `prompt` with DDIM (seeded) and write it as `model_dir/sample.gif`, the video the card shows."""
    import torch
    from diffusers.utils import export_to_gif

    from .schedulers import SCHEDULERS, build_sampling_pipeline

    sampler = build_sampling_pipeline(pipe, SCHEDULERS["ddim"])
    frames = sampler(prompt, num_inference_steps=num_inference_steps, generator=torch.Generator().manual_seed(seed),
                     output_type="pil").frames[0]
    path = os.path.join(model_dir, SAMPLE_FILE)
    export_to_gif(frames, path)
    return path


def read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def write_model_card(model_dir: str, template: Path = TEMPLATE) -> str:
    """Render `template` with `model_dir`'s training summary and metrics (if any) into `model_dir/README.md`;
    the card of a model trained with looks (its transformer config's `looks`) says how to ask for one."""
    summary = read_json(os.path.join(model_dir, SUMMARY_FILE))
    if summary is None:
        raise ValueError(f"{model_dir!r} has no {SUMMARY_FILE}: it was not written by training/train_textvid.py.")
    if not template.is_file():
        raise ValueError(f"No model card template at {template}: this install lacks its package data.")
    transformer_config = read_json(os.path.join(model_dir, "transformer", "config.json")) or {}
    card = ModelCard.from_template(
        card_data(),
        template_path=str(template),
        looks=transformer_config.get("looks"),
        num_frames=transformer_config.get("sample_frames", NUM_FRAMES),
        frame_size=transformer_config.get("sample_size", FRAME_SIZE),
        metrics=read_json(os.path.join(model_dir, METRICS_FILE)),
        sample=SAMPLE_FILE if os.path.isfile(os.path.join(model_dir, SAMPLE_FILE)) else None,
        sample_prompt=SAMPLE_PROMPT,
        **summary,
    )
    path = os.path.join(model_dir, "README.md")
    card.save(path)
    return path


def write_lora_model_card(adapter_dir: str, template: Path = LORA_TEMPLATE) -> str:
    """Render `template` with `adapter_dir/lora_summary.json` into `adapter_dir/README.md`. The card names the
    base model as `base_model` when it is a Hub repo id (a local folder is no Hub id)."""
    summary = read_json(os.path.join(adapter_dir, LORA_SUMMARY_FILE))
    if summary is None:
        raise ValueError(f"{adapter_dir!r} has no {LORA_SUMMARY_FILE}: it was not written by training/train_textvid_lora.py.")
    if not template.is_file():
        raise ValueError(f"No model card template at {template}: this install lacks its package data.")
    base = summary["base_model"]
    hub_base = None if os.path.isdir(base) else base
    fields = {"base_model": hub_base, "base_model_relation": "adapter"} if hub_base else {}
    validation = sorted(Path(adapter_dir).glob("validation/step-*/*.gif"), key=lambda p: int(p.parent.name[5:]))
    last_step = [p for p in validation if p.parent == validation[-1].parent] if validation else []
    card = ModelCard.from_template(
        card_data(tags=TAGS + ["lora"], **fields), template_path=str(template), hub_base_model=hub_base,
        samples=[{"prompt": p.stem, "path": p.relative_to(adapter_dir).as_posix()} for p in last_step], **summary,
    )
    path = os.path.join(adapter_dir, "README.md")
    card.save(path)
    return path
