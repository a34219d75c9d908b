"""Sampling: character accuracy and PSNR against steps for five stock schedulers, and seconds per video.

    python benchmarks/bench_sampling.py --num-prompts 64
    python benchmarks/bench_sampling.py --speed

Runs the shipped model (or `--model`) on `--num-prompts` prompts of the seeded validation set, for
DDPM, DDIM, DPM-Solver++, Euler and UniPC at 1, 2, 4, 8, 25 and 50 steps (a count a scheduler
refuses is reported with its reason), then times batch 1 and batch 16 with DDIM at 25 steps.

`--speed` measures instead how near one `pipe("HELLO", num_inference_steps=25)` call at batch 1 (DDIM)
comes to the matrix-product bound, eager and after `compile_transformer()`: the FLOPs of its transformer
calls (`torch.utils.flop_counter`) divided by the rate of a 1024x1024 fp32 matrix product timed in the
same process. Times are the best of `--repeats` after a warm-up, both wall and this process's CPU time
(which a busy neighbour on a shared machine inflates less); the compile time is the wall time of the
first compiled call, less one eager call. It prints the CPU model and thread count.
"""

import argparse
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusers_textvid import DEFAULT_MODEL_DIR, TextVideoPipeline
from diffusers_textvid.evaluation import evaluate_pipeline, evaluation_prompt_sets
from diffusers_textvid.schedulers import swap_scheduler

SCHEDULER_NAMES = {"ddim": "DDIM", "ddpm": "DDPM", "dpm": "DPM-Solver++", "euler": "Euler", "unipc": "UniPC"}
STEP_COUNTS = (1, 2, 4, 8, 25, 50)


def seconds_per_video(pipe, batch_size: int, steps: int, repeats: int = 3) -> float:
    """Wall seconds per video when generating `batch_size` videos at once (best of `repeats`)."""
    prompts = ["HELLO"] * batch_size
    pipe(prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        pipe(prompts, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
        best = min(best, time.perf_counter() - start)
    return best / batch_size


def best_times(run, repeats: int) -> tuple[float, float]:
    """`(wall, cpu)`: the best wall and process-CPU seconds of `run()` over `repeats` calls."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - wall_start), min(cpu, time.process_time() - cpu_start)
    return wall, cpu


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as file:
            return next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def speed_against_bound(pipe, repeats: int):
    """Print eager and compiled times of one 25-step call at batch 1 against its matrix-product bound."""
    swap_scheduler(pipe, "ddim", 25)

    def call():
        return pipe("HELLO", num_inference_steps=25, generator=torch.Generator().manual_seed(0), output_type="pt").frames

    matrix = torch.randn(1024, 1024)
    matrix @ matrix  # warm-up
    product_wall, product_cpu = best_times(lambda: matrix @ matrix, 20)
    with FlopCounterMode(display=False) as counter:
        eager_frames = call()
    flops = sum(counter.get_flop_counts()[type(pipe.transformer).__name__].values())
    bound_wall, bound_cpu = flops / (2 * 1024**3 / product_wall), flops / (2 * 1024**3 / product_cpu)
    print(f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print(f"1024x1024 fp32 product: {2 * 1024**3 / product_wall / 1e9:.1f} GFLOP/s (wall); transformer calls of one "
          f"call: {flops / 1e9:.2f} GFLOP, bound {1e3 * bound_wall:.1f} ms\n")
    eager_wall, eager_cpu = best_times(call, repeats)
    start = time.perf_counter()
    pipe.compile_transformer()
    compiled_frames = call()
    compile_seconds = time.perf_counter() - start - eager_wall
    compiled_wall, compiled_cpu = best_times(call, repeats)
    print("| transformer | wall ms | x bound | CPU ms | x bound (CPU) |")
    print("|---|---|---|---|---|")
    for name, wall, cpu in (("eager", eager_wall, eager_cpu), ("compiled", compiled_wall, compiled_cpu)):
        print(f"| {name} | {1e3 * wall:.1f} | {wall / bound_wall:.2f} | {1e3 * cpu:.1f} | {cpu / bound_cpu:.2f} |")
    saved = eager_wall - compiled_wall
    print(f"\ncompiled / eager: {eager_wall / compiled_wall:.2f}x faster (wall), {eager_cpu / compiled_cpu:.2f}x (CPU); "
          f"largest difference {float((compiled_frames - eager_frames).abs().max()):.1e}")
    print(f"compile time {compile_seconds:.1f} s: it pays after "
          f"{compile_seconds / saved:.0f} such calls" if saved > 0 else f"compile time {compile_seconds:.1f} s: never pays")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR)
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", action="store_true", help="Only the batch-1 call against its matrix-product bound.")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    pipe = TextVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    if args.speed:
        speed_against_bound(pipe, args.repeats)
        return
    prompts = evaluation_prompt_sets(args.num_prompts, args.seed)["validation"]

    print(f"character accuracy / PSNR on {len(prompts)} validation prompts, one seeded video each\n")
    print("| scheduler | " + " | ".join(f"{steps} step{'s' * (steps > 1)}" for steps in STEP_COUNTS) + " |")
    print("|---|" + "---|" * len(STEP_COUNTS))
    for name, label in SCHEDULER_NAMES.items():
        cells = []
        for steps in STEP_COUNTS:
            swap_scheduler(pipe, name, steps)
            try:
                result = evaluate_pipeline(pipe, prompts, num_inference_steps=steps, seed=args.seed, batch_size=32)
            except (ValueError, IndexError, RuntimeError) as error:  # the stock scheduler refuses this count
                cells.append(f"not supported ({type(error).__name__}: {str(error).splitlines()[0][:60]})")
                continue
            cells.append(f"{100 * result['char_accuracy']:.1f}% / {result['psnr_db']:.1f} dB")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    swap_scheduler(pipe, "ddim", 25)
    single, batched = seconds_per_video(pipe, 1, 25), seconds_per_video(pipe, 16, 25)
    print(f"\nDDIM, 25 steps: batch 1 {single:.3f} s/video, batch 16 {batched:.3f} s/video "
          f"(batching is {single / batched:.1f}x faster per video)")


if __name__ == "__main__":
    main()
