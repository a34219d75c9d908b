"""Train a TextVideoPipeline on scrolling-text videos rendered on the fly.

Launch with Accelerate (configs in training/configs/):

    accelerate launch training/train_textvid.py --model_preset small --output_dir runs/small \
        --mixed_precision bf16 --max_train_steps 20000 --use_ema

On a CPU machine, several processes need `ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu
--num_processes 2 --num_machines 1 ...` (see the README).

Reading order: arguments, checkpoints, randomness, validation, main (setup, loop, save, publish).
"""

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from diffusers.utils import export_to_gif
from tqdm.auto import tqdm

from diffusers_textvid import build_pipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset, video_to_model_space
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import HoldOuts, validation_prompts
from diffusers_textvid.diffusion_loss import LOSS_WEIGHTINGS, diffusion_loss
from diffusers_textvid.model_card import SUMMARY_FILE, write_model_card
from diffusers_textvid.presets import PRESETS

logger = get_logger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model_preset", default="small", choices=sorted(PRESETS), help="Named size from build_pipeline.")
    model.add_argument("--model_config", default=None, help="JSON file of TextVideoDiTModel arguments overriding the preset's.")
    model.add_argument("--prediction_type", default=None, choices=["epsilon", "v_prediction", "sample"],
                       help="Training target; defaults to the preset's. Written into the scheduler config.")
    model.add_argument("--gradient_checkpointing", action="store_true")

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", default="textvid-model")
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
    train.add_argument("--prompt_dropout", type=float, default=0.1,
                       help="Share of prompts replaced by the empty prompt, for classifier-free guidance.")
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
    checkpoints.add_argument("--report_to", default="tensorboard", help='"tensorboard", "all" or "none".')

    hub = parser.add_argument_group("publishing")
    hub.add_argument("--push_to_hub", action="store_true")
    hub.add_argument("--hub_model_id", default=None, help="Repo id; defaults to the output folder's name.")
    hub.add_argument("--hub_token", default=None)
    args = parser.parse_args(argv)
    if args.push_to_hub and args.hub_token is None:
        args.hub_token = os.environ.get("HF_TOKEN")
    return args


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


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def validation_loss(accelerator, pipe, prompts: list[str], seed: int, args) -> float:
    """Mean loss on held-out validation prompts with fixed noise: comparable across steps."""
    clean = torch.stack([video_to_model_space(render_text_video(p)) for p in prompts]).to(accelerator.device)
    generator = torch.Generator().manual_seed(seed)
    with accelerator.autocast():
        loss = diffusion_loss(
            pipe.transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, prompts, clean, generator,
            args.snr_gamma, args.loss_weighting,
        )
    return float(loss)


@torch.no_grad()
def render_validation_videos(accelerator, pipe, args, global_step: int):
    """Sample the validation prompts with DDIM, write GIFs and log a frame grid per prompt."""
    from diffusers import DDIMScheduler

    sampler = build_sampling_pipeline(pipe, DDIMScheduler)
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
    grid = np.concatenate([np.concatenate(list(video[..., 0]), axis=1) for video in videos], axis=0)  # (B*H, F*W)
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("validation/frames", grid[None], global_step, dataformats="CHW")


def build_sampling_pipeline(pipe, scheduler_class):
    """A copy of `pipe` sharing its models but with its own scheduler instance for sampling."""
    return type(pipe)(
        tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, transformer=pipe.transformer,
        scheduler=scheduler_class.from_config(pipe.scheduler.config),
    )


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    logging_dir = os.path.join(args.output_dir, "logs")
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=logging_dir),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    if accelerator.device.type == "cpu" and accelerator.mixed_precision == "fp16":
        logger.warning(
            "fp16 mixed precision on a CPU: Accelerate does not autocast to fp16 there, so this run is plain fp32. "
            "Use --mixed_precision bf16 on a CPU.", main_process_only=True,
        )
    logger.info(
        f"processes={accelerator.num_processes} device={accelerator.device} mixed_precision={accelerator.mixed_precision}",
        main_process_only=False,
    )
    set_seed(args.seed)  # the same initial weights on every process

    pipe = build_pipeline(args.model_preset, prediction_type=args.prediction_type)
    if args.model_config:
        from diffusers_textvid import TextVideoDiTModel

        with open(args.model_config) as file:
            overrides = json.load(file)
        pipe.transformer = TextVideoDiTModel(**{**pipe.transformer.config, **overrides})
    transformer, text_encoder, tokenizer, noise_scheduler = (
        pipe.transformer, pipe.text_encoder, pipe.tokenizer, pipe.scheduler,
    )
    if args.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    transformer.train()
    text_encoder.train()
    trainable = list(transformer.parameters()) + list(text_encoder.parameters())
    ema = EMAModel(trainable, decay=args.ema_decay) if args.use_ema else None

    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.adam_weight_decay)
    lr_scheduler = get_scheduler(
        args.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=args.max_train_steps * accelerator.num_processes,
    )
    transformer, text_encoder, optimizer, lr_scheduler = accelerator.prepare(
        transformer, text_encoder, optimizer, lr_scheduler
    )
    # The bare models inside the prepared wrappers: validation and the final save see the live weights.
    trained_pipe = type(pipe)(
        tokenizer=tokenizer, text_encoder=accelerator.unwrap_model(text_encoder),
        transformer=accelerator.unwrap_model(transformer), scheduler=noise_scheduler,
    )
    if ema is not None:
        accelerator.register_for_checkpointing(ema)

    global_step = 0
    resume_path = resolve_resume(args)
    if resume_path is not None:
        accelerator.load_state(resume_path)
        with open(os.path.join(resume_path, "training_state.json")) as file:
            global_step = json.load(file)["global_step"]
        logger.info(f"Resumed from {resume_path} at step {global_step}")
    elif args.resume_from_checkpoint == "latest":
        logger.info("No complete checkpoint found; starting a new run.")

    # Each process reads its own stream; resuming starts it where the interrupted run stopped.
    samples_per_step = args.train_batch_size * args.gradient_accumulation_steps
    dataset = ScrollingTextDataset(
        seed=args.seed, process_index=accelerator.process_index, start_index=global_step * samples_per_step,
        hold_outs=HoldOuts(False, False) if args.no_hold_outs else HoldOuts(),
    )
    batches = iter(torch.utils.data.DataLoader(
        dataset, batch_size=args.train_batch_size, num_workers=args.dataloader_num_workers
    ))

    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
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
            prompts, clean = next(batches)
            if global_step == start_step and micro_step == 0:  # shows that every process reads its own stream
                logger.info(f"first batch: {list(prompts)}", main_process_only=False)
            prompts = drop_prompts(list(prompts), args.prompt_dropout, generator)
            clean = clean.to(accelerator.device)
            with accelerator.accumulate(transformer, text_encoder):
                with accelerator.autocast():
                    loss = diffusion_loss(
                        transformer, text_encoder, tokenizer, noise_scheduler, prompts, clean, generator,
                        args.snr_gamma, args.loss_weighting,
                    )
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
                    accelerator.clip_grad_norm_(trainable, args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(trainable)
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
        if accelerator.is_main_process and (
            global_step % args.validation_steps == 0 or global_step == args.max_train_steps
        ):
            with ema_weights(ema, trainable):
                trained_pipe.transformer.eval()
                trained_pipe.text_encoder.eval()
                val_loss = validation_loss(accelerator, trained_pipe, loss_prompts, args.seed, args)
                render_validation_videos(accelerator, trained_pipe, args, global_step)
                trained_pipe.transformer.train()
                trained_pipe.text_encoder.train()
            accelerator.log({"validation_loss": val_loss}, step=global_step)
            logger.info(f"step {global_step}: validation loss {val_loss:.5f}")

    accelerator.wait_for_everyone()
    # Data-parallel processes must end with the same weights: compare this line across ranks.
    checksum = hashlib.sha256(b"".join(p.detach().float().cpu().numpy().tobytes() for p in trainable)).hexdigest()[:16]
    logger.info(f"parameter checksum {checksum}", main_process_only=False)
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(trainable)
        trained_pipe.save_pretrained(args.output_dir)
        write_training_summary(args, global_step, accelerator.num_processes)
        if args.push_to_hub:
            publish(args)
    accelerator.end_training()


class ema_weights:
    """Context manager: the EMA weights in the models inside, the training weights restored after."""

    def __init__(self, ema: EMAModel | None, parameters: list[torch.nn.Parameter]):
        self.ema, self.parameters = ema, parameters

    def __enter__(self):
        if self.ema is not None:
            self.ema.store(self.parameters)
            self.ema.copy_to(self.parameters)

    def __exit__(self, *exc):
        if self.ema is not None:
            self.ema.restore(self.parameters)


def write_training_summary(args, global_step: int, num_processes: int):
    """Record what the model card needs (`training_summary.json`), then write the card."""
    words = [re.sub(r"^--hub_token=.*", "--hub_token=***", word) for word in sys.argv[1:]]  # the card is public
    words = ["***" if previous == "--hub_token" else word for previous, word in zip([""] + words, words)]
    summary = {
        "training_command": "accelerate launch training/train_textvid.py " + " ".join(words),
        "model_preset": args.model_preset,
        "prediction_type": args.prediction_type or PRESETS[args.model_preset]["prediction_type"],
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
    """Upload the pipeline folder (not checkpoints or logs) with `huggingface_hub`."""
    from huggingface_hub import create_repo, upload_folder

    repo_id = create_repo(args.hub_model_id or Path(args.output_dir).name, exist_ok=True, token=args.hub_token).repo_id
    upload_folder(
        repo_id=repo_id, folder_path=args.output_dir, commit_message="Upload diffusers-textvid pipeline",
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "logs/**", "validation/**", "*.partial/**"],
        token=args.hub_token,
    )
    logger.info(f"Pushed to {repo_id}")


if __name__ == "__main__":
    main()
