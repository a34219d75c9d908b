"""The model card: the repo's `model_card.md` template filled with a run's real numbers.

The training script writes `training_summary.json` next to the model (the command, steps, samples
seen); evaluation adds metric rows; `write_model_card` renders both into the folder's README.md.
"""

import json
import os
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parent.parent / "model_card.md"
SUMMARY_FILE = "training_summary.json"
METRICS_FILE = "eval.json"


def read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def write_model_card(model_dir: str, template: Path = TEMPLATE) -> str:
    """Render `template` with `model_dir`'s training summary and metrics (if any) into `model_dir/README.md`."""
    summary = read_json(os.path.join(model_dir, SUMMARY_FILE))
    if summary is None:
        raise ValueError(f"{model_dir!r} has no {SUMMARY_FILE}: it was not written by training/train_textvid.py.")
    if not template.is_file():
        raise ValueError(f"No model card template at {template}: run this from a clone of the repository.")
    card = ModelCard.from_template(
        ModelCardData(library_name="diffusers", license="apache-2.0", tags=["text-to-video", "diffusers-textvid"]),
        template_path=str(template),
        metrics=read_json(os.path.join(model_dir, METRICS_FILE)),
        **summary,
    )
    path = os.path.join(model_dir, "README.md")
    card.save(path)
    return path
