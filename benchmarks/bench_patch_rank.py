"""How many dimensions do the true videos' patches need? The best rank-k affine fit of every patch.

    python benchmarks/bench_patch_rank.py --num-prompts 400

The DiT's output layer maps each token's D features linearly to its patch of pixels, so the clean-video
estimate of one patch lies in a D-dimensional affine subspace. This script renders validation prompts,
cuts them into patches (`patchify` of the model, 4x8x8 by default) and prints, for several k, the PSNR
of the best fit of all patches within one k-dimensional affine subspace (principal components): the
ceiling a width-k output layer puts on the drawing, however well the network computes its features.
"""

import argparse

import numpy as np
import torch

from diffusers_textvid.data.splits import validation_prompts
from diffusers_textvid.evaluation import render_videos
from diffusers_textvid.models.modeling_textvid import patchify


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-prompts", type=int, default=400)
    parser.add_argument("--patch-size", type=int, nargs=3, default=(4, 8, 8), metavar=("FRAMES", "ROWS", "COLUMNS"))
    parser.add_argument("--ranks", type=int, nargs="+", default=(64, 128, 160, 192, 224, 256))
    args = parser.parse_args()

    videos = render_videos(validation_prompts()[: args.num_prompts])  # (N, 16, 32, 32) in [0, 1]
    patches = patchify(torch.from_numpy(videos)[:, None], tuple(args.patch_size)).reshape(-1, np.prod(args.patch_size))
    centred = (patches - patches.mean(dim=0)).numpy()  # (N * tokens, patch volume)
    energy = np.linalg.svd(centred, compute_uv=False) ** 2  # variance along each principal component, summed
    print(f"{len(centred)} patches of {centred.shape[1]} pixels from {len(videos)} prompts")
    print("| rank | PSNR of the best affine fit |\n|---|---|")
    for rank in args.ranks:
        mse = energy[rank:].sum() / centred.size
        print(f"| {rank} | {'exact' if mse < 1e-12 else f'{-10 * np.log10(mse):.1f} dB'} |")


if __name__ == "__main__":
    main()
