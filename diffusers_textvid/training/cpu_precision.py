"""Whether bf16 mixed precision pays on this CPU: it has bf16 units (AMX or AVX-512-BF16) or it does not,
and then a bf16 matrix product is measured against an fp32 one."""

import time
from pathlib import Path

import torch

BF16_UNIT_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of x86 units that multiply bf16 natively


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo, or None where there is no such file (not Linux)."""
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def has_bf16_units(flags: set[str] | None = None) -> bool | None:
    """True where the CPU has AMX or AVX-512-BF16, False where its flags show neither, None if unknown."""
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else any(flag in flags for flag in BF16_UNIT_FLAGS)


def bf16_matmul_slowdown(size: int = 512, repeats: int = 5) -> float:
    """Time of a `size` x `size` bf16 matrix product over the fp32 one (best of `repeats` each, after a warm-up)."""
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        a @ b
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - began)
        times[dtype] = best
    return times[torch.bfloat16] / times[torch.float32]


def bf16_cost_warning(flags: set[str] | None = None) -> str | None:
    """A warning for `--mixed_precision bf16` on a CPU without bf16 units, with the measured slowdown of
    its matrix products; None where the CPU has them or its flags cannot be read."""
    if has_bf16_units(flags) is not False:
        return None
    slowdown = bf16_matmul_slowdown()
    return (
        f"bf16 mixed precision on a CPU without bf16 units (no {' or '.join(BF16_UNIT_FLAGS)} among its flags): "
        f"a 512x512 bf16 matrix product measured {slowdown:.1f}x the time of the fp32 one here, so this run is "
        f"likely slower than with --mixed_precision no."
    )
