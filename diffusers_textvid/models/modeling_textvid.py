"""TextVideoDiTModel: a diffusion transformer for short videos, conditioned on text.

Reading order: patchify helpers, attention and one transformer block, the output layer, the looks
and scroll alignment, the model. Shapes use B batch, C channels, F frames, H/W height/width, N video
tokens, L text tokens, D model width.

Besides torch and diffusers this file imports only `noise_schedule.py`, `look_evidence.py` and
`data/scrolling.py`, which import nothing of the package: `save_pretrained(..., self_contained=True)` of
the pipeline copies the four next to the weights, so the model folder loads without the package installed.
"""

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from ..data.scrolling import strip_left_edges
from .look_evidence import LookEvidence
from .noise_schedule import PREDICTION_TYPES, clean_video_to_prediction, signal_and_noise_scales, training_alphas_cumprod

OUTPUT_PARAMETRIZATIONS = ("direct", "clean_video")  # what the last layer's output is taken as


@dataclass
class TextVideoDiTOutput(BaseOutput):
    """`sample`: `(B, C, F, H, W)`, the model's prediction (noise, velocity or clean video).
    `look_logits`: `(num_layers, B, S)`, each block's guess of the look, for a model with scroll
    alignment (`scroll_cell_widths`); -inf for looks the given factors rule out. None otherwise.
    `look_template_features`: `(B, R, N, E)`, the hidden features of every scroll's template, for a model
    with `look_evidence_width`; training fits the templates to the true video through them. None otherwise."""

    sample: torch.Tensor
    look_logits: torch.Tensor | None = None
    look_template_features: torch.Tensor | None = None


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


ATTENTION_LAYOUTS = ("full", "factorised")  # every block over all tokens; or, as Latte, frame then time in turn
SPANS = ("all", "frame", "time")  # which video tokens a self-attention reads: all, its frame's, its place's


def span_groups(grid: tuple[int, int, int], span: str) -> torch.Tensor:
    """long `(G, n)`: the token indices (patchify order) of each group that attends within itself. `"frame"`:
    one group per frame, its H' * W' tokens; `"time"`: one group per (row, column), its F' tokens across
    frames; `"all"`: one group of every token."""
    frames, rows, columns = grid
    tokens = torch.arange(frames * rows * columns).reshape(frames, rows * columns)
    return {"all": tokens.reshape(1, -1), "frame": tokens, "time": tokens.T}[span]


def block_span(attention_layout: str, index: int) -> str:
    """The self-attention span of block `index`: `"all"` under the `"full"` layout; under `"factorised"`,
    `"frame"` in even blocks and `"time"` in odd ones (Latte's interleaved spatial and temporal blocks)."""
    return "all" if attention_layout == "full" else ("frame", "time")[index % 2]


class Attention(torch.nn.Module):
    """Multi-head attention through `scaled_dot_product_attention` (fused kernels on CPU and GPU). A
    self-attention with `span` `"frame"` or `"time"` attends only within the groups of `span_groups`."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None, span: str = "all"):
        super().__init__()
        if span not in SPANS:
            raise ValueError(f"span {span!r} is not one of {SPANS}.")
        self.num_heads = num_heads
        self.span = span
        self.to_q = torch.nn.Linear(dim, dim)
        self.to_kv = torch.nn.Linear(context_dim or dim, 2 * dim)
        self.to_out = torch.nn.Linear(dim, dim)

    def heads(self, x: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """Queries, keys and values, each `(B, heads, N or L, D/heads)`."""
        b, n, _ = x.shape
        context = x if context is None else context
        q = self.to_q(x).reshape(b, n, self.num_heads, -1).transpose(1, 2)
        k, v = self.to_kv(context).reshape(b, context.shape[1], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        grid: tuple[int, int, int] | None = None,
    ) -> torch.Tensor:
        """`x` `(B, N, D)`, `context` `(B, L, D_ctx)` (None: self-attention), `mask` bool `(B, 1, 1, L)`;
        `grid` (F', H', W') of the tokens, needed by a `"frame"` or `"time"` span."""
        if self.span == "all":
            return self.attend(x, context, mask)
        groups = span_groups(grid, self.span).to(x.device)  # (G, n)
        b, d = x.shape[0], x.shape[2]
        grouped = self.attend(x[:, groups].reshape(b * groups.shape[0], groups.shape[1], d))  # (B * G, n, D)
        out = torch.empty_like(x)
        out[:, groups] = grouped.reshape(b, *groups.shape, d)
        return out

    def attend(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        """`forward` of every token of `x` `(B, N, D)` to every token of `context` (or of `x`)."""
        b, n, d = x.shape
        q, k, v = self.heads(x, context)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, N, D/heads)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))

    def probabilities(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        grid: tuple[int, int, int] | None = None,
    ) -> torch.Tensor:
        """`(B, heads, N, L)`: the attention weights `forward` applies to the same inputs, written out
        (the fused kernel keeps them hidden); for inspection and for losses on where attention looks.
        Under a `"frame"` or `"time"` span, 0 between tokens of different groups."""
        q, k, _ = self.heads(x, context)
        scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(q.shape[-1])  # (B, heads, N, L)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        if self.span != "all":
            groups = span_groups(grid, self.span).to(x.device)  # (G, n)
            same_group = torch.zeros(x.shape[1], x.shape[1], dtype=torch.bool, device=x.device)
            same_group[groups[:, :, None], groups[:, None, :]] = True
            scores = scores.masked_fill(~same_group, float("-inf"))
        return scores.softmax(dim=-1)


class TextVideoDiTBlock(torch.nn.Module):
    """Self-attention, cross-attention to the text, MLP; adaLN-Zero modulation from the timestep."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, look_hypotheses: int = 0, span: str = "all"):
        super().__init__()
        self.norm_self = torch.nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.self_attention = Attention(dim, num_heads, span=span)
        self.norm_cross = torch.nn.LayerNorm(dim, eps=1e-6)
        self.cross_attention = Attention(dim, num_heads)
        self.norm_mlp = torch.nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(hidden, dim)
        )
        self.modulation = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Linear(dim, 6 * dim))
        if look_hypotheses:
            # Which look the video shows, guessed from the tokens; zero at first (every allowed look alike).
            self.norm_look = torch.nn.LayerNorm(dim, eps=1e-6)
            self.look_choice = torch.nn.Linear(dim, look_hypotheses)
            self.aligned_text_out = torch.nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, conditioning: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor | None,
        grid: tuple[int, int, int], shown_text: torch.Tensor | None = None, look_scrolls: torch.Tensor | None = None,
        look_vectors: torch.Tensor | None = None, allowed_looks: torch.Tensor | None = None,
        look_evidence: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`x` `(B, N, D)`, `conditioning` `(B, D)`, `text` `(B, L, D)`, `text_mask` `(B, 1, 1, L)`, `grid`
        (F', H', W') of the tokens; for scroll alignment, from `ScrollAlignedText`: `shown_text` `(B, R, N, D)` under each of R scrolls,
        `look_scrolls` `(S, R)` (1 where look s has scroll r), `look_vectors` `(S, D)` and `allowed_looks`
        bool `(B, S)`; `look_evidence` `(B, S)` float32 logits from `LookEvidence`, added to the block's own
        (None: none). Returns `(x, look_logits)`: the new `x` and the block's guess of the
        look `(B, S)` (None without scroll alignment)."""
        shift_sa, scale_sa, gate_sa, shift_mlp, scale_mlp, gate_mlp = self.modulation(conditioning).chunk(6, dim=1)
        x = x + gate_sa[:, None] * self.self_attention(modulate(self.norm_self(x), shift_sa, scale_sa), grid=grid)
        x = x + self.cross_attention(self.norm_cross(x), text, text_mask)
        logits = None
        if shown_text is not None:
            logits = self.look_choice(self.norm_look(x).mean(dim=1)).float()
            if look_evidence is not None:
                logits = logits + look_evidence
            logits = logits.masked_fill(~allowed_looks, float("-inf"))
            chances = logits.softmax(dim=1).to(x.dtype)  # (B, S)
            scroll_chances = chances @ look_scrolls.to(x.dtype)  # (B, R): the looks of one scroll share its text
            shown = torch.einsum("br,brnd->bnd", scroll_chances, shown_text) + (chances @ look_vectors)[:, None]
            x = x + self.aligned_text_out(shown)
        return x + gate_mlp[:, None] * self.mlp(modulate(self.norm_mlp(x), shift_mlp, scale_mlp)), logits


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
# Looks the model can be conditioned on
# ----------------------------------------------------------------------------------------------


def numbers_in(value) -> list[float]:
    """Every int or float in `value`, searching through dicts, lists and tuples (LoRA adapter weights)."""
    if isinstance(value, dict):
        return [number for item in value.values() for number in numbers_in(item)]
    if isinstance(value, (list, tuple)):
        return [number for item in value for number in numbers_in(item)]
    return [float(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def check_look_table(looks: dict):
    """`ValueError` unless `looks` maps factor names to non-empty lists of distinct values."""
    for factor, values in looks.items():
        if not isinstance(factor, str) or not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"`looks` must map factor names to non-empty lists of values, got {factor!r}: {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"`looks[{factor!r}]` repeats a value: {values!r}.")


# ----------------------------------------------------------------------------------------------
# Scroll alignment: which symbol each video token shows, for every way the text can scroll
# ----------------------------------------------------------------------------------------------

SCROLL_FACTORS = ("crossing_frames", "direction", "weight")  # the factors that move a symbol, in name order


class ScrollAlignedText(torch.nn.Module):
    """What each video token shows under every look (every combination of the factors of `looks`).
    The look's crossing_frames, direction and weight set where each symbol cell lies in each frame
    (cells are `cell_widths[weight]` pixels wide, laid side by side). A token's vector under a look is
    the text features of the symbols under its left and right pixel columns (zeros where no symbol is),
    an embedding of where in its cell the left column falls, and an embedding of the look itself. The
    blocks mix these over the looks the video may show (`allowed`), weighted by their guess of the look.
    Looks that scroll alike (they differ in offset only) share one text vector, computed once per scroll."""

    def __init__(self, dim: int, looks: dict, cell_widths: dict, patch_size: tuple, frame_width: int):
        super().__init__()
        if patch_size[0] != 1:
            raise ValueError(f"Scroll alignment needs one frame per token (patch_size[0] == 1), got {patch_size}.")
        missing = [factor for factor in SCROLL_FACTORS if factor not in (looks or {})]
        if missing:
            raise ValueError(f"scroll_cell_widths needs the factors {list(SCROLL_FACTORS)} in `looks`; missing {missing}.")
        unsized = [weight for weight in looks["weight"] if weight not in cell_widths]
        if unsized:
            raise ValueError(f"scroll_cell_widths has no width for weight(s) {unsized}.")
        bad = [direction for direction in looks["direction"] if direction not in ("right_to_left", "left_to_right")]
        if bad:
            raise ValueError(f"Scroll alignment knows the directions right_to_left and left_to_right, not {bad}.")
        self.factors = sorted(looks)  # the columns of `look_ids`
        self.values = {factor: list(looks[factor]) for factor in self.factors}
        # Every look as the value index of each factor, factors in name order.
        self.looks = list(itertools.product(*(range(len(self.values[factor])) for factor in self.factors)))
        self.scrolls = sorted({self.scroll_of(look) for look in range(len(self.looks))})  # (crossing, direction, weight)
        self.cell_widths = {weight: int(width) for weight, width in cell_widths.items()}
        self.column_width, self.frame_width = patch_size[2], frame_width
        self.left_symbol = torch.nn.Linear(dim, dim)
        self.right_symbol = torch.nn.Linear(dim, dim)
        self.cell_offset = torch.nn.Embedding(max(self.cell_widths.values()), dim)
        self.look_vector = torch.nn.Embedding(len(self.looks), dim)
        self.index_cache = {}  # (text tokens, frames, rows, columns) -> index tables; derived, never saved

    def look_values(self, look: int) -> dict:
        """Factor -> value of look number `look`."""
        return {factor: self.values[factor][index] for factor, index in zip(self.factors, self.looks[look])}

    def scroll_of(self, look: int) -> tuple:
        """(crossing_frames, direction, weight) of look number `look`: what sets where its symbols are."""
        values = self.look_values(look)
        return values["crossing_frames"], values["direction"], values["weight"]

    def look_scroll_numbers(self) -> torch.Tensor:
        """long `(S,)`: the number in `self.scrolls` of each look's scroll."""
        return torch.tensor([self.scrolls.index(self.scroll_of(look)) for look in range(len(self.looks))])

    def look_scrolls(self) -> torch.Tensor:
        """float `(S, R)`: 1 where look s has scroll r of `self.scrolls`, else 0."""
        return F.one_hot(self.look_scroll_numbers(), len(self.scrolls)).float()

    def index_tables(self, num_tokens: int, frames: int, rows: int, columns: int) -> torch.Tensor:
        """long `(3, num_tokens, R, N)`: for each count of symbols (0 to num_tokens - 1), scroll and video
        token, the text token under its left column, under its right column (`num_tokens`: none) and the
        pixel of its cell where its left column falls."""
        key = (num_tokens, frames, rows, columns)
        if key not in self.index_cache:
            tables = torch.zeros(3, num_tokens, len(self.scrolls), frames, rows, columns, dtype=torch.long)
            for symbols, (scroll, (crossing_frames, direction, weight)) in itertools.product(
                range(num_tokens), enumerate(self.scrolls)
            ):
                cell = self.cell_widths[weight]
                edges = strip_left_edges(symbols * cell, direction, crossing_frames, self.frame_width, frames)
                for frame, column in itertools.product(range(frames), range(columns)):
                    left = column * self.column_width - edges[frame]  # strip pixel under the token's first column
                    right = left + self.column_width - 1
                    inside = [0 <= pixel < symbols * cell for pixel in (left, right)]
                    tables[0, symbols, scroll, frame, :, column] = left // cell if inside[0] else num_tokens
                    tables[1, symbols, scroll, frame, :, column] = right // cell if inside[1] else num_tokens
                    tables[2, symbols, scroll, frame, :, column] = left % cell
            self.index_cache[key] = tables.reshape(3, num_tokens, len(self.scrolls), -1)
        return self.index_cache[key]

    def allowed(self, look_ids: torch.Tensor) -> torch.Tensor:
        """bool `(B, S)`: the looks that agree with every factor `look_ids` `(B, K)` gives (id 0,
        left out, agrees with every value)."""
        looks = torch.tensor(self.looks)  # (S, K) value indices
        given = look_ids.cpu()  # (B, K), 1 + value index, or 0
        return ((given[:, None] == 0) | (given[:, None] == looks[None] + 1)).all(dim=2)

    def true_look(self, full_look_ids: torch.Tensor) -> torch.Tensor:
        """long `(B,)`: the look number of each video whose `full_look_ids` `(B, K)` give every factor."""
        allowed = self.allowed(full_look_ids)
        if not (allowed.sum(dim=1) == 1).all():
            raise ValueError("`true_look` needs every factor of the look given (no id 0).")
        return allowed.long().argmax(dim=1)

    def look_variants(self) -> torch.Tensor:
        """long `(S,)`: each look's variant, its rank among the looks of its scroll (they differ in the
        factors that do not set the scroll)."""
        scrolls = [self.scroll_of(look) for look in range(len(self.looks))]
        return torch.tensor([scrolls[:look].count(scroll) for look, scroll in enumerate(scrolls)])

    def num_variants(self) -> int:
        """How many looks share each scroll."""
        return len(self.looks) // len(self.scrolls)

    def true_scroll_and_variant(self, full_look_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """long `(B,)` each: the number in `self.scrolls` of each video's scroll and its look's variant, from
        `full_look_ids` `(B, K)`."""
        looks = self.true_look(full_look_ids)
        return self.look_scroll_numbers()[looks], self.look_variants()[looks]

    def forward(self, text: torch.Tensor, num_symbols: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """`text` `(B, L, D)` projected text features, `num_symbols` `(B,)` long -> the text under each
        token for each scroll `(B, R, N, D)` (the look vectors are `look_vector.weight`)."""
        b, num_tokens, d = text.shape
        tables = self.index_tables(num_tokens, *grid)[:, num_symbols.cpu()].to(text.device)  # (3, B, R, N)
        padded = torch.cat([text, text.new_zeros(b, 1, d)], dim=1)  # (B, L + 1, D): row L is "no symbol"
        rows = torch.arange(b, device=text.device)[:, None, None]
        return (
            self.left_symbol(padded)[rows, tables[0]]
            + self.right_symbol(padded)[rows, tables[1]]
            + self.cell_offset(tables[2]).to(text.dtype)
        )


def check_model_config(output_parametrization: str, prediction_type: str, sample_frames: int, sample_size: int,
                       patch_size: tuple[int, int, int], hidden_size: int, num_attention_heads: int,
                       text_length_positions, scroll_cell_widths, looks):
    """`ValueError` naming the first `TextVideoDiTModel` argument that cannot build a model: checked before
    anything is built, so that `from_pretrained` of a hand-edited config.json fails naming the key rather
    than sampling failing later."""
    if output_parametrization not in OUTPUT_PARAMETRIZATIONS:
        raise ValueError(f"output_parametrization {output_parametrization!r} is not one of {OUTPUT_PARAMETRIZATIONS}.")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type {prediction_type!r} is not one of {PREDICTION_TYPES}.")
    if any(size % patch for patch, size in zip(patch_size, (sample_frames, sample_size, sample_size))):
        raise ValueError(
            f"patch_size {patch_size} must divide (sample_frames, sample_size, sample_size) = "
            f"{(sample_frames, sample_size, sample_size)}."
        )
    if hidden_size % num_attention_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_attention_heads {num_attention_heads}.")
    if isinstance(text_length_positions, bool) or not isinstance(text_length_positions, int) or text_length_positions < 0:
        raise ValueError(f"text_length_positions must be 0 (off) or a count of lengths, got {text_length_positions!r}.")
    if scroll_cell_widths is not None and not (
        isinstance(scroll_cell_widths, dict)
        and scroll_cell_widths
        and all(not isinstance(w, bool) and isinstance(w, int) and w > 0 for w in scroll_cell_widths.values())
    ):
        raise ValueError(
            "scroll_cell_widths must map each value of the `weight` factor to the width of a symbol's cell, a "
            f"positive int of pixels (or be null, no scroll alignment), got {scroll_cell_widths!r}."
        )
    if looks:
        check_look_table(looks)


def check_length_position_factors(factors, looks: dict | None, text_length_positions: int):
    """`ValueError` unless `factors` (the `length_position_factors` config key) is None, or distinct factors
    of `looks` on a model with `text_length_positions`."""
    if factors is None:
        return
    if not text_length_positions or not looks:
        raise ValueError("length_position_factors needs text_length_positions and looks in the config.")
    if not isinstance(factors, (list, tuple)) or not factors or len(set(factors)) != len(factors) \
            or not set(factors) <= set(looks):
        raise ValueError(f"length_position_factors must be distinct factors of `looks` ({', '.join(sorted(looks))}), "
                         f"got {factors!r}.")


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
        looks (`dict[str, list]`, *optional*): the looks the model is conditioned on, factor name ->
            its values (as `diffusers_textvid.data.LOOK_FACTORS`). Each factor gets a small embedding
            table, added to the timestep conditioning like the class labels of DiT; row 0 of each table
            means "left out", which training with factor dropout teaches to sample. None: no looks.
        text_length_positions (`int`, defaults to 0): if above 0, one more position table per count of
            real text tokens (the sum of `encoder_attention_mask`, from 0 to this number minus 1), added
            to the shared tables. The scroll speed, and so where each symbol is in each frame, follows
            from the length of the text. Each of these tables gives every token a vector of its own,
            where the shared tables are a sum of one frame, one row and one column vector. Needs
            `encoder_attention_mask`.
        scroll_cell_widths (`dict[str, int]`, *optional*): width in pixels of a symbol's cell for each value
            of the `weight` factor. Turns on scroll alignment (`ScrollAlignedText`): the model computes, for
            every (crossing_frames, direction, weight) of `looks`, which symbol each video token shows,
            and every block adds that text to its tokens, mixed over the looks that agree with the factors
            given, with weights it guesses from the video itself for those left out. Needs one frame per
            token and `encoder_attention_mask`.
        length_position_factors (`list[str]`, *optional*): factors of `looks` whose ids, as opaque labels,
            also pick the position table: one per text length and combination of those factors' ids
            (each value or left out). Needs `text_length_positions`. None: one table per text length.
        attention_layout (`str`, defaults to `"full"`): `"full"`: every block's self-attention reads every
            video token, at a cost that grows with the square of frames x rows x columns of tokens.
            `"factorised"`: space-time factorised, as Latte: even blocks attend within each frame, odd
            blocks across the frames at each place (`block_span`).
        look_evidence_width (`int`, defaults to 0): if above 0, a `LookEvidence` with templates of this
            width adds to every block's guess of the look how well each look's learned template explains
            x_t, as the exact posterior over a few videos would (a template per look: its scroll's, mapped by a
            learned pixel map of its variant). Needs `scroll_cell_widths`.
    """

    _supports_gradient_checkpointing = True
    _repeated_blocks = ["TextVideoDiTBlock"]  # what `compile_repeated_blocks` compiles, once for all blocks

    @classmethod
    def extract_init_dict(cls, config_dict, **kwargs):
        # A self-contained folder's transformer/config.json has an `auto_map`, which tells `diffusers.AutoModel`
        # the file of this class; it is no argument of `__init__`, so leave it out rather than warn about it.
        config_dict = {key: value for key, value in config_dict.items() if key != "auto_map"}
        if "variations" in config_dict:  # the deprecated name of `looks`, in folders saved before the rename
            if config_dict.get("looks") is not None:
                raise ValueError("The transformer config has both `looks` and its old name `variations`: keep `looks`.")
            config_dict["looks"] = config_dict.pop("variations")
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
        looks: dict[str, list] | None = None,
        text_length_positions: int = 0,
        scroll_cell_widths: dict[str, int] | None = None,
        attention_layout: str = "full",
        length_position_factors: list[str] | None = None,
        look_evidence_width: int = 0,
    ):
        super().__init__()
        patch_size = tuple(patch_size)
        check_model_config(output_parametrization, prediction_type, sample_frames, sample_size, patch_size, hidden_size,
                           num_attention_heads, text_length_positions, scroll_cell_widths, looks)
        if attention_layout not in ATTENTION_LAYOUTS:
            raise ValueError(f"attention_layout {attention_layout!r} is not one of {ATTENTION_LAYOUTS}.")
        check_length_position_factors(length_position_factors, looks, text_length_positions)
        if isinstance(look_evidence_width, bool) or not isinstance(look_evidence_width, int) or look_evidence_width < 0:
            raise ValueError(f"look_evidence_width must be 0 (off) or a positive width, got {look_evidence_width!r}.")
        if look_evidence_width and not scroll_cell_widths:
            raise ValueError("look_evidence_width needs scroll alignment (`scroll_cell_widths`): the templates are "
                             "made from the text under each token in each look.")
        # Not a buffer: derived from the config, so it is never saved and always float64 on the CPU.
        self.alphas_cumprod = training_alphas_cumprod(num_train_timesteps, beta_start, beta_end, beta_schedule)
        grid = (sample_frames // patch_size[0], sample_size // patch_size[1], sample_size // patch_size[2])
        patch_volume = in_channels * patch_size[0] * patch_size[1] * patch_size[2]
        self.patch_embedding = torch.nn.Linear(patch_volume, hidden_size)
        self.frame_position = torch.nn.Parameter(torch.zeros(grid[0], hidden_size))
        self.row_position = torch.nn.Parameter(torch.zeros(grid[1], hidden_size))
        self.column_position = torch.nn.Parameter(torch.zeros(grid[2], hidden_size))
        # (lengths, F', H', W', D); zero at first, so a new model starts from the shared tables.
        self.length_position = (
            torch.nn.Parameter(torch.zeros(text_length_positions * self.look_table_count(), *grid, hidden_size))
            if text_length_positions
            else None
        )
        self.timestep_features = Timesteps(timestep_embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.timestep_embedding = TimestepEmbedding(timestep_embed_dim, hidden_size)
        self.text_projection = torch.nn.Sequential(
            torch.nn.Linear(text_embed_dim, hidden_size), torch.nn.GELU(approximate="tanh"),
            torch.nn.Linear(hidden_size, hidden_size),
        )
        self.scroll_text = (
            ScrollAlignedText(hidden_size, looks, scroll_cell_widths, patch_size, sample_size)
            if scroll_cell_widths
            else None
        )
        look_hypotheses = len(self.scroll_text.looks) if self.scroll_text is not None else 0
        self.look_evidence = (
            LookEvidence(hidden_size, patch_volume, look_evidence_width, len(self.scroll_text.scrolls),
                         self.scroll_text.num_variants())
            if look_evidence_width
            else None
        )
        self.blocks = torch.nn.ModuleList(
            [TextVideoDiTBlock(hidden_size, num_attention_heads, mlp_ratio, look_hypotheses, span=block_span(attention_layout, index))
             for index in range(num_layers)]
        )
        self.output_layer = OutputLayer(hidden_size, patch_volume)
        if looks:
            # Factors in name order: a saved config.json sorts its keys, so this order survives a reload.
            sizes = [len(looks[factor]) + 1 for factor in sorted(looks)]  # row 0 of each: left out
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
            if self.scroll_text is not None:
                torch.nn.init.zeros_(block.look_choice.weight)
                torch.nn.init.zeros_(block.aligned_text_out.weight)
        if self.scroll_text is not None:
            torch.nn.init.normal_(self.scroll_text.cell_offset.weight, std=0.02)
            torch.nn.init.normal_(self.scroll_text.look_vector.weight, std=0.02)
        if self.look_evidence is not None:  # blank templates: no evidence at first, the blocks' guesses alone
            torch.nn.init.zeros_(self.look_evidence.template_pixels.weight)
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

    def encode_looks(self, looks: list[dict]) -> torch.Tensor:
        """`(B, K)` long ids for `looks`, one dict per video, over the K factors of the config in name
        order: 0 for a factor left out, 1 + the index of its value otherwise. `ValueError` naming an
        unknown factor or value, or any factor asked of a model without looks."""
        table = self.config.looks or {}
        rows = []
        for look in looks:
            if not isinstance(look, dict):
                raise TypeError(f"A look must be a dict of factor -> value, got {type(look).__name__}.")
            if look and not table:
                raise ValueError(
                    f"This model was trained without looks, so it cannot be asked for {look}; use a model "
                    "trained with looks (training/train_textvid.py --looks)."
                )
            unknown = sorted(set(look) - set(table))
            if unknown:
                raise ValueError(f"Unknown look factor(s) {', '.join(map(repr, unknown))}; known: {', '.join(table)}.")
            row = []
            for factor in sorted(table):
                values = table[factor]
                if factor not in look:
                    row.append(0)
                elif look[factor] in values:
                    row.append(1 + list(values).index(look[factor]))
                else:
                    raise ValueError(f"{factor}={look[factor]!r} is not one of {tuple(values)}.")
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long).reshape(len(looks), len(table))

    def position_embedding(self, frames: int, rows: int, columns: int) -> torch.Tensor:
        """`(F' * H' * W', D)`: sum of the frame, row and column tables, tokens in patchify order."""
        table = (
            self.frame_position[:frames, None, None]
            + self.row_position[None, :rows, None]
            + self.column_position[None, None, :columns]
        )
        return table.reshape(frames * rows * columns, -1)

    def look_table_count(self) -> int:
        """Position tables per text length: 1, or with `length_position_factors` one per combination of those
        factors' ids (each value or left out)."""
        count = 1
        for factor in self.config.length_position_factors or []:  # a loop, not math.prod: torch.compile traces it
            count *= len(self.config.looks[factor]) + 1
        return count

    def look_table_index(self, look_ids: torch.Tensor | None, batch: int) -> torch.Tensor:
        """`(B,)` long: which of the `look_table_count` tables of a text length each video takes, from the ids
        of `length_position_factors` in `look_ids` `(B, K)` (None: every factor left out)."""
        index = torch.zeros(batch, dtype=torch.long)
        factors = sorted(self.config.looks or {})
        for factor in self.config.length_position_factors or []:
            ids = torch.zeros(batch, dtype=torch.long) if look_ids is None else look_ids[:, factors.index(factor)].cpu()
            index = index * (len(self.config.looks[factor]) + 1) + ids
        return index

    def length_position_embedding(
        self, encoder_attention_mask: torch.Tensor | None, frames: int, rows: int, columns: int,
        look_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`(B, F' * H' * W', D)`: the position table of each video's text length (and, with
        `length_position_factors`, of its ids of those factors in `look_ids` `(B, K)`), tokens in patchify
        order. Only for a model with `text_length_positions` in its config."""
        if encoder_attention_mask is None:
            raise ValueError(
                "This model has a position table per text length (`text_length_positions` in its config), so it "
                "needs `encoder_attention_mask` to know each text's length."
            )
        lengths = encoder_attention_mask.sum(dim=1).long()  # (B,)
        max_length = self.config.text_length_positions - 1
        if not torch.compiler.is_compiling() and int(lengths.max()) > max_length:  # the pipeline checks it too
            raise ValueError(
                f"A text of {int(lengths.max())} tokens is longer than this model's position tables cover "
                f"({max_length} tokens at most)."
            )
        rows_of_table = lengths.cpu() * self.look_table_count() + self.look_table_index(look_ids, len(lengths))
        tables = self.length_position[rows_of_table.to(self.length_position.device), :frames, :rows, :columns]
        return tables.reshape(len(lengths), frames * rows * columns, -1)

    def checked_look_ids(self, look_ids: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """`look_ids` `(B, K)`, or all factors left out (zeros) for None; None for a model without looks.
        `ValueError` for ids given to a model without looks, or of the wrong shape."""
        if self.variation_embedding is None:
            if look_ids is not None:
                raise ValueError("`look_ids` given to a model trained without looks (its config has no looks).")
            return None
        num_factors = len(self.variation_offsets)
        if look_ids is None:
            return torch.zeros(batch, num_factors, dtype=torch.long)
        if look_ids.shape != (batch, num_factors):
            raise ValueError(f"`look_ids` must have shape {(batch, num_factors)}, got {tuple(look_ids.shape)}.")
        return look_ids

    def look_embedding(self, look_ids: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """`(B, D)` sum of the factor embeddings of `look_ids` `(B, K)`, from `checked_look_ids`
        (zeros for a model without looks)."""
        if look_ids is None:
            return torch.zeros_like(like)
        rows = look_ids.to(like.device) + self.variation_offsets.to(like.device)  # (B, K)
        return self.variation_embedding(rows).sum(dim=1).to(like.dtype)  # (B, D)

    def shown_text(self, text: torch.Tensor, encoder_attention_mask: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """`(B, R, N, D)`: what each token shows under each scroll (`ScrollAlignedText`), from the projected
        `text` `(B, L, D)`, the `encoder_attention_mask` `(B, L)` that gives each text's length and the
        token `grid` (F', H', W')."""
        num_symbols = (encoder_attention_mask.sum(dim=1).long() - 1).clamp(min=0)  # (B,), less the end token
        return self.scroll_text(text, num_symbols, grid)

    def set_adapters(self, adapter_names, weights=None):
        """`PeftAdapterMixin.set_adapters`, refusing NaN or infinite `weights` (they would be multiplied into
        every LoRA layer, and every later video would be NaN)."""
        if not all(math.isfinite(number) for number in numbers_in(weights)):
            raise ValueError(f"set_adapters: weights must be finite numbers, got {weights!r}.")
        super().set_adapters(adapter_names, weights)

    def fuse_lora(self, lora_scale=1.0, safe_fusing=False, adapter_names=None):
        """`PeftAdapterMixin.fuse_lora`, refusing a NaN or infinite `lora_scale`, which would be written into
        the base weights (and stay there after `unfuse_lora`)."""
        if isinstance(lora_scale, bool) or not isinstance(lora_scale, (int, float)) or not math.isfinite(lora_scale):
            raise ValueError(f"fuse_lora: lora_scale must be a finite number, got {lora_scale!r}.")
        super().fuse_lora(lora_scale=lora_scale, safe_fusing=safe_fusing, adapter_names=adapter_names)

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        look_ids: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> TextVideoDiTOutput | tuple[torch.Tensor]:
        """
        Args:
            hidden_states: `(B, C, F, H, W)` noisy video.
            timestep: `(B,)` or a scalar; integer or float (Euler-type schedulers pass floats).
            encoder_hidden_states: `(B, L, text_embed_dim)` text encoder output.
            encoder_attention_mask: `(B, L)`, 1 for real tokens and 0 for padding; None attends to all.
            look_ids: `(B, K)` long, from `encode_looks`; None leaves every factor out (the model
                samples the look). Only for a model with `looks` in its config.
            return_dict: return a `TextVideoDiTOutput` (True) or a plain tuple.
        """
        self.check_sample_shape(hidden_states.shape)
        shape = hidden_states.shape
        batch = shape[0]
        pt, ph, pw = self.config.patch_size
        timestep = torch.as_tensor(timestep, device=hidden_states.device)
        timestep = timestep.reshape(-1).expand(batch) if timestep.numel() == 1 else timestep.reshape(batch)
        look_ids = self.checked_look_ids(look_ids, batch)

        x = self.patch_embedding(patchify(hidden_states, (pt, ph, pw)))  # (B, N, D)
        grid = (shape[2] // pt, shape[3] // ph, shape[4] // pw)
        x = x + self.position_embedding(*grid).to(x.dtype)
        if self.length_position is not None:
            x = x + self.length_position_embedding(encoder_attention_mask, *grid, look_ids).to(x.dtype)

        text = self.text_projection(encoder_hidden_states)  # (B, L, D)
        if encoder_attention_mask is None:
            text_mask, pooled_text = None, text.mean(dim=1)  # (B, D)
        else:
            keep = encoder_attention_mask.to(text.dtype)[:, :, None]  # (B, L, 1)
            pooled_text = (text * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)  # (B, D)
            text_mask = encoder_attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        time_features = self.timestep_features(timestep).to(x.dtype)  # (B, timestep_embed_dim)
        conditioning = self.timestep_embedding(time_features) + pooled_text  # (B, D)
        conditioning = conditioning + self.look_embedding(look_ids, conditioning)
        scroll = (None, None, None, None)
        if self.scroll_text is not None:
            if encoder_attention_mask is None:
                raise ValueError(
                    "This model aligns the text with its scroll (`scroll_cell_widths` in its config), so it needs "
                    "`encoder_attention_mask` to know each text's length."
                )
            scroll = (
                self.shown_text(text, encoder_attention_mask, grid),
                self.scroll_text.look_scrolls().to(x.device),
                self.scroll_text.look_vector.weight.to(x.dtype),
                self.scroll_text.allowed(look_ids).to(x.device),
            )

        clean_video_output = self.config.output_parametrization == "clean_video"
        if clean_video_output or self.look_evidence is not None:
            signal, noise = signal_and_noise_scales(self.alphas_cumprod, timestep)  # (B,) each
        template_features, evidence = None, None
        if self.look_evidence is not None:
            # Detached: the templates learn from their own losses and leave the text features to the blocks.
            template_features = self.look_evidence.template_features(scroll[0].detach())  # (B, R, N, E)
            evidence = self.look_evidence(patchify(hidden_states, (pt, ph, pw)), template_features,
                                          self.scroll_text.look_scroll_numbers(), self.scroll_text.look_variants(),
                                          signal, noise)
        scroll = (*scroll, evidence)

        look_logits = []
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x, logits = self._gradient_checkpointing_func(block, x, conditioning, text, text_mask, grid, *scroll)
            else:
                x, logits = block(x, conditioning, text, text_mask, grid, *scroll)  # (B, N, D), (B, S) or None
            look_logits.append(logits)
        look_logits = torch.stack(look_logits) if self.scroll_text is not None else None

        x = self.output_layer(x, conditioning)  # (B, N, C * pt * ph * pw)
        sample = unpatchify(x, (pt, ph, pw), tuple(shape))  # (B, C, F, H, W)
        if clean_video_output:
            sample = clean_video_to_prediction(
                sample.float(), hidden_states.float(), signal, noise, self.config.prediction_type
            ).to(hidden_states.dtype)
        if not return_dict:
            return (sample,) if look_logits is None else (sample, look_logits)
        return TextVideoDiTOutput(sample=sample, look_logits=look_logits, look_template_features=template_features)
