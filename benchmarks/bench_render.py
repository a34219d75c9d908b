"""Renderer speed: videos per second of `render_text_video`, by video size.

    python benchmarks/bench_render.py --seconds 3
    python benchmarks/bench_render.py --seconds 3 --look 35  # one look of `all_looks()`, 0 the default
    python benchmarks/bench_render.py --seconds 3 --sizes 16x32 16x64 64x64  # frames x frame size, in turn
"""

import argparse
import time

import numpy as np

from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import sample_training_prompt
from diffusers_textvid.data.looks import all_looks


def video_size(text: str) -> tuple[int, int]:
    """"16x64" -> (16, 64): frames, frame size."""
    frames, _, size = text.partition("x")
    return int(frames), int(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per size")
    parser.add_argument("--look", type=int, default=None,
                        help="index into all_looks(), passed as factors; by default no factors")
    parser.add_argument("--sizes", nargs="+", type=video_size, default=[(16, 32)], metavar="FxS",
                        help="video sizes, FRAMESxPIXELS (16x32: the default video)")
    args = parser.parse_args()
    factors = {} if args.look is None else all_looks()[args.look]
    rng = np.random.default_rng(0)
    prompts = [sample_training_prompt(rng) for _ in range(10000)]
    look = f", look {factors}" if factors else ""
    for num_frames, frame_size in args.sizes:
        size = {"num_frames": num_frames, "frame_size": frame_size}
        render_text_video(prompts[0], **size, **factors)  # builds the glyph atlas once
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            render_text_video(prompts[count % len(prompts)], **size, **factors)
            count += 1
        seconds = (time.perf_counter() - start) / count
        print(f"render_text_video {num_frames}x{frame_size}x{frame_size}: {1 / seconds:.0f} videos/s, "
              f"{seconds * 1e6:.1f} us/video (training prompts, 1 core{look})")


if __name__ == "__main__":
    main()
