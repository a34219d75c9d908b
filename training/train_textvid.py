"""Train a TextVideoPipeline on scrolling-text videos rendered on the fly.

Launch with Accelerate (configs in training/configs/, what each was tested on in the README):

    accelerate launch training/train_textvid.py --model_preset small --output_dir runs/small \
        --mixed_precision bf16 --max_train_steps 20000 --use_ema

On a CPU machine, several processes need ACCELERATE_USE_CPU=1: `ACCELERATE_USE_CPU=1 accelerate launch
--config_file training/configs/cpu_2_processes.yaml ...` (see the README).

Reading order: main (setup), the networks and the data, the loop, saving and publishing. What this
script shares with the LoRA script lives in `diffusers_textvid.training`.
"""

import copy
import json
import logging
import os
import socket
import time

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.model_card import write_sample_gif
from diffusers_textvid.training.arguments import parse_training_args
from diffusers_textvid.training.checkpoints import (
    EMACheckpoint, complete_checkpoints, load_checkpoint, remove_checkpoints, resolve_resume, save_checkpoint,
    two_model_checkpoint_loader,
)
from diffusers_textvid.training.cpu_precision import bf16_cost_warning
from diffusers_textvid.training.distributed_weights import gather_weights, parameter_checksum
from diffusers_textvid.training.launcher import exit_with_launcher, setup_problem
from diffusers_textvid.training.output_folder import lock_output_folder
from diffusers_textvid.training.publishing import pipeline_upload_ignores, publish_run, write_training_summary
from diffusers_textvid.training.training_model import (
    NonFiniteLoss, build_training_model, drop_factors, drop_prompts, look_dicts, step_generator, training_dataset,
    training_step,
)
from diffusers_textvid.training.validation import render_validation_videos, validation_loss

logger = get_logger(__name__)


def main(argv=None):
    args = parse_training_args(argv, description=__doc__)
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
    if accelerator.device.type == "cpu" and precision == "bf16" and accelerator.is_main_process:
        warning = bf16_cost_warning()
        if warning:
            logger.warning(warning)
    logger.info(
        f"distributed_type={accelerator.distributed_type.value} processes={accelerator.num_processes} "
        f"mixed_precision={precision} device={accelerator.device} pid={os.getpid()} host={socket.gethostname()}",
        main_process_only=False,
    )
    problem = setup_problem(accelerator.distributed_type, accelerator.num_processes)
    if problem is not None:
        accelerator.wait_for_everyone()  # every rank has said how it was set up before the launcher ends them all
        raise SystemExit(f"error: {problem}")
    with lock_output_folder(accelerator, args.output_dir):
        train(args, accelerator)
    accelerator.end_training()


def prepare(args, accelerator: Accelerator):
    """The prepared model, optimizer and learning-rate schedule, the EMA (None without `--use_ema`) and,
    on the main process, the plain copy it validates and saves (None elsewhere)."""
    set_seed(args.seed)  # the same initial weights on every process
    model = build_training_model(args)
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
    return model, optimizer, lr_scheduler, ema, plain_copy


def first_step(args, accelerator: Accelerator) -> int:
    """0 for a new run (an earlier run's checkpoints deleted with `--overwrite_output_dir`), or the step of
    the checkpoint `--resume_from_checkpoint` names, loaded."""
    if args.overwrite_output_dir and accelerator.is_main_process:
        remove_checkpoints(args.output_dir)
    accelerator.wait_for_everyone()
    resume_path = resolve_resume(args)
    if resume_path is None:
        if args.resume_from_checkpoint == "latest":
            logger.info("No complete checkpoint found; starting a new run.")
        return 0
    global_step = load_checkpoint(accelerator, resume_path, args)
    logger.info(f"Resumed from {resume_path} at step {global_step}")
    return global_step


def train(args, accelerator: Accelerator):
    model, optimizer, lr_scheduler, ema, plain_copy = prepare(args, accelerator)
    global_step = first_step(args, accelerator)
    draws_looks = accelerator.unwrap_model(model).has_looks()
    video_size = accelerator.unwrap_model(model).video_size()  # the transformer's (sample_frames, sample_size)

    # Each process reads its own stream; resuming starts it where the interrupted run stopped.
    samples_per_step = args.train_batch_size * args.gradient_accumulation_steps
    dataset = training_dataset(args, draws_looks, video_size, accelerator.process_index,
                               start_index=global_step * samples_per_step)
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
            prompts, clean, *look_indices = next(batches)
            if global_step == start_step and micro_step == 0:  # shows that every process reads its own stream
                logger.info(f"first batch: {list(prompts)}", main_process_only=False)
            prompts = drop_prompts(list(prompts), args.prompt_dropout, generator)
            looks = drop_factors(look_indices[0], args.look_dropout, generator) if look_indices else None
            true_looks = look_dicts(look_indices[0]) if look_indices else None
            try:
                losses = training_step(accelerator, model, optimizer, lr_scheduler, model.parameters(),
                                       args.max_grad_norm, prompts, clean, generator, looks, true_looks)
            except NonFiniteLoss as error:
                # checkpoint-{global_step} holds the weights that gave this loss: the good one is older.
                good = [path for step, path in complete_checkpoints(args.output_dir) if step < global_step]
                message = (f"Loss is {error.losses} at step {global_step}: stopping. Last good checkpoint: "
                           f"{good[-1] if good else 'none'}. A resumed run restores the learning rate and "
                           f"repeats this step exactly: start a new run with a lower --learning_rate.")
                accelerator.end_training()
                raise SystemExit(f"error: {message}") from None
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
            save_checkpoint(accelerator, args.output_dir, global_step, args.checkpoints_total_limit)
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
        # With its code: this folder is what gets published, and loads without the package too.
        plain_copy.pipeline().save_pretrained(args.output_dir, self_contained=True)
        write_sample_gif(plain_copy.pipeline(), args.output_dir, num_inference_steps=args.validation_inference_steps)
        write_training_summary(args, global_step, accelerator.num_processes, plain_copy.scheduler.config.prediction_type)
        if args.push_to_hub:
            publish_run(args, "Upload diffusers-textvid pipeline", pipeline_upload_ignores(args.output_dir))


if __name__ == "__main__":
    main()
