"""Checks that turn a bad argument of `TextVideoPipeline`, or a broken model folder, into one clear error
before any work: `TypeError` for the wrong kind of value, `ValueError` for a wrong value, and
`FileNotFoundError` for a missing file or folder. Every message names the argument (or file), what was
given and what is allowed.

Like the pipeline file, this file imports only torch, diffusers, transformers, huggingface_hub and
safetensors: `save_pretrained(..., self_contained=True)` copies it next to the pipeline file, which
imports it, so a model folder still loads where the `diffusers_textvid` package is not installed.
"""

import ast
import importlib
import importlib.util
import json
import math
import numbers
import os
import socket
import urllib.parse
import urllib.request
import warnings

import diffusers
import torch
import transformers
from huggingface_hub import constants as hub_constants
from safetensors import safe_open

# The scheduler settings the transformer records: what it was trained to predict, and on which schedule.
SCHEDULE_KEYS = ("prediction_type", "num_train_timesteps", "beta_start", "beta_end", "beta_schedule")
PIPELINE_COMPONENTS = ("tokenizer", "text_encoder", "transformer", "scheduler")
WEIGHT_SUFFIX = ".safetensors"  # the only weights format the loaders read
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
HUB_DOWNLOAD_KEYWORDS = ("revision", "cache_dir", "force_download", "local_files_only", "token")
LIBRARIES = {"diffusers": diffusers, "transformers": transformers}
TRUE_WORDS = ("1", "ON", "YES", "TRUE")  # what huggingface_hub reads as a true environment variable
HUB_PROBE_SECONDS = 3.0  # a connection to the Hub's host slower than this counts as none


def describe(value) -> str:
    """`value` for a message: its repr, shortened, and its type."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


# ----------------------------------------------------------------------------------------------
# Numbers, prompts, generators, latents
# ----------------------------------------------------------------------------------------------


def check_number(name: str, value, minimum: float | None = None, maximum: float | None = None) -> float:
    """`value` as a float; `TypeError` unless it is a real number (not a bool, not a str), `ValueError`
    unless it is finite and within [`minimum`, `maximum`]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {describe(value)}.")
    if maximum is not None:
        allowed = f"a finite number in [{minimum}, {maximum}]"
    else:
        allowed = "a finite number" if minimum is None else f"a finite number >= {minimum}"
    if not math.isfinite(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {allowed}, got {value}.")
    return float(value)


def check_count(name: str, value, maximum: int | None = None, why: str = "") -> int:
    """`TypeError` unless `value` is an int (not a bool), `ValueError` unless 1 <= value <= `maximum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive int, got {describe(value)}.")
    if value < 1 or (maximum is not None and value > maximum):
        allowed = f"1 to {maximum}{why}" if maximum is not None else "a positive int"
        raise ValueError(f"`{name}` must be {allowed}, got {value}.")
    return int(value)


def check_flag(name: str, value) -> bool:
    """`TypeError` unless `value` is True or False: a str such as "no" would read as True, None as False."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, got {describe(value)}.")
    return value


def check_prompt_argument(name: str, prompt) -> list:
    """`prompt` (a str or a non-empty list of str) as a list; the symbols are checked by the pipeline."""
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise TypeError(f"`{name}` must be a str or a list of str, got {describe(prompt)}.")
    if not prompts:
        raise ValueError(f"`{name}` is an empty list: give at least one prompt.")
    return list(prompts)


def check_generator(generator, num_videos: int):
    """`generator`: None, one `torch.Generator`, or a list of exactly one per video."""
    if generator is None or isinstance(generator, torch.Generator):
        return
    if not isinstance(generator, (list, tuple)) or not all(isinstance(g, torch.Generator) for g in generator):
        raise TypeError(
            f"`generator` must be a torch.Generator or a list of them, got {describe(generator)}; "
            "for a seed use torch.Generator().manual_seed(seed)."
        )
    if len(generator) != num_videos:
        raise ValueError(
            f"`generator` is a list of {len(generator)} generators, but {num_videos} video(s) are made "
            "(prompts x num_videos_per_prompt): give one generator per video, or a single one."
        )


def check_latents(latents, expected_shape: tuple[int, ...]):
    """`latents`: a floating-point tensor of `expected_shape` `(B, C, F, H, W)` holding finite values."""
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"`latents` must be a torch.Tensor, got {type(latents).__module__}.{type(latents).__name__}.")
    if not latents.is_floating_point():
        raise TypeError(
            f"`latents` must be a floating-point tensor (Gaussian noise), got dtype {latents.dtype}; "
            "convert it with .float() if that is really what you mean."
        )
    if tuple(latents.shape) != tuple(expected_shape):
        raise ValueError(f"`latents` must have shape {tuple(expected_shape)}, got {tuple(latents.shape)}.")
    if not torch.isfinite(latents).all():
        raise ValueError("`latents` holds NaN or infinite values; every value must be finite.")


def check_embeddings(name: str, embeddings, mask, batch_size: int | None = None, text_width: int | None = None,
                     max_tokens: int | None = None):
    """`embeddings`: finite floats `(B, L, D)` (from encode_prompt) with an attention mask `(B, L)` of 0s
    (padding) and 1s (tokens to attend to), at least one 1 a row; B = `batch_size`, D = `text_width` and
    at most `max_tokens` 1s a row where those are given (the transformer's text width and the text lengths
    its position tables cover)."""
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor (from encode_prompt), got {type(embeddings).__name__}.")
    if embeddings.ndim != 3:
        raise ValueError(f"`{name}` must have shape (batch, tokens, width), got {tuple(embeddings.shape)}.")
    if not embeddings.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor, got dtype {embeddings.dtype}.")
    if text_width is not None and embeddings.shape[2] != text_width:
        raise ValueError(
            f"`{name}` must be {text_width} wide (the transformer's text_embed_dim), got shape {tuple(embeddings.shape)}; "
            "make it with encode_prompt of this model's pipeline."
        )
    if batch_size is not None and embeddings.shape[0] != batch_size:
        raise ValueError(f"`{name}` holds {embeddings.shape[0]} prompt(s), expected {batch_size}.")
    if not torch.isfinite(embeddings).all():
        raise ValueError(f"`{name}` holds NaN or infinite values; every value must be finite.")
    mask_name = name.replace("embeds", "attention_mask")
    if mask is None:
        raise ValueError(f"`{name}` needs `{mask_name}` (1 for tokens to attend to, 0 for padding), as encode_prompt returns it.")
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"`{mask_name}` must be a torch.Tensor of 0s and 1s, got {type(mask).__name__}.")
    if tuple(mask.shape) != tuple(embeddings.shape[:2]):
        raise ValueError(f"`{mask_name}` must have shape {tuple(embeddings.shape[:2])}, got {tuple(mask.shape)}.")
    values = torch.unique(mask).tolist()
    if any(value not in (0, 1) for value in values):
        raise ValueError(
            f"`{mask_name}` must hold only 0 (padding) and 1 (a token to attend to), got the values {values[:6]}; "
            "the sum of a row is read as the length of its text."
        )
    tokens = mask.sum(dim=1)  # (B,)
    if (tokens == 0).any():
        empty = (tokens == 0).nonzero().flatten().tolist()
        raise ValueError(
            f"`{mask_name}` attends to no token in row(s) {empty[:6]}: every text has at least its end token, "
            "marked 1."
        )
    if max_tokens is not None and int(tokens.max()) > max_tokens:
        raise ValueError(
            f"`{mask_name}` marks {int(tokens.max())} tokens in a row, but this model's position tables cover texts "
            f"of at most {max_tokens} tokens (text_length_positions in its config)."
        )


def check_same_token_count(prompt_name: str, prompt_tokens: int, negative_name: str, negative_tokens: int):
    """Classifier-free guidance stacks the negative and the prompt embeddings: both need the same token count."""
    if prompt_tokens != negative_tokens:
        raise ValueError(
            f"Classifier-free guidance stacks {negative_name} ({negative_tokens} tokens) and {prompt_name} "
            f"({prompt_tokens} tokens), which need the same token count; encode_prompt pads both to the "
            "tokenizer's length."
        )


def warn_unused_negative_prompt(negative_prompt, negative_prompt_embeds, guidance_scale: float):
    """Warn that a negative prompt has no effect without classifier-free guidance (scale <= 1)."""
    if guidance_scale <= 1.0 and (negative_prompt is not None or negative_prompt_embeds is not None):
        name = "negative_prompt" if negative_prompt is not None else "negative_prompt_embeds"
        warnings.warn(
            f"`{name}` is ignored: guidance_scale is {guidance_scale}, and a negative prompt only acts with "
            "classifier-free guidance, when guidance_scale > 1.",
            UserWarning,
            stacklevel=5,  # the caller of the pipeline, past __call__, its no_grad wrapper and check_inputs
        )


# ----------------------------------------------------------------------------------------------
# The step-end callback
# ----------------------------------------------------------------------------------------------


def callback_name(callback) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__


def check_callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError(
            f"`callback_on_step_end` must be callable as (pipe, step, timestep, tensors) -> dict, got {describe(callback)}."
        )


def check_callback_result(callback, result, tensors: dict, allowed: list[str]) -> dict:
    """The replacements a step-end callback returned: None (none) or a dict of tensors shaped like those given."""
    name = callback_name(callback)
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise TypeError(
            f"callback_on_step_end {name!r} returned {describe(result)}; it must return a dict of tensors "
            "(the `callback_kwargs` it was given, changed or not) or None."
        )
    unknown = sorted(set(result) - set(allowed))
    if unknown:
        raise ValueError(f"callback_on_step_end {name!r} returned unknown key(s) {unknown}; allowed: {allowed}.")
    for key, value in result.items():
        given = tensors.get(key)
        if given is None:
            continue
        if not isinstance(value, torch.Tensor) or value.shape != given.shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else describe(value)
            raise ValueError(
                f"callback_on_step_end {name!r} returned {key!r} of shape {got}; it must keep the shape "
                f"{tuple(given.shape)} of the tensor it was given."
            )
    return result


# ----------------------------------------------------------------------------------------------
# The scheduler against what the transformer was trained with
# ----------------------------------------------------------------------------------------------


def schedule_differences(scheduler_config, transformer_config) -> list[str]:
    """`key: scheduler value != transformer value` for every `SCHEDULE_KEYS` entry both configs record."""
    differences = []
    for key in SCHEDULE_KEYS:
        if key not in scheduler_config or key not in transformer_config:
            continue
        ours, trained = scheduler_config[key], transformer_config[key]
        same = math.isclose(ours, trained, rel_tol=1e-6) if isinstance(ours, float) and isinstance(trained, float) else ours == trained
        if not same:
            differences.append(f"{key} {ours!r} (the model was trained with {trained!r})")
    return differences


def check_scheduler(scheduler, transformer, num_inference_steps: int, prediction_types: tuple[str, ...]):
    """The scheduler must predict one of `prediction_types`, sample what the transformer predicts, on the
    schedule it was trained on, and have at least `num_inference_steps` training steps to choose from."""
    prediction_type = scheduler.config.get("prediction_type", "epsilon")
    if prediction_type not in prediction_types:
        raise ValueError(
            f"The scheduler's prediction_type {prediction_type!r} is unknown; allowed: {', '.join(prediction_types)}."
        )
    differences = schedule_differences(scheduler.config, transformer.config)
    if differences:
        raise ValueError(
            f"The scheduler ({type(scheduler).__name__}) does not match the transformer: {'; '.join(differences)}. "
            "Sampling with it gives noise. Build it with `SchedulerClass.from_config(pipe.scheduler.config)` "
            "from the model's own scheduler."
        )
    train_steps = scheduler.config.get("num_train_timesteps")
    if train_steps is not None and num_inference_steps > train_steps:
        raise ValueError(
            f"`num_inference_steps` must be 1 to {train_steps} (the scheduler's num_train_timesteps), "
            f"got {num_inference_steps}."
        )


# ----------------------------------------------------------------------------------------------
# A model folder, before `from_pretrained` loads it
# ----------------------------------------------------------------------------------------------


def read_model_index(folder: str) -> dict:
    """`folder/model_index.json`, parsed; `ValueError` naming the file when it is not a JSON object."""
    path = os.path.join(folder, "model_index.json")
    try:
        with open(path) as file:
            index = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); re-save the pipeline with save_pretrained.") from None
    if not isinstance(index, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(index).__name__}.")
    return index


def check_model_index(folder: str, index: dict, given: set[str]):
    """Every component is named in `model_index.json` (or given as a keyword, `given`), as a known class
    whose subfolder exists."""
    path = os.path.join(folder, "model_index.json")
    for name in PIPELINE_COMPONENTS:
        if name in given:
            continue
        if name not in index:
            raise ValueError(
                f"{path} names no {name!r} component; a TextVideoPipeline needs {', '.join(PIPELINE_COMPONENTS)} "
                f"(pass `{name}=...` to from_pretrained to supply it)."
            )
        entry = index[name]
        if entry is None or list(entry) == [None, None]:
            continue
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and all(isinstance(part, str) for part in entry)):
            raise ValueError(f"{path}: {name!r} must be [library, class name], got {entry!r}.")
        library, class_name = entry
        if library in LIBRARIES:
            if not hasattr(LIBRARIES[library], class_name):
                raise ValueError(
                    f"{path}: {name!r} names the class {class_name!r}, which {library} {LIBRARIES[library].__version__} "
                    "does not have."
                )
        elif module_files := folder_module_files(folder, name, library):
            check_folder_module_class(module_files, path, name, library, class_name)
        else:
            check_installed_module_class(path, name, library, class_name)
        subfolder = os.path.join(folder, name)
        if not os.path.isdir(subfolder):
            raise FileNotFoundError(
                f"{path} names a {name!r} component, but the folder {subfolder} is missing; "
                f"save the pipeline again, or pass `{name}=...` to from_pretrained."
            )


def check_installed_module_class(index_path: str, name: str, module: str, class_name: str):
    """`ValueError` unless the installed package `module` (e.g. `diffusers_textvid`) has `class_name`."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ValueError(f"{index_path}: {name!r} names the module {module!r}, which is neither installed nor a "
                         f"{module}.py file in the folder (pip install diffusers-textvid, or save the folder with "
                         "save_pretrained(..., self_contained=True)).")
    if not hasattr(importlib.import_module(module), class_name):
        raise ValueError(f"{index_path}: {name!r} names the class {class_name!r}, which the installed {module} does not have.")


def folder_module_files(folder: str, name: str, module: str) -> list[str]:
    """The files `module`.py of a self-contained folder: next to model_index.json or in the component's
    subfolder `name`."""
    files = [os.path.join(folder, where, module + ".py") for where in ("", name)]
    return [path for path in files if os.path.isfile(path)]


def check_folder_module_class(files: list[str], index_path: str, name: str, module: str, class_name: str):
    """`ValueError` unless `module`.py (`files`, from `folder_module_files`) defines the class `class_name`:
    read, not run, so that the message comes before Diffusers asks for `trust_remote_code` to import it."""
    defined = set()
    for path in files:
        with open(path, encoding="utf-8") as file:
            try:
                tree = ast.parse(file.read(), filename=path)
            except SyntaxError as error:
                raise ValueError(f"{path} is not valid Python ({error.msg}, line {error.lineno}).") from None
        defined |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    if class_name not in defined:
        raise ValueError(
            f"{index_path}: {name!r} names the class {class_name!r}, which {module}.py does not define "
            f"(it defines {', '.join(sorted(defined)) or 'no class'})."
        )


def check_weights_folder(folder: str):
    """Raise `ValueError` unless `folder` holds safetensors weights (pickle files are refused by name)."""
    if not os.path.isdir(folder):
        raise ValueError(f"Model folder {folder!r} does not exist.")
    names = os.listdir(folder)
    if any(name.endswith(WEIGHT_SUFFIX) for name in names):
        return
    pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise ValueError(
            f"{folder!r} holds pickle weights ({', '.join(sorted(pickles))}); only safetensors weights are loaded. "
            "Convert them with safetensors and save again."
        )
    raise ValueError(f"{folder!r} holds no weights: expected a *{WEIGHT_SUFFIX} file.")


def weight_files(folder: str, variant: str | None) -> list[str]:
    """The safetensors files `from_pretrained` reads in `folder`: those of `variant` (name.variant.safetensors,
    also sharded), or those without a variant."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(WEIGHT_SUFFIX))
    stems = {name: name[: -len(WEIGHT_SUFFIX)].split("-0")[0] for name in names}
    if variant:
        return [os.path.join(folder, name) for name in names if stems[name].endswith("." + variant)]
    return [os.path.join(folder, name) for name in names if "." not in stems[name]]


def stored_shapes(files: list[str]) -> dict[str, tuple[int, ...]]:
    """`{name: shape}` of every tensor in the safetensors `files`, read from their headers only."""
    shapes = {}
    for path in files:
        try:
            with safe_open(path, framework="pt") as file:
                for key in file.keys():
                    shapes[key] = tuple(file.get_slice(key).get_shape())
        except Exception as error:  # safetensors raises its own SafetensorError (and OSError) for a broken file
            raise ValueError(f"Cannot read the weights file {path}: {error}. It is damaged; save or download it again.") from None
    return shapes


def expected_shapes(model_class, folder: str) -> dict[str, tuple[int, ...]]:
    """`{name: shape}` of the weights a `model_class` built from `folder`'s config.json holds (built on the
    meta device: no memory, no initialisation)."""
    with torch.device("meta"):
        if issubclass(model_class, transformers.PreTrainedModel):
            model = model_class(model_class.config_class.from_pretrained(folder))
        else:
            model = model_class.from_config(model_class.load_config(folder))
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_weights_match_config(model_class, folder: str, variant: str | None = None):
    """`ValueError` unless the safetensors weights in `folder` hold exactly the tensors, with the shapes,
    that `folder/config.json` describes: a missing, unused or reshaped weight would leave part of the
    model at its random initialisation."""
    files = weight_files(folder, variant)
    if not files:
        return  # no safetensors of this variant: Diffusers' own loader reports it
    stored = stored_shapes(files)
    expected = expected_shapes(model_class, folder)
    problems = []
    missing = sorted(set(expected) - set(stored))
    unused = sorted(set(stored) - set(expected))
    reshaped = [f"{key} {stored[key]} (config: {expected[key]})" for key in sorted(expected)
                if key in stored and stored[key] != expected[key]]
    for label, keys in (("missing", missing), ("unused", unused), ("of another shape", reshaped)):
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            problems.append(f"{len(keys)} weight(s) {label}: {shown}")
    if problems:
        raise ValueError(
            f"The weights in {folder} do not match its config.json ({model_class.__name__}): {'; '.join(problems)}. "
            "Was config.json edited, or the weights copied from another model?"
        )


# ----------------------------------------------------------------------------------------------
# The Hub
# ----------------------------------------------------------------------------------------------


def hub_unreachable_reason(local_files_only: bool = False) -> str | None:
    """Why nothing can be downloaded from the Hub now, or None where it may be: `local_files_only`, offline
    mode (HF_HUB_OFFLINE, also when set after huggingface_hub was imported), or no connection to the Hub's
    host. Asked before a download because huggingface_hub retries a failed connection for about 23 s."""
    if local_files_only:
        return "local_files_only=True is given"
    if hub_constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in TRUE_WORDS:
        return "offline mode is on (HF_HUB_OFFLINE is set)"
    if urllib.request.getproxies().get("https"):
        return None  # a proxy may reach the Hub where a direct connection cannot
    endpoint = urllib.parse.urlsplit(hub_constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as error:
        return f"no connection to {endpoint.hostname}, {error.strerror or error}"
    return None
