"""A LoRA on a trained pipeline's transformer: the frozen base with a fresh adapter, the adapter saved
as one file, and its score on validation prompts in the look it was trained for."""

import os

import torch

from ..evaluation import evaluate_pipeline, evaluation_prompt_sets
from ..pipelines import TextVideoPipeline
from ..pipelines.lora_loading import LORA_WEIGHT_NAME, adaptable_modules, module_pattern
from ..schedulers import SCHEDULERS, build_sampling_pipeline
from .arguments import check_renderable_model


def load_lora_pipeline(args) -> TextVideoPipeline:
    """The base pipeline, frozen, with a fresh LoRA adapter ("default") on its transformer: the only trainable
    weights. `ValueError` when `--lora_target_modules` names no layer of it, or for a model whose videos the
    renderer cannot draw."""
    from peft import LoraConfig

    pipe = TextVideoPipeline.from_pretrained(args.pretrained_model_name_or_path)
    check_target_modules(pipe.transformer, args.lora_target_modules)
    check_renderable_model(pipe.transformer.config)
    pipe.text_encoder.requires_grad_(False)
    pipe.transformer.requires_grad_(False)
    alpha = args.rank if args.lora_alpha is None else args.lora_alpha
    config = LoraConfig(r=args.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                        target_modules=args.lora_target_modules)
    pipe.transformer.add_adapter(config)  # lora_B starts at zero: the adapted model starts as the base model
    return pipe


def lora_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The trainable (adapter) parameters of `model`."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


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
                               look=args.look)
    return {"scheduler": "ddim", "steps": args.validation_inference_steps, "num_prompts": result["num_prompts"],
            "look_accuracy": result["look_accuracy"], "char_accuracy": result["char_accuracy"],
            "prompt_accuracy": result["prompt_accuracy"], "psnr_db": result["psnr_db"]}


def check_target_modules(transformer: torch.nn.Module, names: list[str]):
    """Each of `names` (`--lora_target_modules`) must name modules of `transformer` that LoRA can adapt:
    PEFT matches a name against the end of every module's full name."""
    adaptable = adaptable_modules(transformer)
    unknown = [name for name in names if not any(full == name or full.endswith("." + name) for full in adaptable)]
    if unknown:
        raise ValueError(f"--lora_target_modules: {unknown} name no module of the transformer that LoRA can adapt; "
                         f"those are {sorted({module_pattern(name) for name in adaptable})}.")
