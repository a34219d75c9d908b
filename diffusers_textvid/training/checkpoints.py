"""Checkpoints of a training run: written under a temporary name and renamed once every process has
written its part, so a crash mid-write never leaves a folder that looks like a checkpoint.

`output_dir/checkpoint-N/` holds what `accelerator.save_state` writes (weights, optimizer, learning
rate, every process's random state, the EMA) and `training_state.json`, the step, written last.
"""

import json
import os
import re
import shutil

from accelerate import Accelerator
from accelerate.logging import get_logger
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import load_file

from .distributed_weights import full_tensor, placed_like

logger = get_logger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "training_state.json"


def check_checkpoint(path: str):
    """`--resume_from_checkpoint PATH` must be a complete checkpoint whose weight files can be read."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--resume_from_checkpoint {path!r}: no such folder (or give \"latest\").")
    if not os.path.isfile(os.path.join(path, STATE_FILE)):
        raise ValueError(f"--resume_from_checkpoint {path!r} is not a complete checkpoint (no training_state.json).")
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            try:
                with safe_open(os.path.join(path, name), framework="pt") as file:
                    file.keys()
            except Exception as error:  # safetensors' own SafetensorError, or OSError
                raise ValueError(f"--resume_from_checkpoint {path!r}: {name} is damaged ({error}).") from None


def complete_checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """`(step, path)` of every complete checkpoint in `output_dir`, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = CHECKPOINT_PATTERN.match(name)
        if match and os.path.isfile(os.path.join(output_dir, name, STATE_FILE)):
            found.append((int(match.group(1)), os.path.join(output_dir, name)))
    return sorted(found)


def save_checkpoint(accelerator: Accelerator, output_dir: str, global_step: int, total_limit: int | None = None):
    """Save the full training state to `output_dir/checkpoint-{global_step}` crash-safely; keep the newest
    `total_limit` checkpoints (all when None). Every process must call it.

    Each process writes its part into `checkpoint-N.partial` (its random state at least); the folder is
    renamed only after every process has finished writing, and only if every part is there.
    """
    final = os.path.join(output_dir, f"checkpoint-{global_step}")
    partial = final + ".partial"
    if accelerator.is_main_process and os.path.isdir(partial):
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(partial)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        missing = [name for name in random_state_files(accelerator.num_processes)
                   if not os.path.isfile(os.path.join(partial, name))]
        if missing:
            raise RuntimeError(f"{partial} lacks {missing} after every process saved: not renamed to {final}.")
        with open(os.path.join(partial, STATE_FILE), "w") as file:
            json.dump({"global_step": global_step}, file)
        if os.path.isdir(final):  # left by a run that went further before this one resumed from an earlier step
            shutil.rmtree(final)
        os.replace(partial, final)
        if total_limit is not None:
            for _, old in complete_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old)
        logger.info(f"Saved {final}")
    accelerator.wait_for_everyone()


def random_state_files(num_processes: int) -> list[str]:
    """The file each process's random state goes to in a checkpoint (Accelerate's names)."""
    return [f"random_states_{index}.pkl" for index in range(num_processes)]


def resolve_resume(args) -> str | None:
    """The checkpoint folder `--resume_from_checkpoint` names, or None to start fresh."""
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint != "latest":
        path = args.resume_from_checkpoint
        if not os.path.isfile(os.path.join(path, STATE_FILE)):
            raise SystemExit(f"error: {path!r} is not a complete checkpoint (no training_state.json).")
        return path
    checkpoints = complete_checkpoints(args.output_dir)
    return checkpoints[-1][1] if checkpoints else None


def load_checkpoint(accelerator: Accelerator, path: str, args) -> int:
    """`accelerator.load_state(path)`; return the checkpoint's step. A checkpoint that cannot be loaded
    (damaged, or from a model of another size) stops the run with a message that names it."""
    try:
        accelerator.load_state(path)
        with open(os.path.join(path, STATE_FILE)) as file:
            return int(json.load(file)["global_step"])
    except Exception as error:  # torch, safetensors and accelerate each raise their own kinds
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SystemExit(
            f"error: cannot resume from the checkpoint {path}: {type(error).__name__}: {first_line}. Is it damaged, "
            f"or from a run with another --model_preset/--model_config (this run: --model_preset {args.model_preset})?"
        ) from error


def remove_checkpoints(output_dir: str):
    """Delete the checkpoints (complete or partial) of an earlier run, for `--overwrite_output_dir`."""
    for name in os.listdir(output_dir):
        if CHECKPOINT_PATTERN.match(name.removesuffix(".partial")):
            shutil.rmtree(os.path.join(output_dir, name))
            logger.info(f"--overwrite_output_dir: removed {os.path.join(output_dir, name)}")


class EMACheckpoint:
    """The EMA as `accelerator.save_state` stores it: the `EMAModel` state, with whole tensors.

    With FSDP the averages are shards like the parameters: saving gathers them (every process runs
    `save_state`) and loading cuts them again, so the file is the same for every launcher. Loading also
    puts them on the parameters' device, where Accelerate would leave them on the CPU.
    """

    def __init__(self, ema: EMAModel, parameters):
        self.ema, self.parameters = ema, list(parameters)

    def state_dict(self) -> dict:
        return self.ema.state_dict() | {"shadow_params": [full_tensor(s) for s in self.ema.shadow_params]}

    def load_state_dict(self, state: dict):
        shadows = [placed_like(saved, p) for saved, p in zip(state["shadow_params"], self.parameters, strict=True)]
        self.ema.load_state_dict(state | {"shadow_params": shadows})


def two_model_checkpoint_loader(accelerator: Accelerator):
    """A `load_state` pre-hook for checkpoints from before `TrainingModel`, which hold the DiT in
    model.safetensors and the text encoder in model_1.safetensors: it loads them into the one module.
    The optimizer and EMA states of those checkpoints list the parameters in the same order."""

    def load(models: list, input_dir: str):
        if not models or not os.path.isfile(os.path.join(input_dir, "model_1.safetensors")):
            return
        model = accelerator.unwrap_model(models[0])
        for module, file in ((model.transformer, "model.safetensors"), (model.text_encoder, "model_1.safetensors")):
            state = load_file(os.path.join(input_dir, file))
            module.load_state_dict({name.removeprefix("module."): value for name, value in state.items()})
        models.clear()  # loaded: nothing left for Accelerate to load
        logger.info(f"Loaded the two-model checkpoint {input_dir}")

    return load
