"""Fine-tune a trained TextVideoPipeline with a LoRA to a new look, in the style of Diffusers' LoRA examples.

The base model (by default the one shipped in the package) stays frozen; PEFT adds low-rank layers to
the transformer and only those train, on videos rendered in the look `--look` asks for (factors of
`diffusers_textvid.data.LOOK_FACTORS`). The result is one small file, loaded in one call:

    accelerate launch --config_file training/configs/cpu_1_process.yaml training/train_textvid_lora.py \\
        --look direction=left_to_right --output_dir runs/lora-left-to-right

    pipe = TextVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    pipe.load_lora_weights("runs/lora-left-to-right", adapter_name="left_to_right")

At the end the adapter is scored on `--num_eval_prompts` validation prompts: the share of videos whose
nearest render over every look is the new one, and the symbols right under it. Needs `peft`
(`pip install "diffusers-textvid[lora,train]"`). What it shares with the full training script lives in
`diffusers_textvid.training`.
"""

import json
import logging
import os
import time

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.model_card import LORA_SUMMARY_FILE, write_lora_model_card
from diffusers_textvid.training.arguments import ADAPTER_DTYPES, own_estimate_inputs, parse_lora_args
from diffusers_textvid.training.lora import evaluate_look, load_lora_pipeline, lora_parameters, save_adapter
from diffusers_textvid.training.publishing import public_training_command, publish_run
from diffusers_textvid.training.training_model import (
    NonFiniteLoss, TrainingModel, drop_prompts, step_generator, training_step,
)
from diffusers_textvid.training.validation import render_validation_videos

logger = get_logger(__name__)


def main(argv=None):
    args = parse_lora_args(argv, description=__doc__)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision, log_with=args.log_with,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "logs")),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    try:
        pipe = load_lora_pipeline(args)
    except ValueError as error:  # target modules the base model lacks, a size not drawn: nothing written yet
        raise SystemExit(f"error: {error}") from None
    model = TrainingModel(pipe, args.snr_gamma, args.loss_weighting, own_estimate_inputs(args)).train()
    trainable = lora_parameters(model)
    logger.info(f"LoRA rank {args.rank} on {args.lora_target_modules}: {sum(p.numel() for p in trainable)} trainable "
                f"parameters; look {args.look}")
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate)
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
                                 num_training_steps=args.max_train_steps * accelerator.num_processes)
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    num_frames, frame_size = accelerator.unwrap_model(model).video_size()  # the base model's
    dataset = ScrollingTextDataset(seed=args.seed, process_index=accelerator.process_index, look=args.look,
                                   num_frames=num_frames, frame_size=frame_size)
    batches = iter(torch.utils.data.DataLoader(dataset, batch_size=args.train_batch_size))
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
        accelerator.init_trackers("textvid-lora", config={k: v for k, v in vars(args).items()
                                                           if isinstance(v, (int, float, str, bool))})

    # CPU time of this process (all its threads) spent training, validation excluded: the budget's measure.
    training_cpu_seconds, began_wall = 0.0, time.perf_counter()
    progress = tqdm(range(args.max_train_steps), desc="steps", disable=not accelerator.is_local_main_process)
    for step in range(1, args.max_train_steps + 1):
        step_began = time.process_time()
        generator = step_generator(args.seed, accelerator.process_index, step)
        prompts, clean = next(batches)
        prompts = drop_prompts(list(prompts), args.prompt_dropout, generator)
        try:
            loss = training_step(accelerator, model, optimizer, lr_scheduler, trainable, args.max_grad_norm,
                                 prompts, clean, generator).mean()
        except NonFiniteLoss as error:
            raise SystemExit(f"error: loss is {error.losses} at step {step}: start again with a lower "
                             "--learning_rate.") from None
        training_cpu_seconds += time.process_time() - step_began
        progress.update(1)
        if step % args.logging_steps == 0:
            logs = {"loss": float(loss), "lr": lr_scheduler.get_last_lr()[0], "cpu_minutes": training_cpu_seconds / 60}
            progress.set_postfix(**{k: f"{v:.4g}" for k, v in logs.items()})
            accelerator.log(logs, step=step)
        if accelerator.is_main_process and (step % args.validation_steps == 0 or step == args.max_train_steps):
            render_validation_videos(accelerator, accelerator.unwrap_model(model).eval().pipeline(), args, step)
            model.train()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        pipe = accelerator.unwrap_model(model).eval().pipeline()
        summary = {
            "training_command": public_training_command("train_textvid_lora.py"),
            "base_model": args.pretrained_model_name_or_path,
            "look": args.look,
            "rank": args.rank,
            "target_modules": args.lora_target_modules,
            "train_steps": args.max_train_steps,
            "samples_seen": args.max_train_steps * args.train_batch_size * accelerator.num_processes,
            "training_cpu_minutes": training_cpu_seconds / 60,
            "training_wall_minutes": (time.perf_counter() - began_wall) / 60,
        }
        summary["adapter_bytes"] = save_adapter(pipe, args.output_dir, ADAPTER_DTYPES[args.adapter_dtype])
        if args.num_eval_prompts > 0:
            summary["evaluation"] = evaluate_look(pipe, args)
            logger.info(f"evaluation: {json.dumps(summary['evaluation'])}")
        with open(os.path.join(args.output_dir, LORA_SUMMARY_FILE), "w") as file:
            json.dump(summary, file, indent=2)
        write_lora_model_card(args.output_dir)
        logger.info(f"Saved the adapter ({summary['adapter_bytes']} bytes) in {args.output_dir}; "
                    f"{summary['training_cpu_minutes']:.2f} CPU-minutes of training")
        if args.push_to_hub:
            publish_run(args, "Upload diffusers-textvid LoRA", ignore_patterns=["logs/**"])
    accelerator.end_training()



if __name__ == "__main__":
    main()
