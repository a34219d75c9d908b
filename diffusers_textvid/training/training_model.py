"""What a training step is made of: the networks as one module whose forward is the loss, the
randomness of each step, the classifier-free guidance dropout, and the optimisation step itself."""

import argparse
import json
import os

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from ..data.dataset import RandomLookDataset, ScrollingTextDataset
from ..data.splits import HoldOuts
from ..data.looks import LOOK_FACTORS
from ..data.symbol_layout import render_symbol_map, token_symbols
from ..models.attention_capture import AttentionRecorder
from ..diffusion_loss import LookEmphasis, OwnEstimateInputs, SymbolAttention, diffusion_loss
from ..pipelines import TextVideoPipeline
from ..presets import build_pipeline
from .arguments import (
    check_renderable_model, look_emphasis, own_estimate_inputs, read_model_config, symbol_attention, training_parser,
)


def step_generator(seed: int, process_index: int, step: int) -> torch.Generator:
    """The generator for one optimisation step: a pure function of (seed, rank, step)."""
    mixed = np.random.SeedSequence((seed, process_index, step)).generate_state(1)[0]
    return torch.Generator().manual_seed(int(mixed))


def drop_prompts(prompts: list[str], share: float, generator: torch.Generator) -> list[str]:
    """Replace about `share` of the prompts by "" (the unconditional prompt of classifier-free guidance)."""
    keep = torch.rand(len(prompts), generator=generator) >= share
    return [p if k else "" for p, k in zip(prompts, keep.tolist())]


def prompt_token_symbols(prompts: list[str], looks: list[dict] | None, video_size: tuple[int, int], patch_size: tuple,
                         num_text_tokens: int):
    """bool `(B, N, L)`: which symbol's ink each video token of each prompt's video (in its full look, None:
    the default look; of `video_size` `(F, S)`, F frames of S x S pixels) shows, as text tokens
    (`data.symbol_layout.token_symbols`); none for a dropped prompt."""
    looks = looks or [{}] * len(prompts)
    num_frames, frame_size = video_size
    maps = [
        render_symbol_map(prompt, num_frames=num_frames, frame_size=frame_size, **look) if prompt
        else np.full((num_frames, frame_size, frame_size), -1, dtype=np.int16)
        for prompt, look in zip(prompts, looks)
    ]
    return token_symbols(torch.from_numpy(np.stack(maps)), patch_size, num_text_tokens)


def look_dicts(looks: torch.Tensor, keep: torch.Tensor | None = None) -> list[dict]:
    """The looks `(B, K)` (value indices in `LOOK_FACTORS` order, see `RandomLookDataset`) as one dict of
    factor -> value per video, with only the factors `keep` (bool `(B, K)`; None: all) marks."""
    keep = torch.ones(looks.shape, dtype=torch.bool) if keep is None else keep
    factors = list(LOOK_FACTORS.items())
    return [
        {factor: values[index] for (factor, values), index, kept in zip(factors, row, kept_row) if kept}
        for row, kept_row in zip(looks.tolist(), keep.tolist())
    ]


def drop_factors(looks: torch.Tensor, share: float, generator: torch.Generator) -> list[dict]:
    """`look_dicts` of `looks` `(B, K)`, each factor left out (for the model to sample) with chance `share`."""
    return look_dicts(looks, torch.rand(looks.shape, generator=generator) >= share)


class TrainingModel(torch.nn.Module):
    """The text encoder and the DiT as one module, whose forward is the training loss.

    `accelerator.prepare` wraps this single module, so DDP and FSDP see one model, and both networks
    run inside the wrapper's forward (where FSDP gathers the shards it needs). The DiT is registered
    first: the parameter order, and with it the optimizer and EMA states, is the one of checkpoints
    written when the two were prepared separately.
    """

    def __init__(self, pipe, snr_gamma: float | None = None, loss_weighting: str = "min_snr",
                 own_estimate_inputs: OwnEstimateInputs | None = None, look_guess_weight: float = 0.0,
                 symbol_attention: SymbolAttention | None = None, look_template_weight: float = 0.0,
                 look_emphasis: LookEmphasis | None = None):
        super().__init__()
        self.transformer = pipe.transformer
        self.text_encoder = pipe.text_encoder
        self.tokenizer, self.scheduler = pipe.tokenizer, pipe.scheduler
        self.pipeline_class = type(pipe)
        self.snr_gamma, self.loss_weighting = snr_gamma, loss_weighting
        self.own_estimate_inputs = own_estimate_inputs
        self.look_guess_weight, self.look_template_weight = look_guess_weight, look_template_weight
        self.symbol_attention = symbol_attention
        self.look_emphasis = look_emphasis

    def forward(self, prompts: list[str], clean: torch.Tensor, generator: torch.Generator,
                looks: list[dict] | None = None, true_looks: list[dict] | None = None) -> torch.Tensor:
        """The diffusion loss of the `clean` videos `(B, 1, F, H, W)` of `prompts` conditioned on the looks
        `looks` (one dict per video; None for a model without looks), whose full looks are `true_looks`
        (needed by `look_guess_weight`, `look_template_weight` and `look_emphasis`): a scalar."""
        look_ids = None if looks is None else self.transformer.encode_looks(looks)
        true_ids = None if true_looks is None else self.transformer.encode_looks(true_looks)
        symbols = None
        if self.symbol_attention is not None:
            symbols = prompt_token_symbols(prompts, true_looks, clean.shape[2:4], self.transformer.config.patch_size,
                                           self.tokenizer.model_max_length)
        return diffusion_loss(
            self.transformer, self.text_encoder, self.tokenizer, self.scheduler, prompts, clean, generator,
            self.snr_gamma, self.loss_weighting, self.own_estimate_inputs, look_ids, true_ids,
            self.look_guess_weight, self.symbol_attention, symbols, self.look_template_weight,
            self.look_emphasis, true_looks,
        )

    def has_looks(self) -> bool:
        """Whether the transformer is conditioned on looks (`--looks`)."""
        return bool(self.transformer.config.get("looks"))

    def video_size(self) -> tuple[int, int]:
        """`(F, S)`: the videos the transformer is made for, F frames of S x S pixels (`sample_frames`,
        `sample_size`), which the training data is rendered at."""
        return self.transformer.config.sample_frames, self.transformer.config.sample_size

    def pipeline(self):
        """The pipeline of these networks, as it is saved."""
        return self.pipeline_class(
            tokenizer=self.tokenizer, text_encoder=self.text_encoder, transformer=self.transformer,
            scheduler=self.scheduler,
        )


class NonFiniteLoss(Exception):
    """A process computed a loss that is NaN or infinite; `losses` holds every process's."""

    def __init__(self, losses: list[float]):
        super().__init__(f"loss is {losses}")
        self.losses = losses


def training_step(accelerator: Accelerator, model, optimizer, lr_scheduler, parameters, max_grad_norm: float,
                  prompts: list[str], clean: torch.Tensor, generator: torch.Generator,
                  looks: list[dict] | None = None, true_looks: list[dict] | None = None) -> torch.Tensor:
    """One micro-batch of the prepared `model` (a `TrainingModel`): loss, backward, gradient clipping of
    `parameters` and the optimizer and learning-rate steps (which Accelerate holds back until the last
    micro-batch of a gradient accumulation). Return the loss of every process `(P,)`.

    Raises `NonFiniteLoss` before the backward pass, so the weights stay as they were.
    """
    with accelerator.accumulate(model):
        with accelerator.autocast():
            loss = model(prompts, clean.to(accelerator.device), generator, looks, true_looks)
        losses = accelerator.gather(loss.detach()[None])  # (P,)
        if not torch.isfinite(losses).all():
            raise NonFiniteLoss(losses.tolist())
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return losses


def build_training_model(args) -> TrainingModel:
    """The networks to train, in training mode: those of `--pretrained_model_name_or_path` (in float32), or
    the untrained ones of `--model_preset` (and `--model_config`)."""
    if args.pretrained_model_name_or_path is not None:
        pipe = TextVideoPipeline.from_pretrained(args.pretrained_model_name_or_path)
    else:
        overrides = read_model_config(args.model_config) if args.model_config else None
        pipe = build_pipeline(args.model_preset, prediction_type=args.prediction_type, looks=args.looks,
                              transformer_overrides=overrides)
    check_renderable_model(pipe.transformer.config)
    if args.gradient_checkpointing:
        pipe.transformer.enable_gradient_checkpointing()
    if args.look_template_weight and pipe.transformer.look_evidence is None:
        raise ValueError("--look_template_weight needs a model with look evidence (`look_evidence_width` above 0 "
                         "in its transformer config).")
    supervision = symbol_attention(args)
    if supervision is not None:
        AttentionRecorder(pipe.transformer, "cross", supervision.blocks)  # `ValueError` for blocks it lacks
    emphasis = look_emphasis(args)
    if emphasis is not None and not pipe.transformer.config.get("looks"):
        raise ValueError("--look_emphasis needs a model trained with looks (--looks, or a fine-tune of one).")
    return TrainingModel(pipe, args.snr_gamma, args.loss_weighting, own_estimate_inputs(args),
                         args.look_guess_weight, supervision, args.look_template_weight, emphasis).train()


def checkpoint_pipeline(run: str, step: int):
    """The pipeline of `run`'s networks (rebuilt, or loaded from the folder a fine-tune started from) with the
    raw weights of its `checkpoint-{step}`."""
    with open(os.path.join(run, "training_args.json")) as file:
        # A run saved before an option existed holds no value for it: it trained with that option's default.
        args = argparse.Namespace(**{**vars(training_parser().parse_args([])), **json.load(file)})
    model = build_training_model(args)
    model.load_state_dict(load_file(os.path.join(run, f"checkpoint-{step}", "model.safetensors")))
    return model.eval().pipeline()


def training_dataset(args, looks: bool, video_size: tuple[int, int], process_index: int, start_index: int):
    """The sample stream of process `process_index`, from its `start_index`-th sample, of videos of
    `video_size` `(F, S)` (`TrainingModel.video_size`): in random looks when `looks` (the model is
    conditioned on them: `--looks`, or a fine-tune of a model trained with them)."""
    num_frames, frame_size = video_size
    return (RandomLookDataset if looks else ScrollingTextDataset)(
        seed=args.seed, process_index=process_index, start_index=start_index,
        hold_outs=HoldOuts(False, False) if args.no_hold_outs else HoldOuts(),
        num_frames=num_frames, frame_size=frame_size,
    )
