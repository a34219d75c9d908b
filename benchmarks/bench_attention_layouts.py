"""Training cost per sample against video size, full against space-time factorised attention, in one run.

    python benchmarks/bench_attention_layouts.py --repeats 3

For each video size (frames x height x width) and `attention_layout`, the small preset's transformer
(width 192, 6 blocks; 1x8x8 patches, so every size is cut the same way) runs forward and backward on
random inputs of batch 1, as a training step's network part; the time is the best of `--repeats` after a
warm-up. FLOPs: `torch.utils.flop_counter` counts the linear layers but not the CPU's fused attention
kernel, so the attention's products (scores and weighted values, forward and the twice-as-costly
backward) are added from the shapes. The growth exponent of each layout is the slope of log(time), and of
log(FLOPs), against log(tokens) from the smallest size to the largest.
"""

import argparse
import math
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusers_textvid.models import TextVideoDiTModel
from diffusers_textvid.models.modeling_textvid import span_groups
from diffusers_textvid.presets import PRESETS

SIZES = [(16, 32, 32), (16, 64, 64), (64, 64, 64)]  # (frames, height, width)
PATCH = (1, 8, 8)
LAYOUTS = ("full", "factorised")


def network(layout: str, frames: int, size: int) -> TextVideoDiTModel:
    torch.manual_seed(0)
    arguments = {**PRESETS["small"]["transformer"], "patch_size": PATCH, "text_length_positions": 0,
                 "sample_frames": frames, "sample_size": size, "attention_layout": layout}
    return TextVideoDiTModel(**arguments)


def attention_flops(model: TextVideoDiTModel, grid: tuple[int, int, int], text_tokens: int = 8) -> int:
    """FLOPs of the attention products of one forward and backward at batch 1: per block, scores and
    weighted values (2 x 2 x queries x keys x width) for self-attention within its span's groups and for
    cross-attention to the text, times 3 (the backward costs twice the forward)."""
    width = model.config.hidden_size
    tokens = grid[0] * grid[1] * grid[2]
    total = 0
    for block in model.blocks:
        groups, size = span_groups(grid, block.self_attention.span).shape
        total += 4 * width * (groups * size * size + tokens * text_tokens)
    return 3 * total


def step_seconds_and_flops(model: TextVideoDiTModel, frames: int, size: int, repeats: int) -> tuple[float, int]:
    """Best time of one forward and backward at batch 1, and its FLOPs."""
    video = torch.randn(1, 1, frames, size, size)
    text = torch.randn(1, 8, model.config.text_embed_dim)
    mask = torch.ones(1, 8)
    timestep = torch.tensor([500])

    def step():
        model.zero_grad(set_to_none=True)
        model(video, timestep, text, mask).sample.square().mean().backward()

    with FlopCounterMode(display=False) as counter:
        step()
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - began)
    grid = (frames // PATCH[0], size // PATCH[1], size // PATCH[2])
    return best, counter.get_total_flops() + attention_flops(model, grid)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| video (FxHxW) | tokens | layout | s / sample | GFLOP / sample | time vs full |")
    print("|---|---|---|---|---|---|")
    times = {layout: [] for layout in LAYOUTS}
    flops = {layout: [] for layout in LAYOUTS}
    tokens = []
    for frames, height, width in SIZES:
        count = (frames // PATCH[0]) * (height // PATCH[1]) * (width // PATCH[2])
        tokens.append(count)
        for layout in LAYOUTS:
            seconds, step_flops = step_seconds_and_flops(network(layout, frames, height), frames, height, args.repeats)
            times[layout].append(seconds)
            flops[layout].append(step_flops)
            print(f"| {frames}x{height}x{width} | {count} | {layout} | {seconds:.3f} | {step_flops / 1e9:.1f} | "
                  f"{seconds / times['full'][-1]:.2f}x |", flush=True)
    def exponent(values: list[float]) -> float:
        return math.log(values[-1] / values[0]) / math.log(tokens[-1] / tokens[0])

    for layout in LAYOUTS:
        print(f"{layout}: from {tokens[0]} to {tokens[-1]} tokens, time grows as tokens^{exponent(times[layout]):.2f}, "
              f"FLOPs as tokens^{exponent(flops[layout]):.2f}")


if __name__ == "__main__":
    main()
