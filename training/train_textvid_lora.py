"""Fine-tune a trained TextVideoPipeline with a LoRA to a new look, in the style of Diffusers' LoRA examples.

The base model (by default the one shipped in the package) stays frozen; PEFT adds low-rank layers to
the transformer and only those train, on videos rendered in the look `--look` asks for (factors of
`diffusers_textvid.data.VARIATIONS`). The result is one small file, loaded in one call:

    accelerate launch --config_file training/configs/cpu_1_process.yaml training/train_textvid_lora.py \\
        --look direction=left_to_right --output_dir runs/lora-left-to-right

    pipe = TextVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
    pipe.load_lora_weights("runs/lora-left-to-right", adapter_name="left_to_right")

At the end the adapter is scored on `--num_eval_prompts` validation prompts: the share of videos whose
nearest render over every look is the new one, and the symbols right under it. Needs `peft`
(`pip install "diffusers-textvid[lora,train]"`).

Reading order: arguments, the LoRA model, the loop, evaluation and saving.
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.data.variations import VARIATIONS, check_variation
from diffusers_textvid.diffusion_loss import LOSS_WEIGHTINGS
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets
from diffusers_textvid.model_card import LORA_SUMMARY_FILE, write_lora_model_card
from diffusers_textvid.pipelines.lora_loading import LORA_WEIGHT_NAME
from diffusers_textvid.schedulers import SCHEDULERS, build_sampling_pipeline
from diffusers_textvid.tracking import check_report_to

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_textvid import (  # noqa: E402  (the full training script)
    TrainingModel, add_own_estimate_arguments, drop_prompts, own_estimate_inputs, public_training_command,
    render_validation_videos, step_generator,
)

logger = get_logger(__name__)

ADAPTER_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# Every linear map of the blocks (self-attention, cross-attention to the text, MLPs), the patch embedding
# and the output projection. With cross-attention too, 97.8% of symbols came out right in a light-weight
# run where 95.7% did without it (BENCHMARKS.md, "LoRA fine-tune").
DEFAULT_TARGET_MODULES = ["patch_embedding", "self_attention.to_q", "self_attention.to_kv", "self_attention.to_out",
                          "cross_attention.to_q", "cross_attention.to_kv", "cross_attention.to_out",
                          "mlp.0", "mlp.2", "output_layer.projection"]


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------


def parse_look(words: list[str]) -> dict:
    """`["direction=left_to_right", "crossing_frames=11"]` -> the complete look; `ValueError` naming a bad word."""
    look = {}
    for word in words:
        factor, equals, text = word.partition("=")
        if not equals or factor not in VARIATIONS:
            raise ValueError(f"--look {word!r}: expected FACTOR=VALUE with FACTOR one of {', '.join(VARIATIONS)}.")
        values = {str(value): value for value in VARIATIONS[factor]}
        if text not in values:
            raise ValueError(f"--look {word!r}: {factor} is one of {', '.join(values)}.")
        look[factor] = values[text]
    return check_variation(look)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained_model_name_or_path", default=DEFAULT_MODEL_DIR,
                        help="Pipeline folder or Hub repo id of the base model (default: the shipped model).")
    parser.add_argument("--look", nargs="+", default=["direction=left_to_right"], metavar="FACTOR=VALUE",
                        help="The new look; factors left out keep their first value.")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank.")
    parser.add_argument("--lora_alpha", type=float, default=None, help="LoRA scale numerator; defaults to --rank.")
    parser.add_argument("--lora_target_modules", nargs="+", default=DEFAULT_TARGET_MODULES)
    parser.add_argument("--adapter_dtype", default="fp32", choices=sorted(ADAPTER_DTYPES),
                        help="Dtype of the saved adapter weights (training is in fp32): fp16 halves the file.")
    parser.add_argument("--output_dir", default="textvid-lora")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--max_train_steps", type=int, default=500)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--lr_scheduler", default="cosine", choices=["constant", "constant_with_warmup", "linear", "cosine"])
    parser.add_argument("--lr_warmup_steps", type=int, default=20)
    parser.add_argument("--max_grad_norm", type=float, default=1.0)
    parser.add_argument("--snr_gamma", type=float, default=5.0, help="Cap of the loss weighting, as the base model's.")
    parser.add_argument("--loss_weighting", default="min_snr_plus_one", choices=sorted(LOSS_WEIGHTINGS))
    add_own_estimate_arguments(parser)
    parser.add_argument("--prompt_dropout", type=float, default=0.1, help="Keeps classifier-free guidance working.")
    parser.add_argument("--mixed_precision", default=None, choices=["no", "fp16", "bf16"])
    parser.add_argument("--validation_prompts", nargs="+", default=["HELLO", "AB12", "AS", "Z9"])
    parser.add_argument("--validation_steps", type=int, default=250)
    parser.add_argument("--validation_inference_steps", type=int, default=25)
    parser.add_argument("--num_eval_prompts", type=int, default=100,
                        help="Validation prompts scored at the end (DDIM, --validation_inference_steps); 0 skips it.")
    parser.add_argument("--logging_steps", type=int, default=20)
    parser.add_argument("--report_to", default="tensorboard",
                        help='Comma-separated trackers ("tensorboard", "wandb", ...), "all" or "none".')
    parser.add_argument("--push_to_hub", action="store_true")
    parser.add_argument("--hub_model_id", default=None, help="Repo id; defaults to the output folder's name.")
    parser.add_argument("--hub_token", default=None)
    args = parser.parse_args(argv)
    try:
        args.look = parse_look(args.look)
        args.log_with = check_report_to(args.report_to)
        own_estimate_inputs(args)
    except ValueError as error:
        parser.error(str(error))
    for name in ("rank", "train_batch_size", "max_train_steps", "validation_steps", "logging_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    if args.push_to_hub and args.hub_token is None:
        args.hub_token = os.environ.get("HF_TOKEN")
    return args


# ----------------------------------------------------------------------------------------------
# The LoRA model
# ----------------------------------------------------------------------------------------------


def load_lora_pipeline(args) -> TextVideoPipeline:
    """The base pipeline, frozen, with a fresh LoRA adapter ("default") on its transformer: the only trainable weights."""
    from peft import LoraConfig

    pipe = TextVideoPipeline.from_pretrained(args.pretrained_model_name_or_path)
    pipe.text_encoder.requires_grad_(False)
    pipe.transformer.requires_grad_(False)
    config = LoraConfig(r=args.rank, lora_alpha=args.lora_alpha or args.rank, init_lora_weights="gaussian",
                        target_modules=args.lora_target_modules)
    pipe.transformer.add_adapter(config)  # lora_B starts at zero: the adapted model starts as the base model
    return pipe


def lora_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision, log_with=args.log_with,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "logs")),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    set_seed(args.seed)
    pipe = load_lora_pipeline(args)
    model = TrainingModel(pipe, args.snr_gamma, args.loss_weighting, own_estimate_inputs(args)).train()
    trainable = lora_parameters(model)
    logger.info(f"LoRA rank {args.rank} on {args.lora_target_modules}: {sum(p.numel() for p in trainable)} trainable "
                f"parameters; look {args.look}")
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate)
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
                                 num_training_steps=args.max_train_steps * accelerator.num_processes)
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    dataset = ScrollingTextDataset(seed=args.seed, process_index=accelerator.process_index, variation=args.look)
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
        with accelerator.autocast():
            loss = model(prompts, clean.to(accelerator.device), generator)
        if not torch.isfinite(loss):
            raise SystemExit(f"error: loss is {loss.item()} at step {step}: start again with a lower --learning_rate.")
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(trainable, args.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
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
            publish(args)
    accelerator.end_training()


def save_adapter(pipe: TextVideoPipeline, output_dir: str, dtype: torch.dtype = torch.float32) -> int:
    """Write `output_dir/pytorch_lora_weights.safetensors` (with its `LoraConfig`), its weights in `dtype`;
    return its size in bytes. Loading casts them back to the model's dtype."""
    from peft.utils import get_peft_model_state_dict

    weights = {name: tensor.to(dtype) for name, tensor in get_peft_model_state_dict(pipe.transformer).items()}
    TextVideoPipeline.save_lora_weights(
        output_dir, transformer_lora_layers=weights,
        transformer_lora_adapter_metadata=pipe.transformer.peft_config["default"].to_dict(),
    )
    return os.path.getsize(os.path.join(output_dir, LORA_WEIGHT_NAME))


@torch.no_grad()
def evaluate_look(pipe: TextVideoPipeline, args) -> dict:
    """Score the adapted model on validation prompts: the new look's share and the symbols right under it."""
    prompts = evaluation_prompt_sets(args.num_eval_prompts, args.seed)["validation"]
    result = evaluate_pipeline(build_sampling_pipeline(pipe, SCHEDULERS["ddim"]), prompts, args.validation_inference_steps, seed=args.seed,
                               variation=args.look)
    return {"scheduler": "ddim", "steps": args.validation_inference_steps, "num_prompts": result["num_prompts"],
            "look_accuracy": result["look_accuracy"], "char_accuracy": result["char_accuracy"],
            "prompt_accuracy": result["prompt_accuracy"], "psnr_db": result["psnr_db"]}


def publish(args):
    """Upload the adapter, its card and the validation GIFs."""
    from huggingface_hub import create_repo, upload_folder

    repo_id = create_repo(args.hub_model_id or Path(args.output_dir).name, exist_ok=True, token=args.hub_token).repo_id
    upload_folder(repo_id=repo_id, folder_path=args.output_dir, commit_message="Upload diffusers-textvid LoRA",
                  ignore_patterns=["logs/**"], token=args.hub_token)
    logger.info(f"Pushed to {repo_id}")


if __name__ == "__main__":
    main()
