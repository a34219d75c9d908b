"""TextVideoDiTModel: a diffusion transformer for short videos, conditioned on text.

Reading order: patchify helpers, the timestep/text conditioning, one transformer block, the output
layer, the noise schedule (for the clean-video parametrization), the model. Shapes use B batch,
C channels, F frames, H/W height/width, N video tokens, L text tokens, D model width.

This file imports only torch and diffusers: `save_pretrained` of the pipeline copies it next to
the weights so the model folder loads without the `diffusers_textvid` package installed.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.schedulers import DDPMScheduler
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput


@dataclass
class TextVideoDiTOutput(BaseOutput):
    """`sample`: `(B, C, F, H, W)`, the model's prediction (noise, velocity or clean video)."""

    sample: torch.Tensor


# ----------------------------------------------------------------------------------------------
# Patches
# ----------------------------------------------------------------------------------------------


def patchify(video: torch.Tensor, patch_size: tuple[int, int, int]) -> torch.Tensor:
    """`(B, C, F, H, W)` -> `(B, N, C * pt * ph * pw)` with tokens in (frame, row, column) order."""
    b, c, f, h, w = video.shape
    pt, ph, pw = patch_size
    x = video.reshape(b, c, f // pt, pt, h // ph, ph, w // pw, pw)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, F', H', W', C, pt, ph, pw)
    return x.reshape(b, (f // pt) * (h // ph) * (w // pw), c * pt * ph * pw)


def unpatchify(tokens: torch.Tensor, patch_size: tuple[int, int, int], shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of `patchify`: `(B, N, C * pt * ph * pw)` -> `shape` = `(B, C, F, H, W)`."""
    b, c, f, h, w = shape
    pt, ph, pw = patch_size
    x = tokens.reshape(b, f // pt, h // ph, w // pw, c, pt, ph, pw)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, F', pt, H', ph, W', pw)
    return x.reshape(shape)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Adaptive LayerNorm modulation: `x` `(B, N, D)`, `shift`/`scale` `(B, D)`."""
    return x * (1 + scale[:, None]) + shift[:, None]


# ----------------------------------------------------------------------------------------------
# Attention and blocks
# ----------------------------------------------------------------------------------------------


class Attention(torch.nn.Module):
    """Multi-head attention through `scaled_dot_product_attention` (fused kernels on CPU and GPU)."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = torch.nn.Linear(dim, dim)
        self.to_kv = torch.nn.Linear(context_dim or dim, 2 * dim)
        self.to_out = torch.nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`x` `(B, N, D)`, `context` `(B, L, D_ctx)` (None: self-attention), `mask` bool `(B, 1, 1, L)`."""
        b, n, d = x.shape
        context = x if context is None else context
        q = self.to_q(x).reshape(b, n, self.num_heads, -1).transpose(1, 2)  # (B, heads, N, D/heads)
        k, v = self.to_kv(context).reshape(b, context.shape[1], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, N, D/heads)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class TextVideoDiTBlock(torch.nn.Module):
    """Self-attention, cross-attention to the text, MLP; adaLN-Zero modulation from the timestep."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm_self = torch.nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.self_attention = Attention(dim, num_heads)
        self.norm_cross = torch.nn.LayerNorm(dim, eps=1e-6)
        self.cross_attention = Attention(dim, num_heads)
        self.norm_mlp = torch.nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(hidden, dim)
        )
        self.modulation = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Linear(dim, 6 * dim))

    def forward(
        self, x: torch.Tensor, conditioning: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """`x` `(B, N, D)`, `conditioning` `(B, D)`, `text` `(B, L, D)`, `text_mask` `(B, 1, 1, L)`."""
        shift_sa, scale_sa, gate_sa, shift_mlp, scale_mlp, gate_mlp = self.modulation(conditioning).chunk(6, dim=1)
        x = x + gate_sa[:, None] * self.self_attention(modulate(self.norm_self(x), shift_sa, scale_sa))
        x = x + self.cross_attention(self.norm_cross(x), text, text_mask)
        return x + gate_mlp[:, None] * self.mlp(modulate(self.norm_mlp(x), shift_mlp, scale_mlp))


class OutputLayer(torch.nn.Module):
    """Final adaLN and a linear map from each token back to its patch of pixels."""

    def __init__(self, dim: int, patch_volume: int):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.modulation = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Linear(dim, 2 * dim))
        self.projection = torch.nn.Linear(dim, patch_volume)

    def forward(self, x: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        """`x` `(B, N, D)`, `conditioning` `(B, D)` -> `(B, N, patch_volume)`."""
        shift, scale = self.modulation(conditioning).chunk(2, dim=1)
        return self.projection(modulate(self.norm(x), shift, scale))


# ----------------------------------------------------------------------------------------------
# Noise schedule: what the clean-video parametrization needs to turn its estimate into the target
# ----------------------------------------------------------------------------------------------

OUTPUT_PARAMETRIZATIONS = ("direct", "clean_video")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def training_alphas_cumprod(num_train_timesteps: int, beta_start: float, beta_end: float, beta_schedule: str):
    """`(T,)` float64 cumulative products of (1 - beta), taken from the stock `DDPMScheduler` itself."""
    try:
        scheduler = DDPMScheduler(num_train_timesteps, beta_start, beta_end, beta_schedule)
    except NotImplementedError as error:
        raise ValueError(f"beta_schedule {beta_schedule!r} is not supported by DDPMScheduler: {error}") from None
    return scheduler.alphas_cumprod.double()


def signal_and_noise_scales(alphas_cumprod: torch.Tensor, timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sqrt(abar_t), sqrt(1 - abar_t))`, each `(B,)` float32, with x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

    `timestep` `(B,)` may be fractional (Euler-type schedulers): `abar` is interpolated linearly.
    """
    t = timestep.detach().to("cpu", torch.float64).clamp(0, len(alphas_cumprod) - 1)
    low = t.floor().long()
    high = (low + 1).clamp(max=len(alphas_cumprod) - 1)
    fraction = t - low
    abar = alphas_cumprod[low] * (1 - fraction) + alphas_cumprod[high] * fraction
    return abar.sqrt().float().to(timestep.device), (1 - abar).sqrt().float().to(timestep.device)


def clean_video_to_prediction(
    clean: torch.Tensor, noisy: torch.Tensor, signal: torch.Tensor, noise: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """Turn a clean-video estimate `(B, C, F, H, W)` into what a scheduler of `prediction_type` expects.

    `noisy` is x_t; `signal`, `noise` `(B,)` are sqrt(abar_t) and sqrt(1 - abar_t). The x_t terms carry
    the input at full resolution, so the estimate has no noise to reproduce.
    """
    signal, noise = signal[:, None, None, None, None], noise[:, None, None, None, None]
    if prediction_type == "v_prediction":
        return (signal * noisy - clean) / noise
    if prediction_type == "epsilon":
        return (noisy - signal * clean) / noise
    if prediction_type == "sample":
        return clean
    raise ValueError(f"prediction_type {prediction_type!r} is not one of {PREDICTION_TYPES}.")


# ----------------------------------------------------------------------------------------------
# Looks (variations) the model can be conditioned on
# ----------------------------------------------------------------------------------------------


def check_variation_table(variations: dict):
    """`ValueError` unless `variations` maps factor names to non-empty lists of distinct values."""
    for factor, values in variations.items():
        if not isinstance(factor, str) or not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"`variations` must map factor names to non-empty lists of values, got {factor!r}: {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"`variations[{factor!r}]` repeats a value: {values!r}.")


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------


class TextVideoDiTModel(ModelMixin, ConfigMixin, PeftAdapterMixin):
    """A video DiT: 3D patches, (frame, row, column) position embeddings, adaLN-Zero blocks with
    cross-attention to text.

    LoRA comes from Diffusers' `PeftAdapterMixin` (needs `peft`): `add_adapter(LoraConfig(...))`,
    `save_lora_adapter`, `load_lora_adapter`, `set_adapters`, `fuse_lora` and `unfuse_lora`.

    Args:
        in_channels (`int`, defaults to 1): channels of the video.
        sample_frames (`int`, defaults to 16): frames the position table covers.
        sample_size (`int`, defaults to 32): height and width the position table covers.
        patch_size (`tuple[int, int, int]`, defaults to `(4, 4, 4)`): (frames, rows, columns) per token.
        hidden_size (`int`, defaults to 256): model width D.
        num_layers (`int`, defaults to 6): transformer blocks.
        num_attention_heads (`int`, defaults to 8): heads in every attention.
        mlp_ratio (`float`, defaults to 4.0): MLP hidden width over D.
        text_embed_dim (`int`, defaults to 128): width of `encoder_hidden_states`.
        timestep_embed_dim (`int`, defaults to 256): width of the sinusoidal timestep features.
        output_parametrization (`str`, defaults to `"direct"`): `"direct"`: the network's output is
            the prediction itself. `"clean_video"`: the network estimates the clean video x_0 and
            `forward` turns it into `prediction_type` with the training noise schedule below, so x_t
            reaches the output at full resolution instead of through the patch embedding (whose
            rank, the width, can be below the patch volume).
        prediction_type (`str`, defaults to `"v_prediction"`): what `forward` returns under
            `"clean_video"`; must match the scheduler's `prediction_type`.
        num_train_timesteps, beta_start, beta_end, beta_schedule: the training noise schedule, as in
            the scheduler config (used by `"clean_video"` only).
        variations (`dict[str, list]`, *optional*): the looks the model is conditioned on, factor name ->
            its values (as `diffusers_textvid.data.VARIATIONS`). Each factor gets a small embedding
            table, added to the timestep conditioning like the class labels of DiT; row 0 of each table
            means "left out", which training with factor dropout teaches to sample. None: no looks.
        text_length_positions (`int`, defaults to 0): if above 0, one more position table per count of
            real text tokens (the sum of `encoder_attention_mask`, from 0 to this number minus 1), added
            to the shared tables. The scroll speed, and so where each symbol is in each frame, follows
            from the length of the text. Each of these tables gives every token a vector of its own,
            where the shared tables are a sum of one frame, one row and one column vector. Needs
            `encoder_attention_mask`.
        length_position_factors (`list[str]`, *optional*): factors of `variations` that also pick the
            length's table: one table per text length and per combination of these factors' ids (0, left
            out, included), so that a table can hold where each symbol lies in each frame for one direction
            and speed. Needs `text_length_positions`; `forward` then reads `variation_ids`.
    """

    _supports_gradient_checkpointing = True

    @classmethod
    def extract_init_dict(cls, config_dict, **kwargs):
        # A saved pipeline's transformer/config.json has an `auto_map`, which tells `diffusers.AutoModel` the
        # file of this class; it is no argument of `__init__`, so leave it out rather than warn about it.
        config_dict = {key: value for key, value in config_dict.items() if key != "auto_map"}
        return super().extract_init_dict(config_dict, **kwargs)

    @register_to_config
    def __init__(
        self,
        in_channels: int = 1,
        sample_frames: int = 16,
        sample_size: int = 32,
        patch_size: tuple[int, int, int] = (4, 4, 4),
        hidden_size: int = 256,
        num_layers: int = 6,
        num_attention_heads: int = 8,
        mlp_ratio: float = 4.0,
        text_embed_dim: int = 128,
        timestep_embed_dim: int = 256,
        output_parametrization: str = "direct",
        prediction_type: str = "v_prediction",
        num_train_timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        variations: dict[str, list] | None = None,
        text_length_positions: int = 0,
        length_position_factors: list[str] | None = None,
    ):
        super().__init__()
        if output_parametrization not in OUTPUT_PARAMETRIZATIONS:
            raise ValueError(
                f"output_parametrization {output_parametrization!r} is not one of {OUTPUT_PARAMETRIZATIONS}."
            )
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type {prediction_type!r} is not one of {PREDICTION_TYPES}.")
        # Not a buffer: derived from the config, so it is never saved and always float64 on the CPU.
        self.alphas_cumprod = training_alphas_cumprod(num_train_timesteps, beta_start, beta_end, beta_schedule)
        patch_size = tuple(patch_size)
        grid = (sample_frames // patch_size[0], sample_size // patch_size[1], sample_size // patch_size[2])
        if any(g * p != s for g, p, s in zip(grid, patch_size, (sample_frames, sample_size, sample_size))):
            raise ValueError(
                f"patch_size {patch_size} must divide (sample_frames, sample_size, sample_size) = "
                f"{(sample_frames, sample_size, sample_size)}."
            )
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_attention_heads {num_attention_heads}.")
        patch_volume = in_channels * patch_size[0] * patch_size[1] * patch_size[2]
        self.patch_embedding = torch.nn.Linear(patch_volume, hidden_size)
        self.frame_position = torch.nn.Parameter(torch.zeros(grid[0], hidden_size))
        self.row_position = torch.nn.Parameter(torch.zeros(grid[1], hidden_size))
        self.column_position = torch.nn.Parameter(torch.zeros(grid[2], hidden_size))
        if text_length_positions < 0:
            raise ValueError(f"text_length_positions must be 0 (off) or a count of lengths, got {text_length_positions}.")
        looked_up = sorted(length_position_factors or [])
        if looked_up and not text_length_positions:
            raise ValueError("length_position_factors needs text_length_positions above 0.")
        unknown = [factor for factor in looked_up if factor not in (variations or {})]
        if unknown:
            raise ValueError(f"length_position_factors {unknown} are not factors of `variations` ({variations}).")
        # Not buffers: derived from the config. Columns of `variation_ids` (factors in name order) and the
        # number of ids of each looked-up factor.
        self.length_position_columns = [sorted(variations).index(factor) for factor in looked_up]
        self.length_position_sizes = [len(variations[factor]) + 1 for factor in looked_up]
        combinations = math.prod(self.length_position_sizes)
        # (lengths * combinations, F', H', W', D); zero at first, so a new model starts from the shared tables.
        self.length_position = (
            torch.nn.Parameter(torch.zeros(text_length_positions * combinations, *grid, hidden_size))
            if text_length_positions
            else None
        )
        self.timestep_features = Timesteps(timestep_embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.timestep_embedding = TimestepEmbedding(timestep_embed_dim, hidden_size)
        self.text_projection = torch.nn.Sequential(
            torch.nn.Linear(text_embed_dim, hidden_size), torch.nn.GELU(approximate="tanh"),
            torch.nn.Linear(hidden_size, hidden_size),
        )
        self.blocks = torch.nn.ModuleList(
            [TextVideoDiTBlock(hidden_size, num_attention_heads, mlp_ratio) for _ in range(num_layers)]
        )
        self.output_layer = OutputLayer(hidden_size, patch_volume)
        if variations:
            check_variation_table(variations)
            # Factors in name order: a saved config.json sorts its keys, so this order survives a reload.
            sizes = [len(variations[factor]) + 1 for factor in sorted(variations)]  # row 0 of each: left out
            self.variation_embedding = torch.nn.Embedding(sum(sizes), hidden_size)
            # Not buffers: derived from the config, so never saved.
            self.variation_offsets = torch.tensor([0] + sizes[:-1]).cumsum(0)
        else:
            self.variation_embedding = None
        self.gradient_checkpointing = False
        self.initialize_weights()

    def initialize_weights(self):
        """Xavier for linear maps, small random positions, and adaLN-Zero: every modulation, the
        cross-attention output and the final projection start at zero, so each block starts as the
        identity and the untrained model predicts zeros."""
        for module in self.modules():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(module.weight)
                torch.nn.init.zeros_(module.bias)
        for table in (self.frame_position, self.row_position, self.column_position):
            torch.nn.init.normal_(table, std=0.02)
        if self.variation_embedding is not None:
            torch.nn.init.normal_(self.variation_embedding.weight, std=0.02)
        for block in self.blocks:
            torch.nn.init.zeros_(block.modulation[-1].weight)
            torch.nn.init.zeros_(block.modulation[-1].bias)
            torch.nn.init.zeros_(block.cross_attention.to_out.weight)
        torch.nn.init.zeros_(self.output_layer.modulation[-1].weight)
        torch.nn.init.zeros_(self.output_layer.modulation[-1].bias)
        torch.nn.init.zeros_(self.output_layer.projection.weight)

    def check_sample_shape(self, shape: tuple[int, ...]):
        """Raise `ValueError` unless `shape` is `(B, C, F, H, W)` matching the config and patch size."""
        config = self.config
        if len(shape) != 5:
            raise ValueError(f"Expected a video of shape (B, C, F, H, W), got shape {tuple(shape)}.")
        _, channels, frames, height, width = shape
        if channels != config.in_channels:
            raise ValueError(f"Expected {config.in_channels} channel(s), got {channels}.")
        pt, ph, pw = config.patch_size
        if frames % pt or height % ph or width % pw:
            raise ValueError(
                f"Frames x height x width {frames}x{height}x{width} is not divisible by the patch size "
                f"{pt}x{ph}x{pw}."
            )
        if frames > config.sample_frames or height > config.sample_size or width > config.sample_size:
            raise ValueError(
                f"Video {frames}x{height}x{width} is larger than the model's {config.sample_frames}x"
                f"{config.sample_size}x{config.sample_size} position table."
            )

    def encode_variations(self, variations: list[dict]) -> torch.Tensor:
        """`(B, K)` long ids for `variations`, one dict per video, over the K factors of the config in name
        order: 0 for a factor left out, 1 + the index of its value otherwise. `ValueError` naming an
        unknown factor or value, or any factor asked of a model without looks."""
        table = self.config.variations or {}
        rows = []
        for variation in variations:
            if not isinstance(variation, dict):
                raise TypeError(f"A variation must be a dict of factor -> value, got {type(variation).__name__}.")
            if variation and not table:
                raise ValueError(
                    f"This model was trained without looks, so it cannot be asked for {variation}; use a model "
                    "trained with looks (training/train_textvid.py --variations)."
                )
            unknown = sorted(set(variation) - set(table))
            if unknown:
                raise ValueError(f"Unknown variation factor(s) {', '.join(map(repr, unknown))}; known: {', '.join(table)}.")
            row = []
            for factor in sorted(table):
                values = table[factor]
                if factor not in variation:
                    row.append(0)
                elif variation[factor] in values:
                    row.append(1 + list(values).index(variation[factor]))
                else:
                    raise ValueError(f"{factor}={variation[factor]!r} is not one of {tuple(values)}.")
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long).reshape(len(variations), len(table))

    def position_embedding(self, frames: int, rows: int, columns: int) -> torch.Tensor:
        """`(F' * H' * W', D)`: sum of the frame, row and column tables, tokens in patchify order."""
        table = (
            self.frame_position[:frames, None, None]
            + self.row_position[None, :rows, None]
            + self.column_position[None, None, :columns]
        )
        return table.reshape(frames * rows * columns, -1)

    def length_position_embedding(
        self, encoder_attention_mask: torch.Tensor | None, variation_ids: torch.Tensor | None,
        frames: int, rows: int, columns: int
    ) -> torch.Tensor:
        """`(B, F' * H' * W', D)`: the position table of each video's text length (and, with
        `length_position_factors`, of its ids of those factors in `variation_ids` `(B, K)`, from
        `checked_variation_ids`), tokens in patchify order. Only for a model with `text_length_positions`
        in its config."""
        if encoder_attention_mask is None:
            raise ValueError(
                "This model has a position table per text length (`text_length_positions` in its config), so it "
                "needs `encoder_attention_mask` to know each text's length."
            )
        lengths = encoder_attention_mask.sum(dim=1).long()  # (B,)
        max_length = self.config.text_length_positions - 1
        if int(lengths.max()) > max_length:
            raise ValueError(
                f"A text of {int(lengths.max())} tokens is longer than this model's position tables cover "
                f"({max_length} tokens at most)."
            )
        index = lengths
        for column, size in zip(self.length_position_columns, self.length_position_sizes):
            index = index * size + variation_ids[:, column].to(lengths.device)
        tables = self.length_position[index.to(self.length_position.device), :frames, :rows, :columns]
        return tables.reshape(len(lengths), frames * rows * columns, -1)

    def checked_variation_ids(self, variation_ids: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """`variation_ids` `(B, K)`, or all factors left out (zeros) for None; None for a model without looks.
        `ValueError` for ids given to a model without looks, or of the wrong shape."""
        if self.variation_embedding is None:
            if variation_ids is not None:
                raise ValueError("`variation_ids` given to a model trained without looks (its config has no variations).")
            return None
        num_factors = len(self.variation_offsets)
        if variation_ids is None:
            return torch.zeros(batch, num_factors, dtype=torch.long)
        if variation_ids.shape != (batch, num_factors):
            raise ValueError(f"`variation_ids` must have shape {(batch, num_factors)}, got {tuple(variation_ids.shape)}.")
        return variation_ids

    def look_embedding(self, variation_ids: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """`(B, D)` sum of the factor embeddings of `variation_ids` `(B, K)`, from `checked_variation_ids`
        (zeros for a model without looks)."""
        if variation_ids is None:
            return torch.zeros_like(like)
        rows = variation_ids.to(like.device) + self.variation_offsets.to(like.device)  # (B, K)
        return self.variation_embedding(rows).sum(dim=1).to(like.dtype)  # (B, D)

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        variation_ids: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> TextVideoDiTOutput | tuple[torch.Tensor]:
        """
        Args:
            hidden_states: `(B, C, F, H, W)` noisy video.
            timestep: `(B,)` or a scalar; integer or float (Euler-type schedulers pass floats).
            encoder_hidden_states: `(B, L, text_embed_dim)` text encoder output.
            encoder_attention_mask: `(B, L)`, 1 for real tokens and 0 for padding; None attends to all.
            variation_ids: `(B, K)` long, from `encode_variations`; None leaves every factor out (the model
                samples the look). Only for a model with `variations` in its config.
            return_dict: return a `TextVideoDiTOutput` (True) or a plain tuple.
        """
        self.check_sample_shape(hidden_states.shape)
        shape = hidden_states.shape
        batch = shape[0]
        pt, ph, pw = self.config.patch_size
        timestep = torch.as_tensor(timestep, device=hidden_states.device)
        timestep = timestep.reshape(-1).expand(batch) if timestep.numel() == 1 else timestep.reshape(batch)
        variation_ids = self.checked_variation_ids(variation_ids, batch)

        x = self.patch_embedding(patchify(hidden_states, (pt, ph, pw)))  # (B, N, D)
        grid = (shape[2] // pt, shape[3] // ph, shape[4] // pw)
        x = x + self.position_embedding(*grid).to(x.dtype)
        if self.length_position is not None:
            x = x + self.length_position_embedding(encoder_attention_mask, variation_ids, *grid).to(x.dtype)

        text = self.text_projection(encoder_hidden_states)  # (B, L, D)
        if encoder_attention_mask is None:
            text_mask, pooled_text = None, text.mean(dim=1)  # (B, D)
        else:
            keep = encoder_attention_mask.to(text.dtype)[:, :, None]  # (B, L, 1)
            pooled_text = (text * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)  # (B, D)
            text_mask = encoder_attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        time_features = self.timestep_features(timestep).to(x.dtype)  # (B, timestep_embed_dim)
        conditioning = self.timestep_embedding(time_features) + pooled_text  # (B, D)
        conditioning = conditioning + self.look_embedding(variation_ids, conditioning)

        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, x, conditioning, text, text_mask)
            else:
                x = block(x, conditioning, text, text_mask)  # (B, N, D)

        x = self.output_layer(x, conditioning)  # (B, N, C * pt * ph * pw)
        sample = unpatchify(x, (pt, ph, pw), tuple(shape))  # (B, C, F, H, W)
        if self.config.output_parametrization == "clean_video":
            signal, noise = signal_and_noise_scales(self.alphas_cumprod, timestep)
            sample = clean_video_to_prediction(
                sample.float(), hidden_states.float(), signal, noise, self.config.prediction_type
            ).to(hidden_states.dtype)
        if not return_dict:
            return (sample,)
        return TextVideoDiTOutput(sample=sample)
