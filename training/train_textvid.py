"""Train a TextVideoPipeline on scrolling-text videos rendered on the fly.

Launch with Accelerate (configs in training/configs/, what each was tested on in the README):

    accelerate launch training/train_textvid.py --model_preset small --output_dir runs/small \
        --mixed_precision bf16 --max_train_steps 20000 --use_ema

On a CPU machine, several processes need ACCELERATE_USE_CPU=1: `ACCELERATE_USE_CPU=1 accelerate launch
--config_file training/configs/cpu_2_processes.yaml ...` (see the README).

Reading order: arguments, faults (launcher death, the output folder lock, unsupported launchers),
checkpoints, randomness, the trained module, validation, main (setup, loop, save, publish).
"""

import argparse
import copy
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedType, ProjectConfiguration, broadcast_object_list, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from diffusers.utils import export_to_gif
from safetensors import safe_open
from safetensors.torch import load_file
from tqdm.auto import tqdm

from diffusers_textvid import TextVideoPipeline, build_pipeline, build_scheduler
from diffusers_textvid.data.prompts import normalize_prompt
from diffusers_textvid.data.dataset import RandomLookDataset, ScrollingTextDataset, video_to_model_space
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.variations import DEFAULT_VARIATION, VARIATIONS
from diffusers_textvid.data.splits import HoldOuts, validation_prompts
from diffusers_textvid.diffusion_loss import LOSS_WEIGHTINGS, OwnEstimateInputs, diffusion_loss
from diffusers_textvid.model_card import SUMMARY_FILE, write_model_card, write_sample_gif
from diffusers_textvid.presets import PRESETS
from diffusers_textvid.schedulers import SCHEDULERS, build_sampling_pipeline
from diffusers_textvid.tracking import check_report_to, log_validation_videos

try:
    import fcntl
except ImportError:  # Windows: the output folder is not locked there (see lock_output_folder)
    fcntl = None

logger = get_logger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
LOCK_FILE = "train.lock"
# Set in the environment of every process that `accelerate launch` or `torchrun` starts.
LAUNCHER_VARIABLES = ("ACCELERATE_MIXED_PRECISION", "TORCHELASTIC_RUN_ID")


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--pretrained_model_name_or_path", default=None,
                       help="Start from this trained pipeline (folder or Hub repo id) instead of an untrained preset: "
                            "a fine-tune. --model_preset is then only a label; --model_config, --prediction_type and "
                            "--variations cannot be combined with it.")
    model.add_argument("--model_preset", default="small", choices=sorted(PRESETS), help="Named size from build_pipeline.")
    model.add_argument("--model_config", default=None, help="JSON file of TextVideoDiTModel arguments overriding the preset's.")
    model.add_argument("--prediction_type", default=None, choices=["epsilon", "v_prediction", "sample"],
                       help="Training target; defaults to the preset's. Written into the scheduler config.")
    model.add_argument("--gradient_checkpointing", action="store_true")
    model.add_argument("--variations", action="store_true",
                       help="Train on random looks (every combination of diffusers_textvid.data.VARIATIONS, drawn "
                            "uniformly) with the transformer conditioned on them: the pipeline's `variation=`.")

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", default="textvid-model")
    train.add_argument("--overwrite_output_dir", action="store_true",
                       help="Train afresh into a folder that holds a run (its checkpoints are deleted first); "
                            "without it such a folder is refused unless --resume_from_checkpoint is given.")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--train_batch_size", type=int, default=32, help="Per process.")
    train.add_argument("--max_train_steps", type=int, default=10000)
    train.add_argument("--gradient_accumulation_steps", type=int, default=1)
    train.add_argument("--learning_rate", type=float, default=5e-4)
    train.add_argument("--lr_scheduler", default="cosine",
                       choices=["constant", "constant_with_warmup", "linear", "cosine"])
    train.add_argument("--lr_warmup_steps", type=int, default=200)
    train.add_argument("--adam_weight_decay", type=float, default=0.0)
    train.add_argument("--max_grad_norm", type=float, default=1.0)
    train.add_argument("--mixed_precision", default=None, choices=["no", "fp16", "bf16"],
                       help="Defaults to what `accelerate launch` was given.")
    train.add_argument("--snr_gamma", type=float, default=None, help="Cap of the SNR loss weighting; off when unset.")
    train.add_argument("--loss_weighting", default="min_snr", choices=sorted(LOSS_WEIGHTINGS),
                       help="With --snr_gamma: min_snr weights the clean-video error by min(SNR, gamma), "
                            "min_snr_plus_one by min(SNR + 1, gamma).")
    add_own_estimate_arguments(train)
    train.add_argument("--prompt_dropout", type=float, default=0.1,
                       help="Share of prompts replaced by the empty prompt, for classifier-free guidance.")
    train.add_argument("--variation_dropout", type=float, default=0.5,
                       help="With --variations: chance that each factor of a video's look is left out of the "
                            "conditioning, which teaches the model to sample the factors it is not given.")
    train.add_argument("--look_guess_weight", type=float, default=0.0,
                       help="For a model with scroll alignment (`scroll_cell_widths` in --model_config): weight of "
                            "the cross-entropy that teaches every block's guess of the scroll (direction, "
                            "crossing, weight) the chance of each one, given the noisy video and the factors given.")
    train.add_argument("--use_ema", action="store_true")
    train.add_argument("--ema_decay", type=float, default=0.999)
    train.add_argument("--no_hold_outs", action="store_true",
                       help="Also train on prompts starting with A and with S second (off by default).")
    train.add_argument("--dataloader_num_workers", type=int, default=0)

    checkpoints = parser.add_argument_group("checkpoints and logging")
    checkpoints.add_argument("--checkpointing_steps", type=int, default=500)
    checkpoints.add_argument("--checkpoints_total_limit", type=int, default=None)
    checkpoints.add_argument("--resume_from_checkpoint", default=None, help='"latest" or a checkpoint folder.')
    checkpoints.add_argument("--validation_steps", type=int, default=1000)
    checkpoints.add_argument("--validation_prompts", nargs="+", default=["HELLO", "AB12", "AS", "Z9"])
    checkpoints.add_argument("--num_validation_loss_prompts", type=int, default=64)
    checkpoints.add_argument("--validation_inference_steps", type=int, default=25)
    checkpoints.add_argument("--logging_steps", type=int, default=20)
    checkpoints.add_argument("--report_to", default="tensorboard",
                             help='Comma-separated trackers ("tensorboard", "wandb", ...), "all" or "none"; a tracker '
                                  'whose package is missing stops the run at once.')

    hub = parser.add_argument_group("publishing")
    hub.add_argument("--push_to_hub", action="store_true")
    hub.add_argument("--hub_model_id", default=None, help="Repo id; defaults to the output folder's name.")
    hub.add_argument("--hub_token", default=None)
    args = parser.parse_args(argv)
    if args.push_to_hub and args.hub_token is None:
        args.hub_token = os.environ.get("HF_TOKEN")
    try:
        validate_args(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        parser.error(str(error))  # one line on stderr, exit status 2, before anything is built or written
    try:
        args.log_with = check_report_to(args.report_to)
    except ValueError as error:
        parser.error(str(error))
    return args


# Arguments that count something (at least 1), that may be 0, and numbers with their allowed range.
POSITIVE_INT_ARGUMENTS = ("train_batch_size", "max_train_steps", "gradient_accumulation_steps", "checkpointing_steps",
                          "validation_steps", "num_validation_loss_prompts", "validation_inference_steps",
                          "logging_steps")
NON_NEGATIVE_INT_ARGUMENTS = ("lr_warmup_steps", "dataloader_num_workers")
FLOAT_ARGUMENTS = {  # name: (lowest, highest, whether the lowest itself is allowed)
    "learning_rate": (0.0, None, False),
    "adam_weight_decay": (0.0, None, True),
    "max_grad_norm": (0.0, None, False),
    "snr_gamma": (0.0, None, False),
    "ema_decay": (0.0, 1.0, True),
    "variation_dropout": (0.0, 1.0, True),
    "look_guess_weight": (0.0, None, True),
}
MAX_SEED = 2**32 - 1  # numpy's global seed, which accelerate's set_seed also sets, takes no more


def validate_args(args: argparse.Namespace):
    """Raise `ValueError` (or `FileNotFoundError`) naming the first bad argument, the value given and
    what is allowed. `parse_args` calls it, so a bad argument stops the run before any model is built
    or any file written."""
    for name in POSITIVE_INT_ARGUMENTS:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    for name in NON_NEGATIVE_INT_ARGUMENTS:
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be 0 or more, got {getattr(args, name)}.")
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        raise ValueError(f"--checkpoints_total_limit must be a positive integer, got {args.checkpoints_total_limit}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be 0 to {MAX_SEED}, got {args.seed}.")
    for name, (lowest, highest, lowest_allowed) in FLOAT_ARGUMENTS.items():
        value = getattr(args, name)
        if value is None:
            continue
        too_low = value < lowest if lowest_allowed else value <= lowest
        if not np.isfinite(value) or too_low or (highest is not None and value > highest):
            allowed = f"in [{lowest}, {highest}]" if highest is not None else f"{'>=' if lowest_allowed else '>'} {lowest}"
            raise ValueError(f"--{name} must be a finite number {allowed}, got {value}.")
    if not 0.0 <= args.prompt_dropout < 1.0:  # (also false for NaN)
        raise ValueError(f"--prompt_dropout must be a share in [0, 1), got {args.prompt_dropout}: at 1 every prompt "
                         "is dropped and the model never sees the text.")
    try:
        own_estimate_inputs(args)
    except ValueError as error:
        raise ValueError(f"--own_estimate_*: {error}") from None
    max_steps = build_scheduler().config.num_train_timesteps
    if args.validation_inference_steps > max_steps:
        raise ValueError(f"--validation_inference_steps must be 1 to {max_steps}, got {args.validation_inference_steps}.")
    try:
        args.validation_prompts = [normalize_prompt(prompt) for prompt in args.validation_prompts]
    except ValueError as error:
        raise ValueError(f"--validation_prompts: {error}") from None
    if args.model_config is not None:
        check_model_config(args.model_config)
    if args.pretrained_model_name_or_path is not None:
        clashing = [f"--{name}" for name in ("model_config", "prediction_type") if getattr(args, name) is not None]
        clashing += ["--variations"] if args.variations else []
        if clashing:
            raise ValueError(f"--pretrained_model_name_or_path fixes the model; it cannot be combined with {', '.join(clashing)}.")
    check_output_dir(args)
    if args.resume_from_checkpoint not in (None, "latest"):
        check_checkpoint(args.resume_from_checkpoint)


def add_own_estimate_arguments(group):
    """The `--own_estimate_*` options (this script's and the LoRA script's) in the argparse `group`."""
    group.add_argument("--own_estimate_share", type=float, default=0.0,
                       help="Share of each batch noised from the model's own earlier estimate instead of the true "
                            "video (see diffusers_textvid.diffusion_loss.OwnEstimateInputs); 0 turns it off.")
    group.add_argument("--own_estimate_band", type=int, nargs=2, default=[100, 300], metavar=("LOW", "HIGH"),
                       help="Timesteps [LOW, HIGH) of those rows: where long sampling runs lost the video.")
    group.add_argument("--own_estimate_lookahead", type=int, nargs=2, default=[20, 200], metavar=("LOW", "HIGH"),
                       help="How many steps earlier (noisier) the model makes the estimate that is noised again.")


def own_estimate_inputs(args: argparse.Namespace) -> OwnEstimateInputs | None:
    """The `--own_estimate_*` settings, or None when the share is 0."""
    if args.own_estimate_share == 0.0:
        return None
    return OwnEstimateInputs(args.own_estimate_share, tuple(args.own_estimate_band), tuple(args.own_estimate_lookahead))


def check_model_config(path: str):
    """`--model_config` must be a JSON object of `TextVideoDiTModel` arguments."""
    from diffusers_textvid import TextVideoDiTModel

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model_config {path!r} does not exist (or is not a file).")
    try:
        with open(path) as file:
            overrides = json.load(file)
    except ValueError as error:
        raise ValueError(f"--model_config {path!r} is not valid JSON: {error}.") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"--model_config {path!r} must hold a JSON object, got {type(overrides).__name__}.")
    known = set(inspect.signature(TextVideoDiTModel.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"--model_config {path!r} has unknown TextVideoDiTModel argument(s) {unknown}; "
                         f"known: {sorted(known)}.")


def check_output_dir(args: argparse.Namespace):
    """`--output_dir` must be a folder (or not exist yet). One that holds a run, finished (model_index.json)
    or with checkpoints, is refused unless the run is resumed or `--overwrite_output_dir` asks to replace it."""
    output_dir = args.output_dir
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"--output_dir {output_dir!r} is a file; give a folder (it is created if missing).")
    if args.overwrite_output_dir and args.resume_from_checkpoint is not None:
        raise ValueError("--overwrite_output_dir starts afresh and --resume_from_checkpoint continues a run: give one.")
    if args.overwrite_output_dir or args.resume_from_checkpoint is not None:
        return
    finished = os.path.isfile(os.path.join(output_dir, "model_index.json"))
    checkpoints = complete_checkpoints(output_dir)
    if finished or checkpoints:
        held = "a finished run (model_index.json)" if finished else f"{len(checkpoints)} checkpoint(s) of a run"
        raise ValueError(
            f"--output_dir {output_dir!r} holds {held}, which a new run would overwrite. Continue it with "
            "--resume_from_checkpoint latest, replace it with --overwrite_output_dir, or choose another --output_dir."
        )


def check_checkpoint(path: str):
    """`--resume_from_checkpoint PATH` must be a complete checkpoint whose weight files can be read."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--resume_from_checkpoint {path!r}: no such folder (or give \"latest\").")
    if not os.path.isfile(os.path.join(path, "training_state.json")):
        raise ValueError(f"--resume_from_checkpoint {path!r} is not a complete checkpoint (no training_state.json).")
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            try:
                with safe_open(os.path.join(path, name), framework="pt") as file:
                    file.keys()
            except Exception as error:  # safetensors' own SafetensorError, or OSError
                raise ValueError(f"--resume_from_checkpoint {path!r}: {name} is damaged ({error}).") from None


# ----------------------------------------------------------------------------------------------
# Faults: no rank outlives its launcher, one live run owns an output folder, and a launcher setup
# that Accelerate cannot honour here stops the run instead of silently becoming another one.
# ----------------------------------------------------------------------------------------------


def exit_with_launcher(poll_seconds: float = 1.0):
    """End this process within `poll_seconds` of the death of the launcher that started it.

    `torchrun` (and `accelerate launch` with several processes) starts each rank in a session of its
    own, so killing the launcher's process group leaves the ranks training on and writing the output
    folder. A daemon thread watches the parent pid and ends the process when it changes (a launcher
    that is pid 1, a container's entry point, takes the whole container with it anyway). Not armed
    without a launcher: the parent is then a shell, which may exit while a `nohup` run goes on.
    """
    if not any(name in os.environ for name in LAUNCHER_VARIABLES):
        return
    launcher = os.getppid()

    def watch():
        while os.getppid() == launcher:
            time.sleep(poll_seconds)
        try:
            print(f"The launcher (pid {launcher}) is gone: process {os.getpid()} exits.", file=sys.stderr, flush=True)
        finally:  # the launcher held the other end of stderr: printing may fail, exiting must not
            os._exit(1)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


class OutputFolderBusy(Exception):
    """Another run holds, or may hold, the output folder."""


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process on this host (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        return True
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except OSError:  # no /proc (macOS): signal 0 reached it
        return True
    return state != "Z"


def describe_holder(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"


def take_output_lock(output_dir: str) -> tuple[int, dict]:
    """Lock `output_dir` for this process; return the file descriptor that holds the lock (close it to
    release) and the record of the dead run whose lock file was taken over (`{}` if none).

    The lock is an `flock` on `output_dir/train.lock`, which the kernel drops when the process dies;
    the file records the holder (pid, host, start time) for the message a second run prints. A file
    left by a run that died without removing it is taken over when its pid is dead on this host; one
    naming another host, or a live pid, is not, since its run cannot be ruled out (a file system may
    not share locks between hosts). Raises `OutputFolderBusy` naming the run in the way.
    """
    path = os.path.join(output_dir, LOCK_FILE)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_lock(descriptor)
            os.close(descriptor)
            raise OutputFolderBusy(
                f"{output_dir} is in use by a live run ({describe_holder(holder)}; lock file {path}). "
                f"Let it finish or stop it, or choose another --output_dir."
            ) from None
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the previous holder removed the file between our open and flock: lock the new one
    holder = read_lock(descriptor)
    here = socket.gethostname()
    if holder:
        pid = holder.get("pid")
        if holder.get("host") != here:
            reason = "it ran on another host, where this process cannot check its pid"
        elif isinstance(pid, int) and process_alive(pid):
            reason = "that pid is alive on this host"
        else:
            reason = None
        if reason is not None:
            os.close(descriptor)
            raise OutputFolderBusy(
                f"{path} names a run that may still be alive ({describe_holder(holder)}): {reason}. "
                f"If that run has ended, delete the file; otherwise choose another --output_dir."
            )
    record = {"pid": os.getpid(), "host": here, "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(record).encode(), 0)
    return descriptor, holder


def read_lock(descriptor: int) -> dict:
    """The holder a lock file records; `{}` when it is empty, `{"pid": None, ...}` when unreadable."""
    content = os.pread(descriptor, 4096, 0)
    if not content:
        return {}
    try:
        holder = json.loads(content)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):  # cut short by a run killed while writing it
        holder = {"pid": None, "host": socket.gethostname(), "started": None}
    return holder


def release_output_lock(output_dir: str, descriptor: int):
    """Remove the lock file, then drop the lock (in this order: see the check in `take_output_lock`)."""
    os.remove(os.path.join(output_dir, LOCK_FILE))
    os.close(descriptor)


@contextmanager
def lock_output_folder(accelerator: Accelerator, output_dir: str):
    """Hold the lock of `output_dir` inside the block (the main process takes it for the run).

    When another run holds it, every process leaves at once with the same error, before writing anything.
    """
    descriptor, dead_run, error = None, {}, None
    if accelerator.is_main_process:
        try:
            os.makedirs(output_dir, exist_ok=True)
            if fcntl is not None:
                descriptor, dead_run = take_output_lock(output_dir)
        except (OutputFolderBusy, OSError) as problem:
            error = str(problem)
        if fcntl is None:
            logger.warning(f"No file locks on {sys.platform}: nothing stops a second run from writing {output_dir}.")
        if dead_run:
            logger.warning(f"Took over the lock of {output_dir} from a dead run ({describe_holder(dead_run)}).")
    if accelerator.num_processes > 1:
        error = broadcast_object_list([error])[0]
    if error is not None:
        raise SystemExit(f"error: {error}")
    try:
        yield
    finally:
        if descriptor is not None:
            release_output_lock(output_dir, descriptor)


def setup_problem(distributed_type: DistributedType, num_processes: int, environ=os.environ) -> str | None:
    """Why the setup Accelerate made cannot train this model as the launcher asked, or None if it can."""
    launched = int(environ.get("WORLD_SIZE", "1"))
    if launched > num_processes:
        return (f"the launcher started {launched} processes but Accelerate set up {distributed_type.value} with "
                f"{num_processes}, so each would train alone. On a machine without GPUs, launch with "
                f"ACCELERATE_USE_CPU=1 (see the README).")
    if distributed_type == DistributedType.DEEPSPEED or environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return ("DeepSpeed is not supported: it casts the weights to bf16 itself while the loss feeds the DiT "
                "fp32 videos, and at these model sizes ZeRO saves nothing that matters. Use "
                "training/configs/gpu_multi.yaml (DDP) or training/configs/fsdp.yaml.")
    if environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and distributed_type != DistributedType.FSDP:
        return (f"the launcher asked for FSDP but Accelerate set up {distributed_type.value}: it shards only on "
                f"accelerators (GPUs and the like), so on this machine the run would be plain data parallelism. "
                f"On CPUs use training/configs/cpu_2_processes.yaml with ACCELERATE_USE_CPU=1.")
    return None


# ----------------------------------------------------------------------------------------------
# Checkpoints: written under a temporary name and renamed when complete, so a crash mid-write
# never leaves a folder that looks like a checkpoint.
# ----------------------------------------------------------------------------------------------


def complete_checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """`(step, path)` of every complete checkpoint in `output_dir`, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = CHECKPOINT_PATTERN.match(name)
        if match and os.path.isfile(os.path.join(output_dir, name, "training_state.json")):
            found.append((int(match.group(1)), os.path.join(output_dir, name)))
    return sorted(found)


def save_checkpoint(accelerator: Accelerator, args, global_step: int):
    """Save the full training state to `output_dir/checkpoint-{global_step}` crash-safely."""
    final = os.path.join(args.output_dir, f"checkpoint-{global_step}")
    partial = final + ".partial"
    if accelerator.is_main_process and os.path.isdir(partial):
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(partial)
    if accelerator.is_main_process:
        with open(os.path.join(partial, "training_state.json"), "w") as file:
            json.dump({"global_step": global_step}, file)
        if os.path.isdir(final):  # left by a run that went further before this one resumed from an earlier step
            shutil.rmtree(final)
        os.replace(partial, final)
        if args.checkpoints_total_limit is not None:
            for _, old in complete_checkpoints(args.output_dir)[: -args.checkpoints_total_limit]:
                shutil.rmtree(old)
        logger.info(f"Saved {final}")
    accelerator.wait_for_everyone()


def resolve_resume(args) -> str | None:
    """The checkpoint folder `--resume_from_checkpoint` names, or None to start fresh."""
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint != "latest":
        path = args.resume_from_checkpoint
        if not os.path.isfile(os.path.join(path, "training_state.json")):
            raise SystemExit(f"error: {path!r} is not a complete checkpoint (no training_state.json).")
        return path
    checkpoints = complete_checkpoints(args.output_dir)
    return checkpoints[-1][1] if checkpoints else None


def load_checkpoint(accelerator: Accelerator, path: str, args) -> int:
    """`accelerator.load_state(path)`; return the checkpoint's step. A checkpoint that cannot be loaded
    (damaged, or from a model of another size) stops the run with a message that names it."""
    try:
        accelerator.load_state(path)
        with open(os.path.join(path, "training_state.json")) as file:
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


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` whole: a DTensor shard (FSDP) is gathered, which every process must do together."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def placed_like(full: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """`full` on `parameter`'s device, cut into the same shard when `parameter` is a DTensor (FSDP)."""
    if hasattr(parameter, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(parameter.device), parameter.device_mesh, parameter.placements)
    return full.to(parameter.device)


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


# ----------------------------------------------------------------------------------------------
# Randomness and classifier-free guidance dropout (the loss itself is diffusers_textvid.diffusion_loss)
# ----------------------------------------------------------------------------------------------


def step_generator(seed: int, process_index: int, step: int) -> torch.Generator:
    """The generator for one optimisation step: a pure function of (seed, rank, step)."""
    mixed = np.random.SeedSequence((seed, process_index, step)).generate_state(1)[0]
    return torch.Generator().manual_seed(int(mixed))


def drop_prompts(prompts: list[str], share: float, generator: torch.Generator) -> list[str]:
    """Replace about `share` of the prompts by "" (the unconditional prompt of classifier-free guidance)."""
    keep = torch.rand(len(prompts), generator=generator) >= share
    return [p if k else "" for p, k in zip(prompts, keep.tolist())]


def look_dicts(looks: torch.Tensor, keep: torch.Tensor | None = None) -> list[dict]:
    """The looks `(B, K)` (value indices in `VARIATIONS` order, see `RandomLookDataset`) as one dict of
    factor -> value per video, with only the factors `keep` (bool `(B, K)`; None: all) marks."""
    keep = torch.ones(looks.shape, dtype=torch.bool) if keep is None else keep
    factors = list(VARIATIONS.items())
    return [
        {factor: values[index] for (factor, values), index, kept in zip(factors, row, kept_row) if kept}
        for row, kept_row in zip(looks.tolist(), keep.tolist())
    ]


def drop_factors(looks: torch.Tensor, share: float, generator: torch.Generator) -> list[dict]:
    """`look_dicts` of `looks` `(B, K)`, each factor left out (for the model to sample) with chance `share`."""
    return look_dicts(looks, torch.rand(looks.shape, generator=generator) >= share)



# ----------------------------------------------------------------------------------------------
# The trained module
# ----------------------------------------------------------------------------------------------


class TrainingModel(torch.nn.Module):
    """The text encoder and the DiT as one module, whose forward is the training loss.

    `accelerator.prepare` wraps this single module, so DDP and FSDP see one model, and both networks
    run inside the wrapper's forward (where FSDP gathers the shards it needs). The DiT is registered
    first: the parameter order, and with it the optimizer and EMA states, is the one of checkpoints
    written when the two were prepared separately.
    """

    def __init__(self, pipe, snr_gamma: float | None = None, loss_weighting: str = "min_snr",
                 own_estimate_inputs: OwnEstimateInputs | None = None, look_guess_weight: float = 0.0):
        super().__init__()
        self.transformer = pipe.transformer
        self.text_encoder = pipe.text_encoder
        self.tokenizer, self.scheduler = pipe.tokenizer, pipe.scheduler
        self.pipeline_class = type(pipe)
        self.snr_gamma, self.loss_weighting = snr_gamma, loss_weighting
        self.own_estimate_inputs = own_estimate_inputs
        self.look_guess_weight = look_guess_weight

    def forward(self, prompts: list[str], clean: torch.Tensor, generator: torch.Generator,
                variations: list[dict] | None = None, true_looks: list[dict] | None = None) -> torch.Tensor:
        """The diffusion loss of the `clean` videos `(B, 1, F, H, W)` of `prompts` conditioned on the looks
        `variations` (one dict per video; None for a model without looks), whose full looks are `true_looks`
        (needed by `look_guess_weight`): a scalar."""
        variation_ids = None if variations is None else self.transformer.encode_variations(variations)
        true_ids = None if true_looks is None else self.transformer.encode_variations(true_looks)
        return diffusion_loss(
            self.transformer, self.text_encoder, self.tokenizer, self.scheduler, prompts, clean, generator,
            self.snr_gamma, self.loss_weighting, self.own_estimate_inputs, variation_ids, true_ids,
            self.look_guess_weight,
        )

    def has_looks(self) -> bool:
        """Whether the transformer is conditioned on looks (`--variations`)."""
        return bool(self.transformer.config.get("variations"))

    def pipeline(self):
        """The pipeline of these networks, as it is saved."""
        return self.pipeline_class(
            tokenizer=self.tokenizer, text_encoder=self.text_encoder, transformer=self.transformer,
            scheduler=self.scheduler,
        )


@contextmanager
def ema_weights(ema: EMAModel | None, parameters: list[torch.nn.Parameter]):
    """The EMA weights in `parameters` inside the block, the training weights back after it.
    Works on FSDP shards too, each process swapping its own."""
    if ema is None:
        yield
        return
    with torch.no_grad():
        training = [parameter.detach().clone() for parameter in parameters]
        for parameter, shadow in zip(parameters, ema.shadow_params, strict=True):
            parameter.copy_(shadow)
    try:
        yield
    finally:
        with torch.no_grad():
            for parameter, saved in zip(parameters, training):
                parameter.copy_(saved)


@torch.no_grad()
def gather_weights(accelerator: Accelerator, model, ema: EMAModel | None, into: TrainingModel | None):
    """Load the whole weights of the prepared `model` (its EMA average with `ema`) into `into`, the plain
    copy the main process validates and saves. Every process must call it: gathering shards is collective."""
    with ema_weights(ema, list(model.parameters())):
        state = accelerator.get_state_dict(model)  # with FSDP, whole on the main process only
        if into is not None:
            into.load_state_dict(state)


def parameter_checksum(parameters) -> str:
    """A short hash of the whole parameter values: data-parallel processes must agree on it."""
    digest = hashlib.sha256()
    for parameter in parameters:
        digest.update(full_tensor(parameter.detach()).float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Validation: on the main process, with the plain copy that `gather_weights` filled
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def validation_loss(accelerator, model: TrainingModel, prompts: list[str], seed: int) -> float:
    """Mean loss on held-out validation prompts with fixed noise: comparable across steps."""
    clean = torch.stack([video_to_model_space(render_text_video(p)) for p in prompts]).to(accelerator.device)
    generator = torch.Generator().manual_seed(seed)
    # The original look, asked for in full where the model knows looks.
    looks = [DEFAULT_VARIATION] * len(prompts) if model.has_looks() else None
    with accelerator.autocast():
        return float(model(prompts, clean, generator, looks, true_looks=looks))


@torch.no_grad()
def render_validation_videos(accelerator, pipe, args, global_step: int):
    """Sample the validation prompts with DDIM, write GIFs, and log them as videos (TensorBoard, W&B) and as
    one frame grid (TensorBoard)."""
    sampler = build_sampling_pipeline(pipe, SCHEDULERS["ddim"])
    generator = torch.Generator().manual_seed(args.seed)
    with accelerator.autocast():
        videos = sampler(
            args.validation_prompts, num_inference_steps=args.validation_inference_steps, generator=generator,
            output_type="np",
        ).frames  # (B, F, H, W, 1)
    folder = os.path.join(args.output_dir, "validation", f"step-{global_step}")
    os.makedirs(folder, exist_ok=True)
    for prompt, video in zip(args.validation_prompts, videos):
        frames = sampler.video_processor.numpy_to_pil(video)
        export_to_gif(frames, os.path.join(folder, f"{prompt}.gif"))
    log_validation_videos(accelerator, args.validation_prompts, videos, global_step)
    grid = np.concatenate([np.concatenate(list(video[..., 0]), axis=1) for video in videos], axis=0)  # (B*H, F*W)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("validation/frames", grid[None], global_step, dataformats="CHW")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    exit_with_launcher()
    logging_dir = os.path.join(args.output_dir, "logs")
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=args.log_with,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=logging_dir),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    precision = accelerator.mixed_precision
    if accelerator.device.type == "cpu" and precision == "fp16":
        logger.warning(
            "fp16 mixed precision on a CPU: Accelerate does not autocast to fp16 there, so this run is plain fp32. "
            "Use --mixed_precision no, or bf16 on CPUs with AMX or AVX-512-BF16.", main_process_only=True,
        )
        precision = "no"
    logger.info(
        f"distributed_type={accelerator.distributed_type.value} processes={accelerator.num_processes} "
        f"mixed_precision={precision} device={accelerator.device} pid={os.getpid()} host={socket.gethostname()}",
        main_process_only=False,
    )
    problem = setup_problem(accelerator.distributed_type, accelerator.num_processes)
    if problem is not None:
        raise SystemExit(f"error: {problem}")
    with lock_output_folder(accelerator, args.output_dir):
        train(args, accelerator)
    accelerator.end_training()


def build_training_model(args) -> TrainingModel:
    """The networks to train, in training mode: those of `--pretrained_model_name_or_path` (in float32), or
    the untrained ones of `--model_preset` (and `--model_config`)."""
    if args.pretrained_model_name_or_path is not None:
        pipe = TextVideoPipeline.from_pretrained(args.pretrained_model_name_or_path)
    else:
        overrides = None
        if args.model_config:
            with open(args.model_config) as file:
                overrides = json.load(file)
        pipe = build_pipeline(args.model_preset, prediction_type=args.prediction_type, variations=args.variations,
                              transformer_overrides=overrides)
    if args.gradient_checkpointing:
        pipe.transformer.enable_gradient_checkpointing()
    return TrainingModel(pipe, args.snr_gamma, args.loss_weighting, own_estimate_inputs(args),
                         args.look_guess_weight).train()


def training_dataset(args, looks: bool, process_index: int, start_index: int):
    """The sample stream of process `process_index`, from its `start_index`-th sample: in random looks when
    `looks` (the model is conditioned on them: `--variations`, or a fine-tune of a model trained with them)."""
    return (RandomLookDataset if looks else ScrollingTextDataset)(
        seed=args.seed, process_index=process_index, start_index=start_index,
        hold_outs=HoldOuts(False, False) if args.no_hold_outs else HoldOuts(),
    )


def train(args, accelerator: Accelerator):
    set_seed(args.seed)  # the same initial weights on every process
    model = build_training_model(args)
    draws_looks = model.has_looks()
    # The main process validates and saves a plain copy into which the whole weights are gathered:
    # with FSDP the prepared model only holds shards.
    plain_copy = copy.deepcopy(model).eval().to(accelerator.device) if accelerator.is_main_process else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.adam_weight_decay)
    lr_scheduler = get_scheduler(
        args.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    # Built from the prepared parameters: on their device, and sharded like them under FSDP.
    ema = EMAModel(model.parameters(), decay=args.ema_decay) if args.use_ema else None
    if ema is not None:
        accelerator.register_for_checkpointing(EMACheckpoint(ema, model.parameters()))
    accelerator.register_load_state_pre_hook(two_model_checkpoint_loader(accelerator))

    if args.overwrite_output_dir and accelerator.is_main_process:
        remove_checkpoints(args.output_dir)
    accelerator.wait_for_everyone()
    global_step = 0
    resume_path = resolve_resume(args)
    if resume_path is not None:
        global_step = load_checkpoint(accelerator, resume_path, args)
        logger.info(f"Resumed from {resume_path} at step {global_step}")
    elif args.resume_from_checkpoint == "latest":
        logger.info("No complete checkpoint found; starting a new run.")

    # Each process reads its own stream; resuming starts it where the interrupted run stopped.
    samples_per_step = args.train_batch_size * args.gradient_accumulation_steps
    dataset = training_dataset(args, draws_looks, accelerator.process_index, start_index=global_step * samples_per_step)
    batches = iter(torch.utils.data.DataLoader(
        dataset, batch_size=args.train_batch_size, num_workers=args.dataloader_num_workers
    ))

    if accelerator.is_main_process:
        with open(os.path.join(args.output_dir, "training_args.json"), "w") as file:
            json.dump(vars(args) | {"hub_token": None}, file, indent=2)
        accelerator.init_trackers("textvid", config={k: v for k, v in vars(args).items()
                                                      if isinstance(v, (int, float, str, bool))})
    loss_prompts = list(validation_prompts())[: args.num_validation_loss_prompts]

    progress = tqdm(range(args.max_train_steps), initial=global_step, desc="steps",
                    disable=not accelerator.is_local_main_process)
    window_start, window_samples = time.perf_counter(), 0
    start_step = global_step
    while global_step < args.max_train_steps:
        generator = step_generator(args.seed, accelerator.process_index, global_step)
        for micro_step in range(args.gradient_accumulation_steps):
            prompts, clean, *looks = next(batches)
            if global_step == start_step and micro_step == 0:  # shows that every process reads its own stream
                logger.info(f"first batch: {list(prompts)}", main_process_only=False)
            prompts = drop_prompts(list(prompts), args.prompt_dropout, generator)
            variations = drop_factors(looks[0], args.variation_dropout, generator) if looks else None
            true_looks = look_dicts(looks[0]) if looks else None
            clean = clean.to(accelerator.device)
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    loss = model(prompts, clean, generator, variations, true_looks)
                losses = accelerator.gather(loss.detach()[None])
                if not torch.isfinite(losses).all():
                    # checkpoint-{global_step} holds the weights that gave this loss: the good one is older.
                    good = [path for step, path in complete_checkpoints(args.output_dir) if step < global_step]
                    message = (f"Loss is {losses.tolist()} at step {global_step}: stopping. Last good checkpoint: "
                               f"{good[-1] if good else 'none'}. A resumed run restores the learning rate and "
                               f"repeats this step exactly: start a new run with a lower --learning_rate.")
                    accelerator.end_training()
                    raise SystemExit(f"error: {message}")
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(model.parameters())
        global_step += 1
        progress.update(1)
        window_samples += samples_per_step * accelerator.num_processes

        if global_step % args.logging_steps == 0:
            elapsed = time.perf_counter() - window_start
            logs = {"loss": float(losses.mean()), "lr": lr_scheduler.get_last_lr()[0],
                    "samples_per_second": window_samples / elapsed}
            progress.set_postfix(**{k: f"{v:.4g}" for k, v in logs.items()})
            accelerator.log(logs, step=global_step)
            window_start, window_samples = time.perf_counter(), 0
        if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
            save_checkpoint(accelerator, args, global_step)
        if global_step % args.validation_steps == 0 or global_step == args.max_train_steps:
            gather_weights(accelerator, model, ema, into=plain_copy)
            if accelerator.is_main_process:
                val_loss = validation_loss(accelerator, plain_copy, loss_prompts, args.seed)
                render_validation_videos(accelerator, plain_copy.pipeline(), args, global_step)
                accelerator.log({"validation_loss": val_loss}, step=global_step)
                logger.info(f"step {global_step}: validation loss {val_loss:.5f}")
            accelerator.wait_for_everyone()

    accelerator.wait_for_everyone()
    # Data-parallel processes must end with the same weights: compare this line across ranks.
    logger.info(f"parameter checksum {parameter_checksum(model.parameters())}", main_process_only=False)
    gather_weights(accelerator, model, ema, into=plain_copy)
    if accelerator.is_main_process:
        plain_copy.pipeline().save_pretrained(args.output_dir)
        write_sample_gif(plain_copy.pipeline(), args.output_dir, num_inference_steps=args.validation_inference_steps)
        write_training_summary(args, global_step, accelerator.num_processes, plain_copy.scheduler.config.prediction_type)
        if args.push_to_hub:
            publish(args)


def public_training_command(script: str) -> str:
    """The command that launched `script`, with any Hub token hidden: the summary and the card are public."""
    words = [re.sub(r"^--hub_token=.*", "--hub_token=***", word) for word in sys.argv[1:]]
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


def publish(args):
    """Upload the pipeline folder with `huggingface_hub`: not checkpoints or logs, and of the validation GIFs
    only the last validation's, a few samples of the model as uploaded."""
    from huggingface_hub import create_repo, upload_folder

    repo_id = create_repo(args.hub_model_id or Path(args.output_dir).name, exist_ok=True, token=args.hub_token).repo_id
    steps = sorted(int(path.name.removeprefix("step-")) for path in Path(args.output_dir).glob("validation/step-*"))
    older_validations = [f"validation/step-{step}/**" for step in steps[:-1]]
    upload_folder(
        repo_id=repo_id, folder_path=args.output_dir, commit_message="Upload diffusers-textvid pipeline",
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "logs/**", "*.partial/**", LOCK_FILE, *older_validations],
        token=args.hub_token,
    )
    logger.info(f"Pushed to {repo_id}")


if __name__ == "__main__":
    main()
