"""Renderer speed: videos per second of `render_text_video`, by prompt length.

    python benchmarks/bench_render.py --seconds 3
"""

import argparse
import time

import numpy as np

from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import sample_training_prompt


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    prompts = [sample_training_prompt(rng) for _ in range(10000)]
    render_text_video(prompts[0])  # builds the glyph atlas once
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        render_text_video(prompts[count % len(prompts)])
        count += 1
    print(f"render_text_video: {count / (time.perf_counter() - start):.0f} videos/s (training prompts, 1 core)")


if __name__ == "__main__":
    main()
