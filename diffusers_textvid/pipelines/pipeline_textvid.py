"""TextVideoPipeline: text in, a short grayscale video of that text scrolling past out.

This file imports only torch, numpy, diffusers, transformers, huggingface_hub, its neighbours
`input_checks.py`, `lora_loading.py` and `compiled_transformer.py`, `hub.py` and `models/noise_schedule.py`
(none of which imports more of the package): `save_pretrained(..., self_contained=True)` (and
`push_to_hub`) copies them into the model folder, so `DiffusionPipeline.from_pretrained(folder,
trust_remote_code=True)` works where the `diffusers_textvid` package is not installed.
"""

import importlib
import inspect
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline, ModelMixin, SchedulerMixin
from diffusers.utils import BaseOutput, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor, unwrap_module
from diffusers.video_processor import VideoProcessor
from huggingface_hub import ModelCard, ModelCardData, snapshot_download
from transformers import CLIPTextModel, PreTrainedTokenizerBase

from ..hub import upload_to_hub
from ..models.noise_schedule import PREDICTION_TYPES
from .compiled_transformer import FrozenCompiledTransformer
from .input_checks import (
    HUB_DOWNLOAD_KEYWORDS,
    LIBRARIES,
    check_callback,
    check_callback_result,
    check_count,
    check_embeddings,
    check_flag,
    check_generator,
    check_latents,
    check_model_index,
    check_number,
    check_prompt_argument,
    check_same_token_count,
    check_scheduler,
    check_weights_folder,
    check_weights_match_config,
    hub_unreachable_reason,
    read_model_index,
    warn_unused_negative_prompt,
)
from .lora_loading import TextVideoLoraLoaderMixin

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from diffusers import DDIMScheduler
        >>> from diffusers.utils import export_to_gif
        >>> from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline

        >>> pipe = TextVideoPipeline.from_pretrained(DEFAULT_MODEL_DIR)
        >>> pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        >>> frames = pipe("HELLO", num_inference_steps=25, output_type="pil").frames[0]
        >>> export_to_gif(frames, "hello.gif")
        ```
"""

WEIGHTED_COMPONENTS = ("text_encoder", "transformer")
PACKAGE = "diffusers_textvid"
HUB_UPLOAD_KEYWORDS = ("repo_id", "token", "private", "create_pr", "commit_message")


@dataclass
class TextVideoPipelineOutput(BaseOutput):
    """`frames`: float `(B, F, H, W, 1)` in [0, 1] for "np", a `(B, F, 1, H, W)` tensor for "pt",
    or a list (one per video) of lists of PIL frames for "pil"."""

    frames: np.ndarray | torch.Tensor | list


def repeat_for_videos(embeddings, mask, num_videos_per_prompt: int, device, dtype):
    """`(B, L, D)`, `(B, L)` -> `(B * n, L, D)`, `(B * n, L)`, the n copies of each prompt next to each other."""
    embeddings = embeddings.to(device=device, dtype=dtype).repeat_interleave(num_videos_per_prompt, dim=0)
    return embeddings, mask.to(device).repeat_interleave(num_videos_per_prompt, dim=0)


def installed_transformer_class() -> type | None:
    """`TextVideoDiTModel` of the installed `diffusers_textvid` package, or None where it is not installed."""
    try:
        package = importlib.import_module(PACKAGE)  # not a plain import: see the module docstring
    except ImportError:
        return None
    return package.TextVideoDiTModel


def update_json(path: str, **entries):
    with open(path) as file:
        content = json.load(file)
    content.update(entries)
    with open(path, "w") as file:
        json.dump(content, file, indent=2, sort_keys=True)


class TextVideoPipeline(DiffusionPipeline, TextVideoLoraLoaderMixin):
    """Text-to-video diffusion with a `TextVideoDiTModel` and any stock Diffusers scheduler.

    LoRA (needs `peft`): `pipe.load_lora_weights(folder_or_repo, adapter_name=...)`, then `set_adapters`,
    `fuse_lora`, `unfuse_lora`, `unload_lora_weights` as in Diffusers' pipelines.

    Args:
        tokenizer (`PreTrainedTokenizerFast`): character tokenizer (one token a symbol, an end token, padding).
        text_encoder (`CLIPTextModel`): encodes the tokens into `(B, L, D_text)`.
        transformer (`TextVideoDiTModel`): predicts noise, velocity or the clean video, as
            `scheduler.config.prediction_type` says.
        scheduler (`SchedulerMixin`): any Diffusers scheduler; swap with `Scheduler.from_config(pipe.scheduler.config)`.

    The tokenizer and text encoder may be None for a pipeline that samples from `prompt_embeds` only, and
    the transformer and scheduler may be None for one that only runs `encode_prompt`.
    """

    model_cpu_offload_seq = "text_encoder->transformer"
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        text_encoder: CLIPTextModel,
        transformer: ModelMixin,
        scheduler: SchedulerMixin,
    ):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, scheduler=scheduler)
        self.video_processor = VideoProcessor(vae_scale_factor=1, do_resize=False)
        self.compiled_transformer = None  # set by `compile_transformer`

    # ------------------------------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------------------------------

    @property
    def max_prompt_length(self) -> int:
        """Symbols a prompt may have (the model was trained on prompts of at most this many): the
        tokenizer's length less the end token and one spare position. The one place this number is set
        is `diffusers_textvid.data.prompts.MAX_PROMPT_LENGTH`, from which the tokenizer's length is made."""
        return self.tokenizer.model_max_length - 2

    def normalize_prompt(self, prompt: str, allow_empty: bool = False, name: str = "prompt") -> str:
        """Upper-case `prompt` and check every symbol is in the tokenizer's vocabulary; `name` is the
        argument it came from, for the messages."""
        if not isinstance(prompt, str):
            raise TypeError(f"`{name}` must be a str or a list of str, got {type(prompt).__name__} {prompt!r}.")
        self.require_text_encoder("a text prompt")
        text = prompt.upper()
        if not text and not allow_empty:
            raise ValueError(f"`{name}` is empty: give 1 to {self.max_prompt_length} symbols (A-Z, 0-9).")
        special = set(self.tokenizer.all_special_tokens)
        known = {token for token in self.tokenizer.get_vocab() if token not in special}
        # Judge the characters as typed: str.upper() also maps non-ASCII characters ("ß", "ı") onto A-Z,
        # which the tokenizer, upper-casing only a-z, would read as unknown.
        unknown = sorted({symbol for symbol in prompt if not (symbol.isascii() and symbol.upper() in known)})
        if unknown:
            raise ValueError(
                f"`{name}` {prompt!r} contains unknown character(s) {', '.join(repr(c) for c in unknown)}; "
                f"known symbols: {''.join(sorted(known))}."
            )
        if len(text) > self.max_prompt_length:
            raise ValueError(
                f"`{name}` {prompt!r} is too long: {len(text)} symbols, at most {self.max_prompt_length} are allowed "
                "(the model was trained on 1 to that many)."
            )
        return text

    def require_text_encoder(self, purpose: str):
        if self.tokenizer is None or self.text_encoder is None:
            raise ValueError(
                f"This pipeline has no tokenizer or text encoder, which {purpose} needs: pass `prompt_embeds` "
                "(and, for guidance, `negative_prompt_embeds`) made by `encode_prompt` of a pipeline that has them."
            )

    def prompt_list(self, prompt: str | list[str]) -> list[str]:
        """`prompt` as a list of normalised prompts."""
        return [self.normalize_prompt(p) for p in check_prompt_argument("prompt", prompt)]

    def negative_prompt_list(self, negative_prompt: str | list[str] | None, batch_size: int) -> list[str]:
        """`negative_prompt` as `batch_size` normalised prompts; None is the empty prompt."""
        if isinstance(negative_prompt, (list, tuple)):
            negative_prompts = list(negative_prompt)
        else:
            negative_prompts = ["" if negative_prompt is None else negative_prompt] * batch_size
        if len(negative_prompts) != batch_size:
            raise ValueError(f"`negative_prompt` has {len(negative_prompts)} entries but there are {batch_size} prompts.")
        return [self.normalize_prompt(p, allow_empty=True, name="negative_prompt") for p in negative_prompts]

    def check_inputs(
        self,
        prompt,
        negative_prompt,
        prompt_embeds,
        prompt_attention_mask,
        negative_prompt_embeds,
        negative_prompt_attention_mask,
        num_inference_steps,
        guidance_scale,
        num_videos_per_prompt,
        latents,
        output_type,
        callback_on_step_end_tensor_inputs,
        eta=0.0,
        generator=None,
        callback_on_step_end=None,
        look=None,
        draw_left_out_look=False,
    ) -> tuple[list[str] | None, list[str] | None, torch.Tensor | None]:
        """Validate every argument before any work (the checks themselves are in `input_checks.py`);
        return the normalised prompts and negative prompts (None where embeddings stand in for them) and
        the look ids `(B * num_videos_per_prompt, K)` of `look` (None when no look is asked for).
        Raises `TypeError` for a value of the wrong kind, `ValueError` for a wrong value."""
        if (prompt is None) == (prompt_embeds is None):
            raise ValueError("Give either `prompt` or `prompt_embeds`, not both and not neither.")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("Give either `negative_prompt` or `negative_prompt_embeds`, not both.")
        if self.transformer is None or self.scheduler is None:
            raise ValueError("This pipeline has no transformer or scheduler: it can only run `encode_prompt`.")
        guidance_scale = check_number("guidance_scale", guidance_scale, minimum=0)
        check_number("eta", eta, minimum=0, maximum=1)
        num_inference_steps = check_count("num_inference_steps", num_inference_steps)
        check_count("num_videos_per_prompt", num_videos_per_prompt)
        check_flag("draw_left_out_look", draw_left_out_look)
        check_scheduler(self.scheduler, self.transformer, num_inference_steps, PREDICTION_TYPES)
        check_callback(callback_on_step_end)
        prompts = self.prompt_list(prompt) if prompt is not None else None
        if prompt_embeds is not None:
            self.check_text_embeddings("prompt_embeds", prompt_embeds, prompt_attention_mask)
        batch_size = len(prompts) if prompts is not None else prompt_embeds.shape[0]
        negative_prompts = None
        if negative_prompt_embeds is not None:
            self.check_text_embeddings(
                "negative_prompt_embeds", negative_prompt_embeds, negative_prompt_attention_mask, batch_size
            )
        elif negative_prompt is not None or guidance_scale > 1.0:
            negative_prompts = self.negative_prompt_list(negative_prompt, batch_size)
        if prompt_embeds is not None or negative_prompt_embeds is not None:
            # Text is encoded to the tokenizer's length; embeddings given keep theirs.
            if prompt_embeds is not None:
                prompt_side = ("`prompt_embeds`", prompt_embeds.shape[1])
            else:
                prompt_side = ("the encoded `prompt`", self.tokenizer.model_max_length)
            if negative_prompt_embeds is not None:
                check_same_token_count(*prompt_side, "`negative_prompt_embeds`", negative_prompt_embeds.shape[1])
            elif negative_prompts is not None:
                check_same_token_count(*prompt_side, "the encoded `negative_prompt`", self.tokenizer.model_max_length)
        warn_unused_negative_prompt(negative_prompt, negative_prompt_embeds, guidance_scale)
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"`output_type` must be 'np', 'pt', 'pil' or 'latent', got {output_type!r}.")
        check_generator(generator, batch_size * num_videos_per_prompt)
        look_ids = self.look_ids(look, batch_size, num_videos_per_prompt)
        if latents is not None:
            check_latents(latents, self.latent_shape(batch_size * num_videos_per_prompt))
        unknown_inputs = set(callback_on_step_end_tensor_inputs or []) - set(self._callback_tensor_inputs)
        if unknown_inputs:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has {sorted(unknown_inputs)}; allowed: {self._callback_tensor_inputs}."
            )
        return prompts, negative_prompts, look_ids

    def check_text_embeddings(self, name: str, embeddings, mask, batch_size: int | None = None):
        """`check_embeddings`, also against the transformer where there is one: its text width, and the text
        lengths its position tables cover (`text_length_positions`)."""
        config = self.transformer.config if self.transformer is not None else None
        text_width = config.text_embed_dim if config is not None else None
        max_tokens = config.text_length_positions - 1 if config is not None and config.text_length_positions else None
        check_embeddings(name, embeddings, mask, batch_size, text_width, max_tokens)

    def look_ids(self, look, batch_size: int, num_videos_per_prompt: int) -> torch.Tensor | None:
        """`(B * num_videos_per_prompt, K)` look ids of `look` (a dict for every prompt, or a list of
        one dict per prompt), each prompt's row repeated for its videos; None for no look."""
        if look is None:
            return None
        if isinstance(look, dict):
            look = [look] * batch_size
        elif not isinstance(look, (list, tuple)):
            raise TypeError(f"`look` must be a dict or a list of dicts, got {type(look).__name__}.")
        elif len(look) != batch_size:
            raise ValueError(f"`look` has {len(look)} entries but there are {batch_size} prompts.")
        if not any(look) and not self.transformer.config.get("looks"):
            return None  # nothing asked of a model without looks
        return self.transformer.encode_looks(list(look)).repeat_interleave(num_videos_per_prompt, dim=0)

    def encode_text(self, prompts: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens -> text encoder: `(embeddings (B, L, D_text), attention mask (B, L))`, L the tokenizer's length."""
        self.require_text_encoder("encoding a prompt")
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length, return_tensors="pt"
        ).to(device)
        embeddings = self.text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
        return embeddings, tokens.attention_mask

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        num_videos_per_prompt: int = 1,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        """Encode the prompt and, for classifier-free guidance, the negative prompt.

        Args:
            prompt (`str` or `list[str]`, *optional*): 1 or more symbols A-Z, 0-9; or None with `prompt_embeds`.
            negative_prompt (`str` or `list[str]`, *optional*): defaults to the empty prompt.
            do_classifier_free_guidance (`bool`, defaults to True): also encode the negative prompt.
            num_videos_per_prompt (`int`, defaults to 1): copies of each embedding, next to each other.
            prompt_embeds, negative_prompt_embeds (`torch.Tensor`, *optional*): `(B, L, D_text)`, used as
                given instead of encoding text; each needs its attention mask `(B, L)` (1 attend, 0 padding).
            device (`torch.device`, *optional*): defaults to the pipeline's execution device.
            dtype (`torch.dtype`, *optional*): of the embeddings; defaults to the text encoder's.

        Returns:
            `(prompt_embeds (B * n, L, D_text), prompt_attention_mask (B * n, L), negative_prompt_embeds,
            negative_prompt_attention_mask)`, the negative pair None without guidance (unless given).
        """
        check_count("num_videos_per_prompt", num_videos_per_prompt)
        device = device or self._execution_device
        if prompt_embeds is None:
            prompt_embeds, prompt_attention_mask = self.encode_text(self.prompt_list(prompt), device)
        self.check_text_embeddings("prompt_embeds", prompt_embeds, prompt_attention_mask)
        batch_size = prompt_embeds.shape[0]
        if negative_prompt_embeds is None and do_classifier_free_guidance:
            negative_prompts = self.negative_prompt_list(negative_prompt, batch_size)
            negative_prompt_embeds, negative_prompt_attention_mask = self.encode_text(negative_prompts, device)
        dtype = dtype or (self.text_encoder.dtype if self.text_encoder is not None else prompt_embeds.dtype)
        prompt_embeds, prompt_attention_mask = repeat_for_videos(
            prompt_embeds, prompt_attention_mask, num_videos_per_prompt, device, dtype
        )
        if negative_prompt_embeds is not None:
            self.check_text_embeddings(
                "negative_prompt_embeds", negative_prompt_embeds, negative_prompt_attention_mask, batch_size
            )
            check_same_token_count(
                "`prompt_embeds`", prompt_embeds.shape[1], "`negative_prompt_embeds`", negative_prompt_embeds.shape[1]
            )
            negative_prompt_embeds, negative_prompt_attention_mask = repeat_for_videos(
                negative_prompt_embeds, negative_prompt_attention_mask, num_videos_per_prompt, device, dtype
            )
        return prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask

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

    @torch.no_grad()
    def draw_left_out_look(self, latents, timestep, text, text_mask, look_ids, generator) -> torch.Tensor:
        """`look_ids` `(B, K)` with the factors left out of each video drawn from the model's own guess
        of the look on the starting noise `latents` at the first `timestep`: the chance of each look it
        learned (`look_guess_weight` in training), among those the given factors allow. One draw per video
        from `generator` (its own when a list). Only for a model with scroll alignment."""
        alignment = self.transformer.scroll_text
        model_input = self.scheduler.scale_model_input(latents, timestep)
        logits = self.transformer(
            model_input, timestep.expand(len(latents)), text, text_mask, look_ids=look_ids
        ).look_logits[-1]  # (B, S), the last block's guess
        chances = logits.float().softmax(dim=1).cpu()
        generators = generator if isinstance(generator, list) else [generator] * len(latents)
        looks = [int(torch.multinomial(chance, 1, generator=row_generator)) for chance, row_generator in zip(chances, generators)]
        return torch.tensor([alignment.looks[look] for look in looks]).to(look_ids) + 1

    # ------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------

    def compile_transformer(self) -> "TextVideoPipeline":
        """Compile the transformer for the denoising loop: `torch.compile` with Inductor's weight freezing
        (`FrozenCompiledTransformer`), the same videos to float tolerance. Each new batch shape compiles at
        its first call (tens of seconds on a CPU); whether that pays depends on how many calls follow:
        `benchmarks/bench_sampling.py --speed` measures both, and BENCHMARKS.md gives the break-even.
        The loop runs the eager transformer while any forward hook is attached, with grad enabled, or once
        its weights changed (a warning says so; compile again). Returns the pipeline."""
        self.compiled_transformer = FrozenCompiledTransformer(self.transformer)
        return self

    def denoiser(self) -> Callable:
        """The transformer the denoising loop calls: the compiled one while it is usable, else the eager."""
        compiled = self.compiled_transformer
        if compiled is not None and compiled.transformer is self.transformer and compiled.usable():
            return compiled
        return self.transformer

    @property
    def guidance_scale(self) -> float:
        """The scale in use; a step-end callback may change `pipe._guidance_scale`, read at every step."""
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` from a step-end callback to skip the remaining steps."""
        return self._interrupt

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        look: dict | list[dict] | None = None,
        draw_left_out_look: bool = False,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        variation: dict | list[dict] | None = None,
    ) -> TextVideoPipelineOutput | tuple:
        """Generate videos of `prompt` scrolling past.

        Args:
            prompt (`str` or `list[str]`, *optional*): 1 or more symbols A-Z, 0-9 (lower case is
                upper-cased); give it or `prompt_embeds`.
            negative_prompt (`str` or `list[str]`, *optional*): what guidance steers away from;
                defaults to the empty prompt, the unconditional model of classifier-free guidance.
            num_inference_steps (`int`, defaults to 50): denoising steps.
            guidance_scale (`float`, defaults to 1.0): classifier-free guidance; on when > 1.
            eta (`float`, defaults to 0.0): DDIM's eta; passed only to schedulers that take it.
            num_videos_per_prompt (`int`, defaults to 1): videos per prompt.
            generator (`torch.Generator`, *optional*): makes sampling deterministic.
            latents (`torch.Tensor`, *optional*): starting noise `(B, C, F, H, W)`, before `init_noise_sigma`.
            prompt_embeds (`torch.Tensor`, *optional*): `(B, L, D_text)` from `encode_prompt`, instead of `prompt`.
            prompt_attention_mask (`torch.Tensor`, *optional*): `(B, L)`, required with `prompt_embeds`.
            negative_prompt_embeds (`torch.Tensor`, *optional*): `(B, L, D_text)`, instead of `negative_prompt`.
            negative_prompt_attention_mask (`torch.Tensor`, *optional*): `(B, L)`, required with them.
            look (`dict` or `list[dict]`, *optional*): the look, for a model trained with looks
                (`transformer.config.looks`): factor -> value, e.g. `{"direction": "left_to_right"}`,
                one dict for every prompt or a list with one per prompt. Factors given are obeyed;
                factors left out (all of them by default) are sampled by the model, so each seed can
                draw another look. A model without looks accepts only None or empty dicts.
            draw_left_out_look (`bool`, defaults to False): for a model with scroll alignment
                (`transformer.config.scroll_cell_widths`), first draw the factors left out from the
                model's own guess of the look on the starting noise, its learned chance of each look,
                then denoise with the whole look given (`draw_left_out_look` method). False, the
                default, leaves them to the denoising alone: the shipped model with looks commits to one
                look by itself (research/variety-by-denoising).
            output_type (`str`, defaults to "np"): "np", "pt", "pil" or "latent".
            return_dict (`bool`, defaults to True): return a `TextVideoPipelineOutput` or a tuple.
            callback_on_step_end (`Callable`, *optional*): called as `(pipe, step, timestep, tensors)`
                after each step; may return replacements for the tensors it was given, change
                `pipe._guidance_scale` or set `pipe._interrupt = True`.
            callback_on_step_end_tensor_inputs (`list[str]`, defaults to `["latents"]`): which tensors it gets.

            variation: the deprecated name of `look`.

        Examples:

        Returns:
            `TextVideoPipelineOutput` with `frames`, or `(frames,)` when `return_dict` is False.
        """
        if variation is not None:
            if look is not None:
                raise ValueError("Give `look` only: `variation` is its deprecated name.")
            warnings.warn("`variation=` is deprecated: call the pipeline with `look=`.", FutureWarning, stacklevel=2)
            look = variation
        prompts, negative_prompts, look_ids = self.check_inputs(
            prompt, negative_prompt, prompt_embeds, prompt_attention_mask, negative_prompt_embeds,
            negative_prompt_attention_mask, num_inference_steps, guidance_scale, num_videos_per_prompt, latents,
            output_type, callback_on_step_end_tensor_inputs, eta, generator, callback_on_step_end, look,
            draw_left_out_look,
        )
        self._guidance_scale = guidance_scale
        self._interrupt = False
        device = self._execution_device

        prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask = self.encode_prompt(
            prompts, negative_prompts, self.do_classifier_free_guidance, num_videos_per_prompt, prompt_embeds,
            prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask, device, self.transformer.dtype,
        )

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(prompt_embeds.shape[0], prompt_embeds.dtype, device, generator, latents)
        extra_step_kwargs = self.step_kwargs(generator, eta)
        aligned = getattr(self.transformer, "scroll_text", None) is not None  # scroll alignment: looks guessed
        if aligned and look_ids is None:
            look_ids = self.transformer.checked_look_ids(None, len(latents))  # every factor left out
        if aligned and draw_left_out_look and (look_ids == 0).any():
            look_ids = self.draw_left_out_look(
                latents, timesteps[0], prompt_embeds, prompt_attention_mask, look_ids, generator
            )

        denoiser = self.denoiser()
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for step_index, timestep in enumerate(timesteps):
                if self.interrupt:
                    break
                # Read at every step: a callback may have changed the scale.
                guided = self.do_classifier_free_guidance
                if guided and negative_prompt_embeds is None:
                    raise ValueError(
                        "A callback raised `guidance_scale` above 1 in a run that started without guidance, so "
                        "no negative prompt was encoded; start with guidance_scale > 1 to change it later."
                    )
                if guided:
                    model_input = torch.cat([latents, latents])  # (2B, C, F, H, W): unconditional, then conditional
                    text = torch.cat([negative_prompt_embeds, prompt_embeds])
                    text_mask = torch.cat([negative_prompt_attention_mask, prompt_attention_mask])
                    # Guidance acts on the text only: both halves ask for the same look.
                    looks = None if look_ids is None else torch.cat([look_ids, look_ids])
                else:
                    model_input, text, text_mask, looks = latents, prompt_embeds, prompt_attention_mask, look_ids
                model_input = self.scheduler.scale_model_input(model_input, timestep)
                prediction = denoiser(
                    model_input, timestep.expand(model_input.shape[0]), text, text_mask, look_ids=looks
                ).sample  # (B or 2B, C, F, H, W)
                if guided:
                    unconditional, conditional = prediction.chunk(2)
                    prediction = unconditional + self.guidance_scale * (conditional - unconditional)
                latents = self.scheduler.step(prediction, timestep, latents, **extra_step_kwargs).prev_sample

                if callback_on_step_end is not None:
                    # Named explicitly: before Python 3.12, `locals()` in a comprehension sees only the comprehension.
                    available = dict(
                        latents=latents, prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds
                    )
                    tensors = {name: available[name] for name in callback_on_step_end_tensor_inputs}
                    replacements = check_callback_result(
                        callback_on_step_end, callback_on_step_end(self, step_index, timestep, tensors), tensors,
                        self._callback_tensor_inputs,
                    )
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
    # Loading and saving: stock Diffusers, plus a self-contained model folder
    # ------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """`DiffusionPipeline.from_pretrained`, with every stock keyword (`dtype` and `torch_dtype`, also as
        dicts, `variant`, `device_map`, `low_cpu_mem_usage`, `use_safetensors`, the Hub keywords...), and:

        - where `diffusers_textvid` is installed, its pipeline and transformer classes are used, not the
          copies in the folder, so no `trust_remote_code` is needed (see `load_config`);
        - without a dtype, every model is float32, whatever dtype its weights are stored in: the rule a
          folder saved by `save_pretrained` also gives the stock `trust_remote_code` loader;
        - weights must be safetensors: a folder with pickles only is a `ValueError` unless
          `use_safetensors=False` is passed;
        - a Hub repo id is downloaded whole by `huggingface_hub.snapshot_download` with `revision`,
          `cache_dir`, `force_download`, `local_files_only` and `token`: Diffusers' own download step
          imports the repo's pipeline code, which would need `trust_remote_code`.
        """
        if kwargs.get("dtype") is None and kwargs.get("torch_dtype") is None:
            kwargs["dtype"] = torch.float32
        folder = local_or_downloaded_folder(pretrained_model_name_or_path, kwargs)
        if not os.path.isfile(os.path.join(folder, "model_index.json")):
            raise ValueError(f"{folder!r} is not a pipeline folder: it has no model_index.json.")
        index = read_model_index(folder)
        check_model_index(folder, index, given=set(kwargs))
        if kwargs.get("use_safetensors") is not False:
            for name in WEIGHTED_COMPONENTS:
                if name not in kwargs:
                    check_weights_folder(os.path.join(folder, name))
        for name in WEIGHTED_COMPONENTS:
            model_class = None if name in kwargs else component_class(index.get(name))
            if model_class is not None:
                check_weights_match_config(model_class, os.path.join(folder, name), kwargs.get("variant"))
        pipe = super().from_pretrained(folder, **kwargs)
        pipe.register_to_config(_name_or_path=str(pretrained_model_name_or_path))
        return pipe

    @classmethod
    def load_config(cls, *args, **kwargs):
        """`ConfigMixin.load_config`; where `diffusers_textvid` is installed, `model_index.json` is read as
        naming this class and the package's `TextVideoDiTModel`, not the copies `save_pretrained` put
        in the folder (which `DiffusionPipeline.from_pretrained` would only load with `trust_remote_code`)."""
        loaded = super().load_config(*args, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded
        transformer_class = installed_transformer_class()
        if transformer_class is not None:
            config["_class_name"] = cls.__name__
            if list(config.get("transformer", [None, None]))[1] == transformer_class.__name__:
                config["transformer"] = [transformer_class.__module__, transformer_class.__name__]
        return loaded

    @classmethod
    def from_pipe(cls, pipeline: DiffusionPipeline, **kwargs):
        """`DiffusionPipeline.from_pipe`, handing on the transformer: Diffusers hands on a model only when its
        class is exactly the one annotated on `__init__`, and a `TextVideoDiTModel` is one of several classes
        (the installed package's, or a model folder's copy of its file)."""
        transformer = getattr(pipeline, "transformer", None)
        if "transformer" not in kwargs and type(unwrap_module(transformer)).__name__ == "TextVideoDiTModel":
            kwargs["transformer"] = transformer
        return super().from_pipe(pipeline, **kwargs)

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        variant: str | None = None,
        max_shard_size: int | str | None = None,
        push_to_hub: bool = False,
        self_contained: bool = False,
        **kwargs,
    ):
        """`DiffusionPipeline.save_pretrained` (weights always safetensors, whatever `safe_serialization`
        says). `model_index.json` names the package's classes (`["diffusers_textvid", "TextVideoDiTModel"]`),
        which Diffusers imports wherever `diffusers_textvid` is installed. `text_encoder/config.json` records
        float32 as the dtype to load in: transformers loads a model in the dtype its config records,
        Diffusers' models in float32, so the stock loader then follows one rule (float32 unless a dtype is
        asked for) whatever dtype the weights are stored in.

        With `self_contained=True`, and always with `push_to_hub=True`, the folder also gets the code, for
        those who load it without the package:

        - the pipeline's module files (this one, `input_checks.py`, `lora_loading.py`) and the transformer's
          are copied in, and `model_index.json` names them as `[file, class]`, so
          `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` needs no package;
        - `transformer/config.json` gets an `auto_map`, for
          `diffusers.AutoModel.from_pretrained(folder + "/transformer", trust_remote_code=True)`.

        With `push_to_hub=True` (and `repo_id`, `token`, `private`, `create_pr`, `commit_message`), the
        complete folder is then uploaded, with a new model card where it has no README.md.
        """
        hub_options = {name: kwargs.pop(name) for name in HUB_UPLOAD_KEYWORDS if name in kwargs}
        super().save_pretrained(
            save_directory, safe_serialization=True, variant=variant, max_shard_size=max_shard_size, **kwargs
        )
        record_float32_text_encoder(str(save_directory))
        transformer = unwrap_module(self.transformer)
        if transformer is not None:  # the package's top level exports the class: the name users import
            update_json(os.path.join(save_directory, "model_index.json"), transformer=[PACKAGE, type(transformer).__name__])
        if self_contained or push_to_hub:
            self.copy_code_into(str(save_directory))
        if push_to_hub:
            self.upload_saved_folder(str(save_directory), **hub_options)

    def copy_code_into(self, folder: str):
        """Copy the code of this pipeline and its transformer into the saved `folder` and name it in the configs."""
        pipeline_file = inspect.getfile(type(self))
        copy_module_with_its_imports(pipeline_file, folder)
        index = {"_class_name": [module_stem(pipeline_file), type(self).__name__]}
        transformer = unwrap_module(self.transformer)
        if transformer is not None:
            transformer_file = inspect.getfile(type(transformer))
            copy_module_with_its_imports(transformer_file, os.path.join(folder, "transformer"))
            class_reference = [module_stem(transformer_file), type(transformer).__name__]
            index["transformer"] = class_reference
            update_json(os.path.join(folder, "transformer", "config.json"), auto_map={"AutoModel": ".".join(class_reference)})
        update_json(os.path.join(folder, "model_index.json"), **index)

    def upload_saved_folder(self, folder: str, repo_id: str | None = None, token: str | None = None,
                            private: bool | None = None, create_pr: bool = False, commit_message: str | None = None):
        """Upload a folder written by `save_pretrained` to the Hub repo `repo_id` (default: the folder's name),
        with a new model card where it has no README.md."""
        readme = os.path.join(folder, "README.md")
        if not os.path.isfile(readme):
            card_data = ModelCardData(library_name="diffusers", pipeline_tag="text-to-video")
            ModelCard.from_template(card_data, model_description=f"A `{type(self).__name__}` of diffusers-textvid.").save(readme)
        upload_to_hub(folder, repo_id, token, commit_message or "Upload TextVideoPipeline", private=private,
                      create_pr=create_pr)


def record_float32_text_encoder(folder: str):
    """Make the saved text encoder's config name float32 as its dtype (see `save_pretrained`)."""
    text_encoder_config = os.path.join(folder, "text_encoder", "config.json")
    if os.path.isfile(text_encoder_config):
        with open(text_encoder_config) as file:
            dtype_keys = {"dtype", "torch_dtype"} & set(json.load(file))  # transformers 5 and 4 names
        update_json(text_encoder_config, **dict.fromkeys(dtype_keys, "float32"))


# `from .name import` or `from ..package.name import`: an import of a module of this package.
RELATIVE_IMPORT = re.compile(r"^(\s*from\s+)(\.+)([\w.]+)(\s+import\b)", re.MULTILINE)


def copy_module_with_its_imports(source: str, folder: str, copied: set[str] | None = None):
    """Copy the module file `source` into `folder` with every module of the package it imports, and
    theirs, all side by side: each such import is rewritten to `from .name import`, the form Diffusers'
    remote-code loader follows. (Module names are unique in the package, so flat names cannot clash.)"""
    copied = set() if copied is None else copied
    if source in copied:
        return
    copied.add(source)

    def flatten(match: re.Match) -> str:
        package = Path(source).parent
        for _ in range(len(match.group(2)) - 1):
            package = package.parent
        imported = package.joinpath(*match.group(3).split(".")).with_suffix(".py")
        copy_module_with_its_imports(str(imported), folder, copied)
        return f"{match.group(1)}.{imported.stem}{match.group(4)}"

    with open(source, encoding="utf-8") as file:
        text = RELATIVE_IMPORT.sub(flatten, file.read())
    with open(os.path.join(folder, os.path.basename(source)), "w", encoding="utf-8") as file:
        file.write(text)


def module_stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def local_or_downloaded_folder(name_or_path: str | os.PathLike, kwargs: dict) -> str:
    """The local folder `name_or_path` names, or the Hub repo it names, downloaded whole; a missing
    local path is a `FileNotFoundError` and a file a `ValueError`, never a Hub lookup."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"`pretrained_model_name_or_path` must be a folder or a Hub repo id, got {type(name_or_path).__name__}.")
    folder = os.fspath(name_or_path)
    if os.path.isdir(folder):
        return folder
    if os.path.exists(folder):
        raise ValueError(f"{folder!r} is a file, not a model folder: pass the folder that holds model_index.json.")
    # A Hub repo id is "name" or "owner/name"; anything else can only be a local path.
    if os.path.isabs(folder) or folder.startswith((".", "~")) or folder.count("/") > 1 or os.sep in folder.replace("/", ""):
        raise FileNotFoundError(f"No model folder at {folder!r}: that path does not exist.")
    options = {name: kwargs[name] for name in HUB_DOWNLOAD_KEYWORDS if name in kwargs}
    unreachable = hub_unreachable_reason(options.get("local_files_only", False))
    if unreachable is not None:
        options["local_files_only"] = True  # the cache only: a download would retry for many seconds
    try:
        return snapshot_download(folder, **options)
    except Exception as error:  # huggingface_hub's many errors: invalid id, not found, offline, no network
        if unreachable is not None:
            raise FileNotFoundError(
                f"{folder!r} is not a local model folder, and the Hub cannot be reached to download it as a repo: "
                f"{unreachable} (and it is not in the Hub cache)."
            ) from error
        raise FileNotFoundError(
            f"{folder!r} is neither a local model folder nor a model repo on the Hub that could be downloaded "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})."
        ) from error


def component_class(entry) -> type | None:
    """The model class a `model_index.json` entry `[library, class]` names, where it can be known without
    importing a folder's own code: a diffusers or transformers class, or the installed `TextVideoDiTModel`."""
    if not entry or entry[0] is None:
        return None
    library, class_name = entry
    if library in LIBRARIES:
        return getattr(LIBRARIES[library], class_name)
    transformer_class = installed_transformer_class()
    if transformer_class is not None and transformer_class.__name__ == class_name:
        return transformer_class
    return None
