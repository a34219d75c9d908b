"""LoRA for `TextVideoPipeline` in the layout of Diffusers' LoRA loaders, loaded into the transformer in one
call (needs `peft`).

Like the pipeline file, this file imports only diffusers, huggingface_hub, safetensors and its neighbour
`input_checks.py`: `save_pretrained` copies it next to the pipeline file, which imports it.
"""

import importlib.util
import json
import os
from typing import Callable

import safetensors
import safetensors.torch
from diffusers.loaders.lora_base import LoraBaseMixin
from huggingface_hub import hf_hub_download

from .input_checks import HUB_DOWNLOAD_KEYWORDS, WEIGHT_SUFFIX


LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"  # the name Diffusers' LoRA loaders read and write
LORA_METADATA_KEY = "lora_adapter_metadata"  # safetensors metadata entry holding the LoraConfig, as JSON
LORA_PREFIX = "transformer"


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
    return hf_hub_download(name_or_path, weight_name, **hub_options)


class TextVideoLoraLoaderMixin(LoraBaseMixin):
    """LoRA for the transformer in the layout of Diffusers' LoRA loaders: one safetensors file whose keys
    start with `transformer.` and whose metadata holds the `LoraConfig`.

    `load_lora_weights`, `lora_state_dict` and `save_lora_weights` are here; `set_adapters`,
    `disable_lora`, `enable_lora`, `delete_adapters`, `get_active_adapters` and `unload_lora_weights`
    come from Diffusers' `LoraBaseMixin`.
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
        else:
            hub_options = {key: kwargs[key] for key in (*HUB_DOWNLOAD_KEYWORDS, "subfolder") if key in kwargs}
            path = lora_weights_file(str(pretrained_model_name_or_path_or_dict), weight_name, hub_options)
            if not path.endswith(WEIGHT_SUFFIX):
                raise ValueError(f"{path!r} is not a safetensors file; only safetensors LoRA weights are loaded.")
            state_dict = safetensors.torch.load_file(path)
            with safetensors.safe_open(path, framework="pt") as file:
                stored = (file.metadata() or {}).get(LORA_METADATA_KEY)
            metadata = json.loads(stored) if stored else None
        if not any(".lora_" in key for key in state_dict):
            raise ValueError("These weights hold no LoRA layers (no `lora_A` / `lora_B` keys).")
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
        if importlib.util.find_spec("peft") is None:
            raise ImportError('LoRA needs the peft package: pip install "diffusers-textvid[lora]" (or pip install peft).')
        if self.transformer is None:
            raise ValueError("This pipeline has no transformer to load a LoRA into.")
        state_dict, metadata = self.lora_state_dict(pretrained_model_name_or_path_or_dict, return_lora_metadata=True,
                                                    **kwargs)
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

    def fuse_lora(self, components: list[str] | None = None, lora_scale: float = 1.0, safe_fusing: bool = False,
                  adapter_names: list[str] | None = None, **kwargs):
        """Add the active LoRA into the transformer's weights (undo with `unfuse_lora`)."""
        super().fuse_lora(components=components or [LORA_PREFIX], lora_scale=lora_scale, safe_fusing=safe_fusing,
                          adapter_names=adapter_names, **kwargs)

    def unfuse_lora(self, components: list[str] | None = None, **kwargs):
        """Take the fused LoRA back out of the transformer's weights."""
        super().unfuse_lora(components=components or [LORA_PREFIX], **kwargs)
