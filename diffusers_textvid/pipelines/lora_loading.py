"""LoRA for `TextVideoPipeline` in the layout of Diffusers' LoRA loaders, loaded into the transformer in one
call (needs `peft`).

Like the pipeline file, this file imports only torch, diffusers, huggingface_hub, safetensors and its
neighbour `input_checks.py`: `save_pretrained(..., self_contained=True)` copies it next to the pipeline
file, which imports it.
"""

import importlib.util
import json
import os
import re
from typing import Callable

import safetensors
import safetensors.torch
import torch
from diffusers.loaders.lora_base import LoraBaseMixin
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import HFValidationError, LocalEntryNotFoundError, validate_repo_id

from .input_checks import HUB_DOWNLOAD_KEYWORDS, WEIGHT_SUFFIX, check_number, describe, hub_unreachable_reason


LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"  # the name Diffusers' LoRA loaders read and write
LORA_METADATA_KEY = "lora_adapter_metadata"  # safetensors metadata entry holding the LoraConfig, as JSON
LORA_PREFIX = "transformer"
LORA_MODULE_TYPES = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def lora_weights_file(name_or_path: str, weight_name: str | None, hub_options: dict) -> str:
    """The LoRA safetensors file that `name_or_path` names: a file, a folder holding `weight_name`
    (default `pytorch_lora_weights.safetensors`), or a Hub repo id, downloaded with `hub_options`."""
    if os.path.isfile(name_or_path):
        return name_or_path
    weight_name = weight_name or LORA_WEIGHT_NAME
    if os.path.isdir(name_or_path):
        path = os.path.join(name_or_path, weight_name)
        if not os.path.isfile(path):
            found = sorted(name for name in os.listdir(name_or_path) if name.endswith(WEIGHT_SUFFIX))
            raise ValueError(f"No {weight_name} in {name_or_path!r} (safetensors files there: {found or 'none'}); "
                             "pass weight_name= to choose one.")
        return path
    if name_or_path.endswith(WEIGHT_SUFFIX) or not is_hub_repo_id(name_or_path):
        raise FileNotFoundError(f"No LoRA file or folder at {name_or_path!r}: that path does not exist.")
    unreachable = hub_unreachable_reason(hub_options.get("local_files_only", False))
    try:
        return hf_hub_download(name_or_path, weight_name, **{**hub_options, "local_files_only": unreachable is not None})
    except Exception as error:  # huggingface_hub's many errors: no such repo or file, gated, no connection
        if unreachable is None and isinstance(error, LocalEntryNotFoundError):  # the connection failed mid-way
            unreachable = "the connection failed"
        if unreachable is not None:
            raise FileNotFoundError(
                f"No LoRA file or folder at {name_or_path!r} here, and the Hub cannot be reached to download it as a "
                f"repo: {unreachable}. The Hub cache holds no copy either."
            ) from error
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a local LoRA file or folder nor a Hub repo holding {weight_name} "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})."
        ) from error


def is_hub_repo_id(name: str) -> bool:
    """Whether `name` has the form of a Hub repo id, "name" or "owner/name" (a path such as "/x", "./x" or
    "a/b/c" has not)."""
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def read_lora_file(path: str) -> tuple[dict, dict | None]:
    """The tensors of the safetensors file `path` and the `LoraConfig` dict of its metadata (None if absent);
    `ValueError` naming the file when it is damaged."""
    try:
        state_dict = safetensors.torch.load_file(path)
        with safetensors.safe_open(path, framework="pt") as file:
            stored = (file.metadata() or {}).get(LORA_METADATA_KEY)
        return state_dict, json.loads(stored) if stored else None
    except Exception as error:  # safetensors' own SafetensorError, OSError, or bad JSON metadata
        raise ValueError(
            f"Cannot read the LoRA weights file {path}: {error}. It is damaged or cut short; save or download it again."
        ) from None


def check_finite_lora(state_dict: dict, source: str):
    """`ValueError` unless every tensor of `state_dict` holds finite values: NaN in a LoRA makes every video NaN."""
    broken = sorted(key for key, value in state_dict.items() if not torch.isfinite(value).all())
    if broken:
        shown = ", ".join(broken[:3]) + (f" and {len(broken) - 3} more" if len(broken) > 3 else "")
        raise ValueError(f"The LoRA weights {source} hold NaN or infinite values in {len(broken)} tensor(s): {shown}.")


def module_pattern(name: str) -> str:
    """`name` with its block numbers as `*`: blocks.3.mlp.0 -> blocks.*.mlp.0."""
    return re.sub(r"\.\d+\.", ".*.", name)


def adaptable_modules(transformer: torch.nn.Module) -> set[str]:
    """The full names of the modules of `transformer` that LoRA can adapt."""
    return {
        name.removesuffix(".base_layer")  # peft keeps an adapted layer as base_layer
        for name, module in transformer.named_modules()
        if isinstance(module, LORA_MODULE_TYPES) and ".lora_" not in name
    }


def check_lora_modules(transformer: torch.nn.Module, state_dict: dict):
    """`ValueError` unless every module the LoRA `state_dict` (keys `transformer.<module>.lora_...`) adapts is
    a module of `transformer` that LoRA can adapt; the message lists both, block numbers as `*`."""
    adaptable = adaptable_modules(transformer)
    prefix = f"{LORA_PREFIX}."
    targets = {key.removeprefix(prefix).split(".lora_")[0] for key in state_dict if ".lora_" in key}
    unknown = sorted(targets - adaptable)
    if unknown:
        shown = ", ".join(unknown[:6]) + (f" and {len(unknown) - 6} more" if len(unknown) > 6 else "")
        known = sorted({module_pattern(name) for name in adaptable})
        raise ValueError(
            f"The LoRA adapts {len(unknown)} module(s) this transformer does not have: {shown}. Modules it can "
            f"adapt: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}. Was the LoRA trained on another model?"
        )


def check_adapter_weights(weights, name: str = "adapter_weights"):
    """`adapter_weights` of `set_adapters`: None, a number, or lists and dicts of them, every number finite
    (a NaN weight would make every later video NaN)."""
    if isinstance(weights, dict):
        for key, value in weights.items():
            check_adapter_weights(value, f"{name}[{key!r}]")
    elif isinstance(weights, (list, tuple)):
        for index, value in enumerate(weights):
            check_adapter_weights(value, f"{name}[{index}]")
    elif weights is not None:
        check_number(name, weights)


class TextVideoLoraLoaderMixin(LoraBaseMixin):
    """LoRA for the transformer in the layout of Diffusers' LoRA loaders: one safetensors file whose keys
    start with `transformer.` and whose metadata holds the `LoraConfig`.

    `load_lora_weights`, `lora_state_dict`, `save_lora_weights`, and `set_adapters` and `fuse_lora` that
    refuse non-finite weights, are here; `disable_lora`, `enable_lora`, `delete_adapters`,
    `get_active_adapters` and `unload_lora_weights` come from Diffusers' `LoraBaseMixin`.
    """

    _lora_loadable_modules = [LORA_PREFIX]
    transformer_name = LORA_PREFIX

    @classmethod
    def lora_state_dict(cls, pretrained_model_name_or_path_or_dict, weight_name: str | None = None,
                        return_lora_metadata: bool = False, **kwargs):
        """The LoRA weights, keys prefixed `transformer.` (a file written by `transformer.save_lora_adapter`
        gets the prefix added), and with `return_lora_metadata` also the `LoraConfig` dict (None if absent).

        `pretrained_model_name_or_path_or_dict` is a state dict, a `.safetensors` file, a folder or a Hub
        repo id; `revision`, `cache_dir`, `force_download`, `local_files_only`, `token` and `subfolder`
        go to the download.
        """
        if isinstance(pretrained_model_name_or_path_or_dict, dict):
            state_dict, metadata = dict(pretrained_model_name_or_path_or_dict), kwargs.get("metadata")
            source = "given"
        else:
            hub_options = {key: kwargs[key] for key in (*HUB_DOWNLOAD_KEYWORDS, "subfolder") if key in kwargs}
            path = lora_weights_file(str(pretrained_model_name_or_path_or_dict), weight_name, hub_options)
            if not path.endswith(WEIGHT_SUFFIX):
                raise ValueError(f"{path!r} is not a safetensors file; only safetensors LoRA weights are loaded.")
            state_dict, metadata = read_lora_file(path)
            source = f"in {path}"
        if not any(".lora_" in key for key in state_dict):
            raise ValueError("These weights hold no LoRA layers (no `lora_A` / `lora_B` keys).")
        check_finite_lora(state_dict, source)
        prefix = f"{LORA_PREFIX}."
        if not any(key.startswith(prefix) for key in state_dict):
            state_dict = {prefix + key: value for key, value in state_dict.items()}
        if metadata and not any(key.startswith(prefix) for key in metadata):
            metadata = {prefix + key: value for key, value in metadata.items()}
        return (state_dict, metadata) if return_lora_metadata else state_dict

    def load_lora_weights(self, pretrained_model_name_or_path_or_dict, adapter_name: str | None = None,
                          hotswap: bool = False, **kwargs):
        """Load a LoRA into `self.transformer` as adapter `adapter_name` (default `default_0`, `default_1`...)
        and make it active. Takes what `lora_state_dict` takes (a folder, a file, a Hub repo id or a state
        dict, `weight_name=`, the Hub keywords).

        Examples:
            ```py
            >>> pipe.load_lora_weights("runs/lora-left-to-right", adapter_name="left_to_right")
            >>> pipe.set_adapters("left_to_right", 0.5)  # half strength
            >>> pipe.fuse_lora(); pipe.unload_lora_weights()  # bake it into the weights
            ```
        """
        if adapter_name is not None and not isinstance(adapter_name, str):
            raise TypeError(
                f"`adapter_name` must be a str (or None, for default_0, default_1...), got {describe(adapter_name)}."
            )
        if importlib.util.find_spec("peft") is None:
            raise ImportError('LoRA needs the peft package: pip install "diffusers-textvid[lora]" (or pip install peft).')
        if self.transformer is None:
            raise ValueError("This pipeline has no transformer to load a LoRA into.")
        state_dict, metadata = self.lora_state_dict(pretrained_model_name_or_path_or_dict, return_lora_metadata=True,
                                                    **kwargs)
        check_lora_modules(self.transformer, state_dict)
        self.transformer.load_lora_adapter(state_dict, prefix=LORA_PREFIX, adapter_name=adapter_name,
                                           metadata=metadata, hotswap=hotswap, _pipeline=self)

    @classmethod
    def save_lora_weights(cls, save_directory: str | os.PathLike, transformer_lora_layers: dict,
                          transformer_lora_adapter_metadata: dict | None = None, is_main_process: bool = True,
                          weight_name: str | None = None, save_function: Callable | None = None,
                          safe_serialization: bool = True):
        """Write `transformer_lora_layers` (from `peft.utils.get_peft_model_state_dict(pipe.transformer)`) as
        `save_directory/pytorch_lora_weights.safetensors`, with the `LoraConfig` dict as metadata."""
        if not transformer_lora_layers:
            raise ValueError("`transformer_lora_layers` is empty: there is nothing to save.")
        cls._save_lora_weights(
            save_directory, {LORA_PREFIX: transformer_lora_layers}, {LORA_PREFIX: transformer_lora_adapter_metadata},
            is_main_process=is_main_process, weight_name=weight_name, save_function=save_function,
            safe_serialization=safe_serialization,
        )

    def set_adapters(self, adapter_names: list[str] | str, adapter_weights=None):
        """`LoraBaseMixin.set_adapters`: make `adapter_names` active, each at its weight of `adapter_weights` (a
        number, a list of one per adapter, or dicts; default 1.0), every weight a finite number."""
        check_adapter_weights(adapter_weights)
        super().set_adapters(adapter_names, adapter_weights)

    def fuse_lora(self, components: list[str] | None = None, lora_scale: float = 1.0, safe_fusing: bool = False,
                  adapter_names: list[str] | None = None, **kwargs):
        """Add the active LoRA, times the finite `lora_scale`, into the transformer's weights (undo with
        `unfuse_lora`)."""
        check_number("lora_scale", lora_scale)
        super().fuse_lora(components=components or [LORA_PREFIX], lora_scale=lora_scale, safe_fusing=safe_fusing,
                          adapter_names=adapter_names, **kwargs)

    def unfuse_lora(self, components: list[str] | None = None, **kwargs):
        """Take the fused LoRA back out of the transformer's weights."""
        super().unfuse_lora(components=components or [LORA_PREFIX], **kwargs)
