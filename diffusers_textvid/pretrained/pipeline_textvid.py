"""TextVideoPipeline: text in, a short grayscale video of that text scrolling past out.

This file imports only torch, numpy, diffusers, transformers and huggingface_hub: `save_pretrained`
copies it into the model folder, so `DiffusionPipeline.from_pretrained(folder,
trust_remote_code=True)` works where the `diffusers_textvid` package is not installed.
"""

import importlib
import inspect
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from diffusers import DiffusionPipeline, DDIMScheduler
        >>> from diffusers.utils import export_to_gif

        >>> pipe = DiffusionPipeline.from_pretrained("path/to/textvid-model", trust_remote_code=True)
        >>> pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        >>> frames = pipe("HELLO", num_inference_steps=25, output_type="pil").frames[0]
        >>> export_to_gif(frames, "hello.gif")
        ```
"""

WEIGHT_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
WEIGHTED_COMPONENTS = ("text_encoder", "transformer")


@dataclass
class TextVideoPipelineOutput(BaseOutput):
    """`frames`: float `(B, F, H, W, 1)` in [0, 1] for "np", a `(B, F, 1, H, W)` tensor for "pt",
    or a list (one per video) of lists of PIL frames for "pil"."""

    frames: np.ndarray | torch.Tensor | list


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


class TextVideoPipeline(DiffusionPipeline):
    """Text-to-video diffusion with a `TextVideoDiTModel` and any stock Diffusers scheduler.

    Args:
        tokenizer (`PreTrainedTokenizerFast`): character tokenizer (one token a symbol, an end token, padding).
        text_encoder (`CLIPTextModel`): encodes the tokens into `(B, L, D_text)`.
        transformer (`TextVideoDiTModel`): predicts noise, velocity or the clean video, as
            `scheduler.config.prediction_type` says.
        scheduler (`SchedulerMixin`): any Diffusers scheduler; swap with `Scheduler.from_config(pipe.scheduler.config)`.
    """

    model_cpu_offload_seq = "text_encoder->transformer"
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(self, tokenizer, text_encoder, transformer, scheduler):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, scheduler=scheduler)
        self.video_processor = VideoProcessor(vae_scale_factor=1, do_resize=False)

    # ------------------------------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------------------------------

    @property
    def max_prompt_length(self) -> int:
        """Symbols a prompt may have: the tokenizer's length less the end token."""
        return self.tokenizer.model_max_length - 1

    def normalize_prompt(self, prompt: str, allow_empty: bool = False) -> str:
        """Upper-case `prompt` and check every symbol is in the tokenizer's vocabulary."""
        if not isinstance(prompt, str):
            raise TypeError(f"A prompt must be a str, got {type(prompt).__name__}.")
        text = prompt.upper()
        if not text and not allow_empty:
            raise ValueError("The prompt is empty: give 1 or more symbols (A-Z, 0-9).")
        special = set(self.tokenizer.all_special_tokens)
        known = {token for token in self.tokenizer.get_vocab() if token not in special}
        # Judge the characters as typed: str.upper() also maps non-ASCII characters ("ß", "ı") onto A-Z,
        # which the tokenizer, upper-casing only a-z, would read as unknown.
        unknown = sorted({symbol for symbol in prompt if not (symbol.isascii() and symbol.upper() in known)})
        if unknown:
            raise ValueError(
                f"Prompt {prompt!r} contains unknown character(s) {', '.join(repr(c) for c in unknown)}; "
                f"known symbols: {''.join(sorted(known))}."
            )
        if len(text) > self.max_prompt_length:
            raise ValueError(
                f"Prompt {prompt!r} is too long: {len(text)} symbols, at most {self.max_prompt_length} fit."
            )
        return text

    def check_inputs(
        self,
        prompt,
        negative_prompt,
        num_inference_steps,
        guidance_scale,
        num_videos_per_prompt,
        latents,
        output_type,
        callback_on_step_end_tensor_inputs,
    ) -> tuple[list[str], list[str] | None]:
        """Validate every argument before any work; return the normalised prompt and negative prompt lists."""
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts:
            raise ValueError(f"`prompt` must be a str or a non-empty list of str, got {prompt!r}.")
        prompts = [self.normalize_prompt(p) for p in prompts]
        negative_prompts = None
        if negative_prompt is not None:
            negative_prompts = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else negative_prompt
            if len(negative_prompts) != len(prompts):
                raise ValueError(
                    f"`negative_prompt` has {len(negative_prompts)} entries but `prompt` has {len(prompts)}."
                )
            negative_prompts = [self.normalize_prompt(p, allow_empty=True) for p in negative_prompts]
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be a positive int, got {num_inference_steps!r}.")
        if not isinstance(num_videos_per_prompt, int) or num_videos_per_prompt < 1:
            raise ValueError(f"`num_videos_per_prompt` must be a positive int, got {num_videos_per_prompt!r}.")
        if guidance_scale < 0:
            raise ValueError(f"`guidance_scale` must be >= 0, got {guidance_scale}.")
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"`output_type` must be 'np', 'pt', 'pil' or 'latent', got {output_type!r}.")
        if latents is not None:
            expected = self.latent_shape(len(prompts) * num_videos_per_prompt)
            if tuple(latents.shape) != expected:
                raise ValueError(f"`latents` must have shape {expected}, got {tuple(latents.shape)}.")
        unknown_inputs = set(callback_on_step_end_tensor_inputs or []) - set(self._callback_tensor_inputs)
        if unknown_inputs:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has {sorted(unknown_inputs)}; allowed: {self._callback_tensor_inputs}."
            )
        return prompts, negative_prompts

    def encode_prompt(self, prompts: list[str], num_videos_per_prompt: int, device: torch.device):
        """Tokens -> text encoder. Returns `(embeddings (B*n, L, D_text), attention mask (B*n, L))`."""
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length, return_tensors="pt"
        ).to(device)
        embeddings = self.text_encoder(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
        ).last_hidden_state  # (B, L, D_text)
        embeddings = embeddings.to(self.transformer.dtype).repeat_interleave(num_videos_per_prompt, dim=0)
        return embeddings, tokens.attention_mask.repeat_interleave(num_videos_per_prompt, dim=0)

    def latent_shape(self, batch_size: int) -> tuple[int, int, int, int, int]:
        """`(B, C, F, H, W)` of the videos this transformer makes."""
        config = self.transformer.config
        return (batch_size, config.in_channels, config.sample_frames, config.sample_size, config.sample_size)

    def prepare_latents(self, batch_size, dtype, device, generator, latents=None) -> torch.Tensor:
        """Gaussian noise `(B, C, F, H, W)` scaled by the scheduler's `init_noise_sigma`."""
        if latents is None:
            latents = randn_tensor(self.latent_shape(batch_size), generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    def step_kwargs(self, generator, eta: float) -> dict[str, Any]:
        """`eta` and `generator` for `scheduler.step`, passed only where its signature takes them."""
        accepted = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {"eta": eta} if "eta" in accepted else {}
        if "generator" in accepted:
            kwargs["generator"] = generator
        return kwargs

    # ------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
    ) -> TextVideoPipelineOutput | tuple:
        """Generate videos of `prompt` scrolling past.

        Args:
            prompt (`str` or `list[str]`): 1 or more symbols A-Z, 0-9 (lower case is upper-cased).
            negative_prompt (`str` or `list[str]`, *optional*): what guidance steers away from;
                defaults to the empty prompt, the unconditional model of classifier-free guidance.
            num_inference_steps (`int`, defaults to 50): denoising steps.
            guidance_scale (`float`, defaults to 1.0): classifier-free guidance; on when > 1.
            eta (`float`, defaults to 0.0): DDIM's eta; passed only to schedulers that take it.
            num_videos_per_prompt (`int`, defaults to 1): videos per prompt.
            generator (`torch.Generator`, *optional*): makes sampling deterministic.
            latents (`torch.Tensor`, *optional*): starting noise `(B, C, F, H, W)`, before `init_noise_sigma`.
            output_type (`str`, defaults to "np"): "np", "pt", "pil" or "latent".
            return_dict (`bool`, defaults to True): return a `TextVideoPipelineOutput` or a tuple.
            callback_on_step_end (`Callable`, *optional*): called as `(pipe, step, timestep, tensors)`
                after each step; may return replacements for the tensors it was given.
            callback_on_step_end_tensor_inputs (`list[str]`, defaults to `["latents"]`): which tensors it gets.

        Returns:
            `TextVideoPipelineOutput` with `frames`, or `(frames,)` when `return_dict` is False.
        """
        prompts, negative_prompts = self.check_inputs(
            prompt, negative_prompt, num_inference_steps, guidance_scale, num_videos_per_prompt, latents,
            output_type, callback_on_step_end_tensor_inputs,
        )
        self._guidance_scale = guidance_scale
        device = self._execution_device
        batch_size = len(prompts) * num_videos_per_prompt

        prompt_embeds, prompt_mask = self.encode_prompt(prompts, num_videos_per_prompt, device)
        negative_prompt_embeds = None
        if self.do_classifier_free_guidance:
            negative_prompt_embeds, negative_mask = self.encode_prompt(
                negative_prompts or [""] * len(prompts), num_videos_per_prompt, device
            )

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(batch_size, prompt_embeds.dtype, device, generator, latents)
        extra_step_kwargs = self.step_kwargs(generator, eta)

        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for step_index, timestep in enumerate(timesteps):
                if self.do_classifier_free_guidance:
                    model_input = torch.cat([latents, latents])  # (2B, C, F, H, W): unconditional, then conditional
                    text = torch.cat([negative_prompt_embeds, prompt_embeds])
                    text_mask = torch.cat([negative_mask, prompt_mask])
                else:
                    model_input, text, text_mask = latents, prompt_embeds, prompt_mask
                model_input = self.scheduler.scale_model_input(model_input, timestep)
                prediction = self.transformer(
                    model_input, timestep.expand(model_input.shape[0]), text, text_mask
                ).sample  # (B or 2B, C, F, H, W)
                if self.do_classifier_free_guidance:
                    unconditional, conditional = prediction.chunk(2)
                    prediction = unconditional + guidance_scale * (conditional - unconditional)
                latents = self.scheduler.step(prediction, timestep, latents, **extra_step_kwargs).prev_sample

                if callback_on_step_end is not None:
                    # Named explicitly: before Python 3.12, `locals()` in a comprehension sees only the comprehension.
                    available = dict(
                        latents=latents, prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds
                    )
                    tensors = {name: available[name] for name in callback_on_step_end_tensor_inputs}
                    replacements = callback_on_step_end(self, step_index, timestep, tensors) or {}
                    latents = replacements.get("latents", latents)
                    prompt_embeds = replacements.get("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = replacements.get("negative_prompt_embeds", negative_prompt_embeds)
                progress_bar.update()

        if output_type == "latent":
            frames = latents
        else:
            frames = self.video_processor.postprocess_video(latents.float().clamp(-1, 1), output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return TextVideoPipelineOutput(frames=frames)

    # ------------------------------------------------------------------------------------------
    # A self-contained model folder
    # ------------------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Save safetensors weights and configs, plus the module files of this pipeline and its
        transformer, named in `model_index.json` as `[file, class]` so that
        `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` needs no package."""
        kwargs["safe_serialization"] = True
        super().save_pretrained(save_directory, **kwargs)
        pipeline_file = inspect.getfile(type(self))
        transformer_file = inspect.getfile(type(self.transformer))
        shutil.copyfile(pipeline_file, os.path.join(save_directory, os.path.basename(pipeline_file)))
        shutil.copyfile(transformer_file, os.path.join(save_directory, "transformer", os.path.basename(transformer_file)))

        index_path = os.path.join(save_directory, "model_index.json")
        with open(index_path) as file:
            index = json.load(file)
        index["_class_name"] = [_module_stem(pipeline_file), type(self).__name__]
        index["transformer"] = [_module_stem(transformer_file), type(self.transformer).__name__]
        with open(index_path, "w") as file:
            json.dump(index, file, indent=2, sort_keys=True)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """Load a saved folder (or Hub repo) with the classes of the installed `diffusers_textvid`
        package, not the code copied into the folder, so no `trust_remote_code` is needed.

        Components given as keyword arguments are used as they are; `torch_dtype` (default float32,
        whatever the stored weights are) applies to the loaded models. A folder without safetensors weights (missing, or pickle) is a `ValueError`.
        """
        try:
            package = importlib.import_module("diffusers_textvid")  # not a plain import: see the module docstring
        except ImportError:  # a copy of this file inside a model folder, without the package
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        folder = str(pretrained_model_name_or_path)
        if not os.path.isdir(folder):
            from huggingface_hub import snapshot_download

            folder = snapshot_download(folder, revision=kwargs.pop("revision", None))
        index_path = os.path.join(folder, "model_index.json")
        if not os.path.isfile(index_path):
            raise ValueError(f"{folder!r} is not a pipeline folder: it has no model_index.json.")
        with open(index_path) as file:
            index = json.load(file)
        torch_dtype = kwargs.pop("torch_dtype", torch.float32)
        components = {}
        for name in ("tokenizer", "text_encoder", "transformer", "scheduler"):
            if name in kwargs:
                components[name] = kwargs.pop(name)
                continue
            subfolder = os.path.join(folder, name)
            library, class_name = index[name]
            load_kwargs = {}
            if name in WEIGHTED_COMPONENTS:
                check_weights_folder(subfolder)
                load_kwargs = {"torch_dtype": torch_dtype, "use_safetensors": True}
            if name == "transformer":
                component_class = getattr(package, class_name)
            else:
                component_class = getattr(importlib.import_module(library), class_name)
            components[name] = component_class.from_pretrained(subfolder, **load_kwargs)
        if kwargs:
            raise TypeError(f"Unexpected arguments for from_pretrained: {sorted(kwargs)}.")
        return cls(**components)


def _module_stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
