"""Renderer speed: videos per second of `render_text_video`, by prompt length.

    python benchmarks/bench_render.py --seconds 3
    python benchmarks/bench_render.py --seconds 3 --look 35  # one look of `all_looks()`, 0 the default
"""

import argparse
import time

import numpy as np

from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import sample_training_prompt
from diffusers_textvid.data.looks import all_looks


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--look", type=int, default=None,
                        help="index into all_looks(), passed as factors; by default no factors")
    args = parser.parse_args()
    factors = {} if args.look is None else all_looks()[args.look]
    rng = np.random.default_rng(0)
    prompts = [sample_training_prompt(rng) for _ in range(10000)]
    render_text_video(prompts[0], **factors)  # builds the glyph atlas once
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        render_text_video(prompts[count % len(prompts)], **factors)
        count += 1
    look = f", look {factors}" if factors else ""
    print(f"render_text_video: {count / (time.perf_counter() - start):.0f} videos/s (training prompts, 1 core{look})")


if __name__ == "__main__":
    main()
