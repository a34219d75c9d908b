"""LookEvidence: how well each look explains the noisy video, as the exact posterior over a few videos does.

With x_t = sqrt(a) x_0 + sqrt(1 - a) eps and x_0 one of S videos r_s, the chance of video s given x_t is
softmax_s(sqrt(a) / (1 - a) * <x_t, r_s> - a / (1 - a) * |r_s|^2 / 2). For one prompt the looks are just
such a set of videos, and this sum over every pixel decides the look well before the glyphs show: on
validation prompts the true look has chance 0.67 at t = 759 of 1000 (linear schedule), where a guess
from pooled block features still gives it 0.04 (research/variety-by-denoising).

Here r_s is a learned template. Its scroll (crossing, direction and weight, which set where each symbol
is) gives each token's pixels, made by a small MLP from the text that scroll alignment puts under the
token (`ScrollAlignedText`) and a learned code of the scroll, zero at first; the rest of the look (here
the vertical offset), its variant, maps those pixels by a learned matrix, the identity at first. The
code is what tells the weights apart: bold and light cells are 35 and 34 pixels wide, so their text
under each token is nearly the same, and without it the evidence of a trained model gave the true
weight 0.51 at t = 799 and 0.60 at t = 639 (64 validation prompts), where the exact posterior gives 0.76
and 1.0. With one template per scroll only, the offsets were left to the blocks' guesses, and denoising
alone drew offset 0 in 55% of the videos, +2 in 10%.

Written sqrt(a) / (1 - a) * (<x_t, r_s> - sqrt(a) / 2 * |r_s|^2), the factor in front is capped at
`max_scale`: below t of about 200 it grows past 2, where the looks are decided anyway and an imperfect
template would only add overconfident mistakes. The |r_s|^2 term matters although renders are nearly all
-1 or +1: templates fitted by squared error are blurred where they are unsure, bold ones more (mean
|r|^2 14017 against 15233 for light, renders 15709 and 15656), and without the term the evidence gave a
bold video's weight 0.49 at t = 799 and a light one's 0.83; with it, 0.64 and 0.73 (exact: 0.80, 0.71).

Shapes: B batch, S looks, R scrolls, N video tokens, D model width, P pixels per token, E template width.
"""

import torch


class LookEvidence(torch.nn.Module):
    """Logits of the look `(B, S)` from the noisy video's tokens and a learned template per look: its
    scroll's template, mapped by a learned pixel map of its variant (what else sets the look)."""

    def __init__(self, dim: int, patch_volume: int, template_width: int, num_scrolls: int = 1,
                 num_variants: int = 1, max_scale: float = 2.0):
        super().__init__()
        self.template_hidden = torch.nn.Linear(dim, template_width)
        self.scroll_codes = torch.nn.Parameter(torch.zeros(num_scrolls, template_width))  # (R, E)
        self.template_pixels = torch.nn.Linear(template_width, patch_volume)
        # (V, P, P), the identity at first: every variant of a scroll shows its template as it is.
        self.variant_maps = torch.nn.Parameter(torch.eye(patch_volume).repeat(num_variants, 1, 1))
        self.max_scale = max_scale

    def template_features(self, shown_text: torch.Tensor) -> torch.Tensor:
        """`(B, R, N, E)` hidden features of every scroll's template, from `shown_text` `(B, R, N, D)`."""
        hidden = self.template_hidden(shown_text) + self.scroll_codes[:, None].to(shown_text.dtype)
        return torch.nn.functional.gelu(hidden, approximate="tanh")

    def templates(self, features: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
        """`(B, N, P)` pixels of the templates of one scroll and variant per video: `features` `(B, N, E)`
        of that scroll (from `template_features`), `variants` long `(B,)`."""
        maps = self.variant_maps[variants.to(self.variant_maps.device)]  # (B, P, P)
        return torch.einsum("bqp,bnp->bnq", maps, self.template_pixels(features))

    def template_error(self, features: torch.Tensor, scrolls: torch.Tensor, variants: torch.Tensor,
                       clean_tokens: torch.Tensor) -> torch.Tensor:
        """Mean squared error between the template of each video's true look and the video: `features`
        `(B, R, N, E)` from `template_features`, the look's scroll and variant `scrolls`, `variants` long
        `(B,)`, `clean_tokens` `(B, N, P)`."""
        rows = torch.arange(len(scrolls), device=features.device)
        templates = self.templates(features[rows, scrolls.to(features.device)], variants).float()  # (B, N, P)
        return torch.mean((templates - clean_tokens.float()) ** 2)

    def forward(self, noisy_tokens: torch.Tensor, features: torch.Tensor, look_scroll_numbers: torch.Tensor,
                look_variants: torch.Tensor, signal: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """float32 `(B, S)` logits: `noisy_tokens` `(B, N, P)` (x_t, patchified), `features` from
        `template_features`, `look_scroll_numbers` and `look_variants` long `(S,)` (each look's scroll and
        variant), `signal` and `noise` `(B,)` the scales sqrt(a) and sqrt(1 - a) of x_t."""
        pixels = self.template_pixels(features).float()  # (B, R, N, P): every scroll's template, unmapped
        # <x, M t> = <M^T x, t>: x is mapped once per variant instead of every template once per look.
        mapped = torch.einsum("vqp,bnq->bvnp", self.variant_maps.float(), noisy_tokens.float())  # (B, V, N, P)
        agreement = torch.einsum("bvnp,brnp->bvr", mapped, pixels)  # (B, V, R)
        squared_norms = torch.stack(
            [(pixels @ variant_map.T).square().sum(dim=(2, 3)) for variant_map in self.variant_maps.float()], dim=1
        )  # (B, V, R)
        signal = signal.float().to(agreement.device)
        scale = (signal / noise.float().to(agreement.device).square()).clamp(max=self.max_scale)  # (B,)
        fit = agreement - signal[:, None, None] / 2 * squared_norms  # (B, V, R)
        variants, scrolls = look_variants.to(agreement.device), look_scroll_numbers.to(agreement.device)  # (S,) each
        return scale[:, None] * fit[:, variants, scrolls]  # (B, S)
