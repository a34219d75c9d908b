"""Training throughput: the shipped recipe vs the original design, side by side in one process.

    python benchmarks/bench_training.py --seconds 30

For each configuration it runs full training steps (text encoder + DiT, forward, backward, AdamW)
on rendered batches and reports samples/s, and model FLOP utilisation: the step's FLOPs (counted
by `torch.utils.flop_counter`) per second, over a bf16 matrix-product ceiling measured in the
same run.
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusers_textvid import build_pipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset

RECIPES = {
    # name: (preset, autocast dtype or None)
    "shipped (small, bf16)": ("small", torch.bfloat16),
    "original design (fp32)": ("original", None),
}


def matmul_ceiling(dtype: torch.dtype, size: int = 2048, seconds: float = 3.0) -> float:
    """FLOP/s of a square matrix product in `dtype`: the practical ceiling of this CPU."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start)


class TrainingStep:
    """One optimisation step of a recipe on a fixed batch."""

    def __init__(self, preset: str, dtype: torch.dtype | None, batch_size: int):
        torch.manual_seed(0)
        self.pipe = build_pipeline(preset)
        self.dtype = dtype
        params = list(self.pipe.transformer.parameters()) + list(self.pipe.text_encoder.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=1e-4)
        stream = iter(ScrollingTextDataset(seed=0))
        pairs = [next(stream) for _ in range(batch_size)]
        self.prompts = [p for p, _ in pairs]
        self.clean = torch.stack([v for _, v in pairs])  # (B, 1, F, H, W)
        self.tokens = self.pipe.tokenizer(self.prompts, padding="max_length", max_length=8, return_tensors="pt")

    def __call__(self):
        scheduler = self.pipe.scheduler
        noise = torch.randn_like(self.clean)
        timesteps = torch.randint(0, 1000, (self.clean.shape[0],))
        noisy = scheduler.add_noise(self.clean, noise, timesteps)
        with torch.autocast("cpu", dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            text = self.pipe.text_encoder(**self.tokens).last_hidden_state
            prediction = self.pipe.transformer(noisy, timesteps, text, self.tokens.attention_mask).sample
        loss = torch.nn.functional.mse_loss(prediction.float(), noise)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self()
        return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per recipe")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    ceiling = matmul_ceiling(torch.bfloat16)
    print(f"bf16 matrix-product ceiling: {ceiling / 1e12:.3f} TFLOP/s (fp32: {matmul_ceiling(torch.float32) / 1e12:.3f})")
    results = {}
    for name, (preset, dtype) in RECIPES.items():
        step = TrainingStep(preset, dtype, args.batch_size)
        flops_per_step = step.flops()
        step()  # warm-up
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            step()
            steps += 1
        elapsed = time.perf_counter() - start
        results[name] = (steps * args.batch_size / elapsed, flops_per_step * steps / elapsed)

    baseline = results["original design (fp32)"][0]
    print(f"\n| recipe | samples/s | vs original | model TFLOP/s | MFU (of bf16 ceiling) |")
    print("|---|---|---|---|---|")
    for name, (samples_per_second, flops_per_second) in results.items():
        print(f"| {name} | {samples_per_second:.1f} | {samples_per_second / baseline:.2f}x | "
              f"{flops_per_second / 1e12:.3f} | {100 * flops_per_second / ceiling:.1f}% |")


if __name__ == "__main__":
    main()
