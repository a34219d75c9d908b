"""Training throughput: the shipped recipe vs the previous one and the original design, side by side in one process.

    python benchmarks/bench_training.py --seconds 30

For each configuration it runs full training steps (the training scripts' `training_step`: the
loss through the text encoder and the DiT, backward, gradient clipping, AdamW) on rendered batches
and reports samples/s, and model FLOP utilisation: the step's FLOPs (counted by `torch.utils.flop_counter`) per second, over the
matrix-product ceiling of the recipe's dtype measured in the same run. Whether bf16 autocast pays
depends on the CPU: with AMX or AVX-512-BF16 it is several times faster than fp32, without them
(e.g. AMD Zen 3) hundreds of times slower.
"""

import argparse
import time

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from diffusers.optimization import get_scheduler
from torch.utils.flop_counter import FlopCounterMode

from diffusers_textvid import build_pipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.diffusion_loss import OwnEstimateInputs
from diffusers_textvid.training.training_model import TrainingModel, training_step

MIN_SNR_PLUS_ONE = (5.0, "min_snr_plus_one")  # --snr_gamma 5 --loss_weighting min_snr_plus_one
PREVIOUS_TOKENS = {"patch_size": (4, 8, 8), "text_length_positions": 0}  # the previous shipped model's transformer
RECIPES = {
    # name: (preset, transformer overrides, autocast dtype or None, loss weighting as (snr_gamma, weighting),
    #        OwnEstimateInputs or None)
    "shipped (small: 1x32x8 tokens, length tables, fp32)": ("small", None, None, MIN_SNR_PLUS_ONE, None),
    "shipped (small: 1x32x8 tokens, length tables, bf16 autocast)": ("small", None, torch.bfloat16, MIN_SNR_PLUS_ONE,
                                                                     None),
    "previous shipped, its stage 2 (4x8x8 tokens, own-estimate inputs, fp32)": (
        "small", PREVIOUS_TOKENS, None, MIN_SNR_PLUS_ONE, OwnEstimateInputs(share=0.5)),
    "original design (fp32)": ("original", None, None, (None, "min_snr"), None),
}
BASELINE = "original design (fp32)"


def matmul_ceiling(dtype: torch.dtype, size: int = 1024, seconds: float = 3.0) -> float:
    """FLOP/s of a square matrix product in `dtype`: the practical ceiling of this CPU."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start)


class TrainingStep:
    """One optimisation step of a recipe on a fixed batch: the training scripts' own `training_step`."""

    def __init__(self, preset: str, overrides: dict | None, dtype: torch.dtype | None, weighting: tuple, own_estimates,
                 batch_size: int):
        torch.manual_seed(0)
        precision = {None: "no", torch.bfloat16: "bf16"}[dtype]
        AcceleratorState._reset_state(reset_partial_state=True)  # one Accelerator per recipe, in one process
        self.accelerator = Accelerator(cpu=True, mixed_precision=precision)
        snr_gamma, loss_weighting = weighting
        model = TrainingModel(build_pipeline(preset, transformer_overrides=overrides), snr_gamma, loss_weighting,
                              own_estimates).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        lr_scheduler = get_scheduler("constant", optimizer=optimizer)
        self.model, self.optimizer, self.lr_scheduler = self.accelerator.prepare(model, optimizer, lr_scheduler)
        stream = iter(ScrollingTextDataset(seed=0))
        pairs = [next(stream) for _ in range(batch_size)]
        self.prompts = [p for p, _ in pairs]
        self.clean = torch.stack([v for _, v in pairs])  # (B, 1, F, H, W)
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self):
        training_step(self.accelerator, self.model, self.optimizer, self.lr_scheduler, self.model.parameters(),
                      1.0, self.prompts, self.clean, self.generator)

    def flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self()
        return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per recipe")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    ceilings = {dtype: matmul_ceiling(dtype) for dtype in (torch.float32, torch.bfloat16)}
    print("matrix-product ceilings (1024x1024): " + ", ".join(
        f"{dtype}: {flops / 1e12:.4f} TFLOP/s" for dtype, flops in ceilings.items()))
    results = {}
    for name, (preset, overrides, dtype, weighting, own_estimates) in RECIPES.items():
        step = TrainingStep(preset, overrides, dtype, weighting, own_estimates, args.batch_size)
        flops_per_step = step.flops()
        step()  # warm-up
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            step()
            steps += 1
        elapsed = time.perf_counter() - start
        ceiling = ceilings[dtype or torch.float32]
        results[name] = (steps * args.batch_size / elapsed, flops_per_step * steps / elapsed, ceiling)

    baseline = results[BASELINE][0]
    print("\n| recipe | samples/s | vs original | model TFLOP/s | MFU (of its dtype's ceiling) |")
    print("|---|---|---|---|---|")
    for name, (samples_per_second, flops_per_second, ceiling) in results.items():
        print(f"| {name} | {samples_per_second:.1f} | {samples_per_second / baseline:.2f}x | "
              f"{flops_per_second / 1e12:.3f} | {100 * flops_per_second / ceiling:.1f}% |")


if __name__ == "__main__":
    main()
