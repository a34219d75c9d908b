"""What a training run leaves for others: the command that made it (without secrets), its summary and
card, and the upload of its output folder to the Hub."""

import json
import os
import re
import sys
from pathlib import Path

from accelerate.logging import get_logger

from ..hub import upload_to_hub
from ..model_card import SUMMARY_FILE, write_model_card
from .output_folder import LOCK_FILE

logger = get_logger(__name__)


def public_training_command(script: str, argv: list[str] | None = None) -> str:
    """The command that launched `training/{script}` with the arguments `argv` (default: this process's),
    any Hub token hidden: the summary and the card are public."""
    words = [re.sub(r"^--hub_token=.*", "--hub_token=***", word) for word in (sys.argv[1:] if argv is None else argv)]
    words = ["***" if previous == "--hub_token" else word for previous, word in zip([""] + words, words)]
    return f"accelerate launch training/{script} " + " ".join(words)


def write_training_summary(args, global_step: int, num_processes: int, prediction_type: str):
    """Record what the model card needs (`training_summary.json`), then write the card. `prediction_type` is
    the trained scheduler's: a fine-tune keeps its base model's, whatever the preset says."""
    summary = {
        "training_command": public_training_command("train_textvid.py"),
        "model_preset": args.model_preset,
        "base_model": args.pretrained_model_name_or_path,
        "prediction_type": prediction_type,
        "train_steps": global_step,
        "samples_seen": global_step * args.train_batch_size * args.gradient_accumulation_steps * num_processes,
    }
    with open(os.path.join(args.output_dir, SUMMARY_FILE), "w") as file:
        json.dump(summary, file, indent=2)
    try:
        write_model_card(args.output_dir)
    except ValueError as error:
        logger.warning(f"Model card not written: {error}")


def publish_run(args, commit_message: str, ignore_patterns: list[str]):
    """Upload `args.output_dir` to `args.hub_model_id` (default: the folder's name) with `args.hub_token`,
    leaving out the files matching `ignore_patterns`."""
    repo_id = upload_to_hub(args.output_dir, args.hub_model_id, args.hub_token, commit_message, ignore_patterns)
    logger.info(f"Pushed to {repo_id}")


def pipeline_upload_ignores(output_dir: str) -> list[str]:
    """What a full run's upload leaves out: checkpoints, logs, the lock, and all but the last validation's GIFs."""
    steps = sorted(int(path.name.removeprefix("step-")) for path in Path(output_dir).glob("validation/step-*"))
    older_validations = [f"validation/step-{step}/**" for step in steps[:-1]]
    return ["checkpoint-*", "checkpoint-*/**", "logs/**", "*.partial/**", LOCK_FILE, *older_validations]
