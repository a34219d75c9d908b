"""The command-line arguments of the training scripts, every one checked before anything is built,
created, locked or deleted: a bad argument stops `parse_args` with one error line (exit status 2).

`parse_training_args` is `training/train_textvid.py`'s, `parse_lora_args` `training/train_textvid_lora.py`'s.
"""

import argparse
import inspect
import json
import os

import numpy as np
import torch

from ..data.prompts import normalize_prompt
from ..data.looks import LOOK_FACTORS, check_look
from ..evaluation import model_video_size
from ..diffusion_loss import LOSS_WEIGHTINGS, LookEmphasis, OwnEstimateInputs, SymbolAttention
from ..presets import PRESETS, build_scheduler, transformer_arguments
from ..tracking import check_report_to
from .checkpoints import check_checkpoint, complete_checkpoints

# ----------------------------------------------------------------------------------------------
# training/train_textvid.py
# ----------------------------------------------------------------------------------------------


def training_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The parser of `training/train_textvid.py`'s arguments (`description`: its help text), without the checks
    `parse_training_args` adds; `training_parser().parse_args([])` holds every default."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--pretrained_model_name_or_path", default=None,
                       help="Start from this trained pipeline (folder or Hub repo id) instead of an untrained preset: "
                            "a fine-tune. --model_preset is then only a label; --model_config, --prediction_type and "
                            "--looks cannot be combined with it.")
    model.add_argument("--model_preset", default="small", choices=sorted(PRESETS), help="Named size from build_pipeline.")
    model.add_argument("--model_config", default=None, help="JSON file of TextVideoDiTModel arguments overriding the preset's.")
    model.add_argument("--prediction_type", default=None, choices=["epsilon", "v_prediction", "sample"],
                       help="Training target; defaults to the preset's. Written into the scheduler config.")
    model.add_argument("--gradient_checkpointing", action="store_true")
    model.add_argument("--looks", "--variations", dest="looks", action="store_true",
                       help="Train on random looks (every combination of diffusers_textvid.data.LOOK_FACTORS, drawn "
                            "uniformly) with the transformer conditioned on them: the pipeline's `look=`. "
                            "(--variations is its deprecated name.)")

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
    train.add_argument("--look_dropout", "--variation_dropout", dest="look_dropout", type=float, default=0.5,
                       help="With --looks: chance that each factor of a video's look is left out of the "
                            "conditioning, which teaches the model to sample the factors it is not given. "
                            "(--variation_dropout is its deprecated name.)")
    train.add_argument("--look_guess_weight", type=float, default=0.0,
                       help="For a model with scroll alignment (`scroll_cell_widths` in --model_config): weight of "
                            "the cross-entropy that teaches every block's guess of the scroll (direction, "
                            "crossing, weight) the chance of each one, given the noisy video and the factors given.")
    train.add_argument("--look_template_weight", type=float, default=0.0,
                       help="For a model with look evidence (`look_evidence_width` in its config): weight of the "
                            "squared error between the template of each video's true look and the video, which "
                            "teaches the templates what every look shows.")
    train.add_argument("--look_emphasis", nargs="+", default=None, metavar="FACTOR=VALUE:WEIGHT",
                       help="For a model with looks: multiply the loss of videos drawn in these factor values by "
                            "WEIGHT (e.g. weight=light:2 crossing_frames=7:2; a video's weight is the product), at "
                            "timesteps below --look_emphasis_below only, where x_t already shows the look (see "
                            "diffusers_textvid.diffusion_loss.LookEmphasis).")
    train.add_argument("--look_emphasis_below", type=int, default=300,
                       help="The timestep below which --look_emphasis applies.")
    train.add_argument("--symbol_attention_weight", type=float, default=0.0,
                       help="Weight of a loss that asks the cross-attention of --symbol_attention_blocks (heads "
                            "averaged) to look, from every video token that shows ink, at the text token of the "
                            "symbol the renderer drew there (diffusers_textvid.diffusion_loss.SymbolAttention). "
                            "Labels only: the model never reads them and samples without them. 0 turns it off.")
    train.add_argument("--symbol_attention_blocks", type=int, nargs="+", default=[1, 2], metavar="BLOCK",
                       help="The blocks (from 0) whose cross-attention --symbol_attention_weight supervises.")
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
    return parser


def parse_training_args(argv=None, description: str | None = None) -> argparse.Namespace:
    """The arguments of `training/train_textvid.py` (`description`: its help text), checked."""
    parser = training_parser(description)
    args = parser.parse_args(argv)
    if args.push_to_hub and args.hub_token is None:
        args.hub_token = os.environ.get("HF_TOKEN")
    try:
        check_training_args(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        parser.error(str(error))  # one line on stderr, exit status 2, before anything is built or written
    try:
        args.log_with = check_report_to(args.report_to)
    except ValueError as error:
        parser.error(str(error))
    return args


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
    "look_dropout": (0.0, 1.0, True),
    "look_guess_weight": (0.0, None, True),
    "look_template_weight": (0.0, None, True),
    "symbol_attention_weight": (0.0, None, True),
}
MAX_SEED = 2**32 - 1  # numpy's global seed, which accelerate's set_seed also sets, takes no more


def check_training_args(args: argparse.Namespace):
    """Raise `ValueError` (or `FileNotFoundError`) naming the first bad argument, the value given and
    what is allowed. `parse_training_args` calls it, so a bad argument stops the run before any model is
    built or any file written."""
    check_numbers(args, POSITIVE_INT_ARGUMENTS, NON_NEGATIVE_INT_ARGUMENTS, FLOAT_ARGUMENTS)
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        raise ValueError(f"--checkpoints_total_limit must be a positive integer, got {args.checkpoints_total_limit}.")
    check_common_training_args(args)
    if args.model_config is not None:
        check_model_config(args)
    if args.pretrained_model_name_or_path is None:  # a pretrained model's size is checked once it is loaded
        overrides = read_model_config(args.model_config) if args.model_config else None
        check_renderable_model(build_transformer_on_meta(args, overrides).config)
    else:
        clashing = [f"--{name}" for name in ("model_config", "prediction_type") if getattr(args, name) is not None]
        clashing += ["--looks"] if args.looks else []
        if clashing:
            raise ValueError(f"--pretrained_model_name_or_path fixes the model; it cannot be combined with {', '.join(clashing)}.")
    check_symbol_attention_blocks(args)
    look_emphasis(args)
    check_output_dir(args)
    if args.resume_from_checkpoint not in (None, "latest"):
        check_checkpoint(args.resume_from_checkpoint)


def add_own_estimate_arguments(group):
    """The `--own_estimate_*` options (this script's and the LoRA script's) in the argparse `group`."""
    group.add_argument("--own_estimate_share", type=float, default=0.0,
                       help="Share of each batch noised from the model's own earlier estimate instead of the true "
                            "video (see diffusers_textvid.diffusion_loss.OwnEstimateInputs); 0 turns it off.")
    group.add_argument("--own_estimate_band", type=int, nargs="+", default=[100, 300], metavar="LOW HIGH",
                       help="Timesteps [LOW, HIGH) of those rows (where long sampling runs lost the video); "
                            "several pairs LOW HIGH LOW HIGH ... for several bands, drawn evenly over their steps.")
    group.add_argument("--own_estimate_lookahead", type=int, nargs=2, default=[20, 200], metavar=("LOW", "HIGH"),
                       help="How many steps earlier (noisier) the model makes the estimate that is noised again.")


def own_estimate_inputs(args: argparse.Namespace) -> OwnEstimateInputs | None:
    """The `--own_estimate_*` settings, or None when the share is 0."""
    if args.own_estimate_share == 0.0:
        return None
    return OwnEstimateInputs(args.own_estimate_share, own_estimate_bands(args), tuple(args.own_estimate_lookahead))


def own_estimate_bands(args: argparse.Namespace) -> tuple[tuple[int, int], ...]:
    """`--own_estimate_band LOW HIGH [LOW HIGH ...]` as ((LOW, HIGH), ...); ValueError for an odd count."""
    values = args.own_estimate_band
    if len(values) % 2:
        raise ValueError(f"--own_estimate_band takes pairs LOW HIGH, got {len(values)} number(s): {values}.")
    return tuple(zip(values[::2], values[1::2]))


def look_emphasis(args: argparse.Namespace) -> LookEmphasis | None:
    """`--look_emphasis FACTOR=VALUE:WEIGHT ...` below `--look_emphasis_below`, or None when not given;
    `ValueError` naming the bad word or number."""
    if not args.look_emphasis:
        return None
    weights = {}
    for word in args.look_emphasis:
        factor_value, colon, weight_text = word.rpartition(":")
        factor, value = parse_factor_value("--look_emphasis", word, factor_value if colon else "", "FACTOR=VALUE:WEIGHT")
        try:
            weight = float(weight_text)
        except ValueError:
            raise ValueError(f"--look_emphasis {word!r}: WEIGHT must be a number, got {weight_text!r}.") from None
        weights.setdefault(factor, {})[value] = weight
    try:
        return LookEmphasis(weights, args.look_emphasis_below)
    except ValueError as error:
        raise ValueError(f"--look_emphasis: {error}") from None


def symbol_attention(args: argparse.Namespace) -> SymbolAttention | None:
    """The `--symbol_attention_*` settings, or None when the weight is 0."""
    if args.symbol_attention_weight == 0.0:
        return None
    return SymbolAttention(args.symbol_attention_weight, tuple(args.symbol_attention_blocks))


def check_symbol_attention_blocks(args: argparse.Namespace):
    """`--symbol_attention_blocks` must name blocks the model has (for a model built from a preset; the
    blocks of a pretrained model are checked when it is loaded, before the first step)."""
    blocks = args.symbol_attention_blocks
    if args.symbol_attention_weight == 0.0:
        return
    if len(set(blocks)) != len(blocks) or min(blocks) < 0:
        raise ValueError(f"--symbol_attention_blocks must be distinct block numbers from 0, got {blocks}.")
    if args.pretrained_model_name_or_path is None:
        overrides = read_model_config(args.model_config) if args.model_config else None
        num_layers = transformer_arguments(args.model_preset, args.prediction_type, args.looks, overrides)["num_layers"]
        if max(blocks) >= num_layers:
            raise ValueError(f"--symbol_attention_blocks {blocks}: the model has blocks 0 to {num_layers - 1}.")


def check_numbers(args: argparse.Namespace, positive: tuple[str, ...], non_negative: tuple[str, ...], floats: dict):
    """The integer arguments named in `positive` (at least 1) and `non_negative`, the float ones of `floats`
    (`{name: (lowest, highest, whether the lowest itself is allowed)}`, None allowed) and `--seed`."""
    for name in positive:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    for name in non_negative:
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be 0 or more, got {getattr(args, name)}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be 0 to {MAX_SEED}, got {args.seed}.")
    for name, (lowest, highest, lowest_allowed) in floats.items():
        value = getattr(args, name)
        if value is None:
            continue
        too_low = value < lowest if lowest_allowed else value <= lowest
        if not np.isfinite(value) or too_low or (highest is not None and value > highest):
            allowed = f"in [{lowest}, {highest}]" if highest is not None else f"{'>=' if lowest_allowed else '>'} {lowest}"
            raise ValueError(f"--{name} must be a finite number {allowed}, got {value}.")


def check_common_training_args(args: argparse.Namespace):
    """What both training scripts share: the own-estimate settings against the noise schedule (checked
    whatever the share), the validation steps and prompts, the output folder's kind and the base model."""
    if not 0.0 <= args.prompt_dropout < 1.0:  # (also false for NaN)
        raise ValueError(f"--prompt_dropout must be a share in [0, 1), got {args.prompt_dropout}: at 1 every prompt "
                         "is dropped and the model never sees the text.")
    num_train_timesteps = build_scheduler().config.num_train_timesteps
    bands = own_estimate_bands(args)
    try:
        OwnEstimateInputs(args.own_estimate_share, bands, tuple(args.own_estimate_lookahead))
    except ValueError as error:
        raise ValueError(f"--own_estimate_*: {error}") from None
    for low, high in bands:
        if high > num_train_timesteps:
            raise ValueError(f"--own_estimate_band {low} {high}: the band must lie inside the {num_train_timesteps} "
                             f"training timesteps (HIGH <= {num_train_timesteps}).")
    if not 1 <= args.validation_inference_steps <= num_train_timesteps:
        raise ValueError(f"--validation_inference_steps must be 1 to {num_train_timesteps}, "
                         f"got {args.validation_inference_steps}.")
    try:
        args.validation_prompts = [normalize_prompt(prompt) for prompt in args.validation_prompts]
    except ValueError as error:
        raise ValueError(f"--validation_prompts: {error}") from None
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise ValueError(f"--output_dir {args.output_dir!r} is a file; give a folder (it is created if missing).")
    if args.pretrained_model_name_or_path is not None:
        check_model_source(args.pretrained_model_name_or_path)


def check_model_source(name: str):
    """`--pretrained_model_name_or_path` must be a pipeline folder here or a Hub repo id ("owner/name")."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "model_index.json")):
            raise ValueError(f"--pretrained_model_name_or_path {name!r} is a folder without model_index.json: "
                             "give a folder saved by save_pretrained (or a training run's output folder).")
        return
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ValueError(f"--pretrained_model_name_or_path {name!r}: no such folder, and not a Hub repo id "
                         "(owner/name).") from None


def check_model_config(args: argparse.Namespace):
    """`--model_config` must be a JSON object of `TextVideoDiTModel` arguments that builds a model of the
    run's preset; its `looks` must be the renderer's and must not clash with `--looks`."""
    from diffusers_textvid import TextVideoDiTModel

    path = args.model_config
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model_config {path!r} does not exist (or is not a file).")
    overrides = read_model_config(path)
    known = set(inspect.signature(TextVideoDiTModel.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"--model_config {path!r} has unknown TextVideoDiTModel argument(s) {unknown}; "
                         f"known: {sorted(known)}.")
    if "looks" in overrides:
        if args.looks:
            raise ValueError(f"--model_config {path!r} sets \"looks\" and --looks is given: say which "
                             "looks the model takes in one place (drop the key, or the flag).")
        check_config_looks(path, overrides["looks"])
    try:
        build_transformer_on_meta(args, overrides)
    except (ValueError, TypeError) as error:
        raise ValueError(f"--model_config {path!r} does not build a TextVideoDiTModel: {error}") from None


def read_model_config(path: str) -> dict:
    """The `TextVideoDiTModel` arguments in the JSON file `path` (`--model_config`), with the deprecated
    key `variations` read as `looks`."""
    try:
        with open(path) as file:
            overrides = json.load(file)
    except ValueError as error:
        raise ValueError(f"--model_config {path!r} is not valid JSON: {error}.") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"--model_config {path!r} must hold a JSON object, got {type(overrides).__name__}.")
    if "variations" in overrides:
        if "looks" in overrides:
            raise ValueError(f"--model_config {path!r} has both \"looks\" and its old name \"variations\": keep \"looks\".")
        overrides["looks"] = overrides.pop("variations")
    return overrides


def check_config_looks(path: str, looks):
    """The `looks` key of a `--model_config`: null, or factors and values the renderer draws."""
    if looks is None:
        return
    if not isinstance(looks, dict):
        raise ValueError(f"--model_config {path!r}: \"looks\" must be null or an object of factor -> values, "
                         f"got {looks!r}.")
    for factor, values in looks.items():
        if factor not in LOOK_FACTORS:
            raise ValueError(f"--model_config {path!r}: \"looks\" has the factor {factor!r}, which the renderer "
                             f"does not draw; its factors: {list(LOOK_FACTORS)}.")
        strange = [value for value in values if value not in LOOK_FACTORS[factor]]
        if strange:
            raise ValueError(f"--model_config {path!r}: \"looks\".{factor} has {strange}, which the renderer "
                             f"does not draw; its values: {list(LOOK_FACTORS[factor])}.")


def build_transformer_on_meta(args: argparse.Namespace, overrides: dict | None):
    """The transformer the run would train, built on the meta device (no weights allocated), so that its
    own checks run before anything is written."""
    from diffusers_textvid import TextVideoDiTModel

    arguments = transformer_arguments(args.model_preset, args.prediction_type, args.looks, overrides)
    with torch.device("meta"):
        return TextVideoDiTModel(**arguments)


def check_renderable_model(transformer_config):
    """`ValueError` for a transformer whose videos (`sample_frames` frames of `sample_size` pixels square)
    the renderer cannot draw: there would be nothing to train it on."""
    model_video_size(transformer_config, "to train it on")


def check_output_dir(args: argparse.Namespace):
    """`--output_dir` must be a folder (or not exist yet). One that holds a run, finished (model_index.json)
    or with checkpoints, is refused unless the run is resumed or `--overwrite_output_dir` asks to replace it."""
    output_dir = args.output_dir
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


# ----------------------------------------------------------------------------------------------
# training/train_textvid_lora.py
# ----------------------------------------------------------------------------------------------


ADAPTER_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Every linear map of the blocks (self-attention, cross-attention to the text, MLPs), the patch embedding
# and the output projection: research/lora-recipe/ compares this with fewer targets.
DEFAULT_TARGET_MODULES = ["patch_embedding", "self_attention.to_q", "self_attention.to_kv", "self_attention.to_out",
                          "cross_attention.to_q", "cross_attention.to_kv", "cross_attention.to_out",
                          "mlp.0", "mlp.2", "output_layer.projection"]


def parse_look(words: list[str]) -> dict:
    """`["direction=left_to_right", "crossing_frames=11"]` -> the complete look; `ValueError` naming a bad word."""
    return check_look(dict(parse_factor_value("--look", word, word, "FACTOR=VALUE") for word in words))


def parse_factor_value(option: str, word: str, text: str, form: str) -> tuple[str, object]:
    """`text` "FACTOR=VALUE" (taken from the command-line `word` of `option`, written `form`) -> (factor, value),
    the value as `LOOK_FACTORS` holds it (e.g. 7, not "7"); `ValueError` naming the option and the word."""
    factor, equals, value_text = text.partition("=")
    if not equals or factor not in LOOK_FACTORS:
        raise ValueError(f"{option} {word!r}: expected {form} with FACTOR one of {', '.join(LOOK_FACTORS)}.")
    values = {str(value): value for value in LOOK_FACTORS[factor]}
    if value_text not in values:
        raise ValueError(f"{option} {word!r}: {factor} is one of {', '.join(values)}.")
    return factor, values[value_text]


def parse_lora_args(argv=None, description: str | None = None) -> argparse.Namespace:
    """The arguments of `training/train_textvid_lora.py` (`description`: its help text), checked."""
    from diffusers_textvid import DEFAULT_MODEL_DIR

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained_model_name_or_path", default=DEFAULT_MODEL_DIR,
                        help="Pipeline folder or Hub repo id of the base model (default: the shipped model).")
    parser.add_argument("--look", nargs="+", default=["direction=left_to_right"], metavar="FACTOR=VALUE",
                        help="The new look; factors left out keep their first value.")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank.")
    parser.add_argument("--lora_alpha", type=float, default=None,
                        help="LoRA scale numerator (> 0); defaults to --rank.")
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
        check_numbers(args, LORA_POSITIVE_INT_ARGUMENTS, LORA_NON_NEGATIVE_INT_ARGUMENTS, LORA_FLOAT_ARGUMENTS)
        check_common_training_args(args)
    except (ValueError, TypeError) as error:
        parser.error(str(error))  # one line on stderr, exit status 2, before anything is built or written
    if args.push_to_hub and args.hub_token is None:
        args.hub_token = os.environ.get("HF_TOKEN")
    return args


LORA_POSITIVE_INT_ARGUMENTS = ("rank", "train_batch_size", "max_train_steps", "validation_steps", "logging_steps",
                               "validation_inference_steps")
LORA_NON_NEGATIVE_INT_ARGUMENTS = ("lr_warmup_steps", "num_eval_prompts")
LORA_FLOAT_ARGUMENTS = {
    "lora_alpha": (0.0, None, False),
    "learning_rate": (0.0, None, False),
    "max_grad_norm": (0.0, None, False),
    "snr_gamma": (0.0, None, False),
}
