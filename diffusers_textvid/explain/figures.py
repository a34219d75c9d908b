"""The figures of `textvid explain`, drawn with matplotlib (the `explain` extra) from `explain_arrays`.

Each `*_figure` function takes the arrays of one view and returns a matplotlib `Figure`; `draw_all` writes
them all as PNGs.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

TOKEN_COLOURS = plt.get_cmap("tab10").colors  # one per text token position; 10 >= the longest text + [END] + pad
NO_SYMBOL = (0.35, 0.35, 0.35)


def frame_strip(frames: np.ndarray, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """`(F, H, W, ...)` -> `(H, F * (W + gap) - gap, ...)`: the frames side by side, `gap` columns of `fill` between."""
    padding = [(0, 0), (0, 0), (0, gap)] + [(0, 0)] * (frames.ndim - 3)
    padded = np.pad(frames.astype(np.float32), padding, constant_values=fill)
    strip = np.concatenate(list(padded), axis=1)
    return strip[:, :-gap] if gap else strip


def token_image(values: np.ndarray, patch: tuple[int, int]) -> np.ndarray:
    """`(H', W', ...)` per-token values -> `(H' * ph, W' * pw, ...)`: each token's value over its pixels."""
    return values.repeat(patch[0], axis=0).repeat(patch[1], axis=1)


def denoising_figure(denoising: dict):
    """Rows of all frames: the clean-video estimate and the sample at each kept step, then the result."""
    rows = []
    for step, timestep, estimate, sample in zip(denoising["steps"], denoising["timesteps"], denoising["estimates"],
                                                denoising["samples"]):
        rows.append((f"step {step} (t={timestep})\nestimate", estimate))
        rows.append(("sample", sample))
    rows.append(("result", denoising["video"] * 2 - 1))
    figure, axes = plt.subplots(len(rows), 1, figsize=(12, 0.75 * len(rows) + 0.6))
    for axis, (label, frames) in zip(axes, rows):
        axis.imshow(frame_strip(np.clip(frames, -1, 1)), cmap="gray", vmin=-1, vmax=1)
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    axes[-1].set_xlabel("frame 0 to 15, left to right")
    figure.suptitle("Denoising: the model's clean-video estimate and the sample at each step")
    return figure


def video_position_figure(video_positions: dict, by_length: dict | None):
    """The learned video position embeddings: similarity to one token over frames x rows x columns, the
    all-to-all matrix, and the mean similarity against frame distance (one line per text length where the
    model has a table per length)."""
    frames, rows, columns = video_positions["grid"]
    similarity = video_positions["all_to_all"]
    chosen = (frames // 2) * rows * columns + (rows // 2) * columns + columns // 2
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1.6, 1, 1]})
    against = similarity[chosen].reshape(frames, rows, columns)
    image = axes[0].imshow(frame_strip(against), cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    axes[0].set_title(f"cosine similarity to the token of frame {frames // 2}, row {rows // 2}, column {columns // 2}")
    axes[0].set_xlabel(f"frames 0 to {frames - 1} (each a block of {columns} token columns)")
    axes[0].set_ylabel("token row")
    figure.colorbar(image, ax=axes[0])
    image = axes[1].imshow(similarity, cmap="coolwarm", vmin=-1, vmax=1)
    axes[1].set_title("all to all (tokens in frame, row, column order)")
    axes[1].set_xlabel("token")
    axes[1].set_ylabel("token")
    figure.colorbar(image, ax=axes[1])
    axes[2].plot(video_positions["by_frame_distance"], "k-o", markersize=3, label="this prompt")
    for length, curve in (by_length or {}).items():
        axes[2].plot(curve, alpha=0.6, label=f"{length} symbol{'s' if length > 1 else ''}")
    axes[2].set_title("mean similarity, same place, against frame distance")
    axes[2].set_xlabel("frames apart")
    axes[2].set_ylabel("cosine similarity")
    axes[2].set_ylim(-1, 1)
    axes[2].axhline(0, color="grey", linewidth=0.5)
    axes[2].legend(fontsize=7)
    figure.tight_layout()
    return figure


def text_position_figure(text_positions: np.ndarray):
    """All-to-all cosine similarity of the text encoder's position embeddings."""
    figure, axis = plt.subplots(figsize=(5, 4.3))
    image = axis.imshow(text_positions, cmap="coolwarm", vmin=-1, vmax=1)
    axis.set_title("text position embeddings: cosine similarity")
    axis.set_xlabel("text position")
    axis.set_ylabel("text position")
    axis.set_xticks(range(len(text_positions)))
    axis.set_yticks(range(len(text_positions)))
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    return figure


def timestep_figure(timestep: dict):
    """The timestep embeddings' similarity across t, and each block's adaLN scale and gate magnitudes
    against t: which blocks act at which noise."""
    steps = timestep["timesteps"]
    figure, axes = plt.subplots(1, 5, figsize=(20, 3.8))
    span = [steps[0], steps[-1], steps[-1], steps[0]]
    image = axes[0].imshow(timestep["embedding_similarity"], cmap="coolwarm", vmin=-1, vmax=1, extent=span)
    axes[0].set_title("timestep embeddings: similarity")
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("t")
    figure.colorbar(image, ax=axes[0])
    titles = {"scale_self": "self-attention scale", "gate_self": "self-attention gate",
              "scale_mlp": "MLP scale", "gate_mlp": "MLP gate"}
    for axis, (name, title) in zip(axes[1:], titles.items()):
        for block, values in enumerate(timestep[name]):
            axis.plot(steps, values, label=f"block {block}")
        axis.set_title(f"{title}: mean |value|")
        axis.set_xlabel("t (0 clean, 999 noise)")
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    return figure


def reads_image(reads: np.ndarray, video: np.ndarray, patch: tuple[int, int, int]) -> np.ndarray:
    """RGB `(F, H, W, 3)`: each pixel in the colour of the text token its video token reads (`reads`
    `(F', H', W')`, -1 for none), as bright as the video's ink there."""
    colours = np.array(list(TOKEN_COLOURS) + [NO_SYMBOL])  # index -1 -> NO_SYMBOL
    frames = []
    for frame in range(video.shape[0]):
        tokens = token_image(reads[frame // patch[0]], patch[1:])  # (H, W)
        brightness = 0.25 + 0.75 * video[frame][..., None] / 255.0
        frames.append(colours[tokens] * brightness)
    return np.stack(frames)


def cross_attention_figure(cross_attention: dict, patch: tuple[int, int, int], index: int):
    """At the `index`-th timestep: for every block (heads averaged) and frame, which text token each video
    token reads most, in that token's colour; the last row is the renderer's truth (the symbol drawn there)."""
    reads = cross_attention["reads"][index]  # (layers, F', H', W')
    truth = cross_attention["token_symbols"]  # (F', H', W', L)
    truth_reads = np.where(truth.any(axis=3), truth.argmax(axis=3), -1)
    rows = [(f"block {block}", reads[block]) for block in range(len(reads))] + [("renderer's truth", truth_reads)]
    figure, axes = plt.subplots(len(rows), 1, figsize=(12, 0.8 * len(rows) + 1.2))
    for axis, (label, row) in zip(axes, rows):
        axis.imshow(frame_strip(reads_image(row, cross_attention["video"], patch), fill=1.0))
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    tokens = cross_attention["tokens"]
    handles = [Patch(color=TOKEN_COLOURS[k], label=name) for k, name in enumerate(tokens) if name != "[PAD]"]
    handles.append(Patch(color=NO_SYMBOL, label="no symbol"))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    timestep = cross_attention["timesteps"][index]
    figure.suptitle(f"Cross-attention at t={timestep}: the text token each video token reads most (heads averaged)")
    return figure


def self_attention_figure(self_attention: dict, patch: tuple[int, int, int]):
    """Where one inked video token (marked) looks across frames, block by block (heads averaged), over the video."""
    example = self_attention["example"]
    attention = example["attention"]  # (layers, F', H', W')
    video = example["video"]
    frames, rows, columns = attention.shape[1:]
    query = np.unravel_index(example["token"], (frames, rows, columns))
    figure, axes = plt.subplots(len(attention), 1, figsize=(12, 0.8 * len(attention) + 1.0))
    for block, axis in enumerate(np.atleast_1d(axes)):
        heat = np.stack([token_image(attention[block, f // patch[0]], patch[1:]) for f in range(video.shape[0])])
        heat = heat / heat.max()
        axis.imshow(frame_strip(video / 255.0), cmap="gray", vmin=0, vmax=1)
        image = axis.imshow(frame_strip(heat), cmap="magma", vmin=0, vmax=1, alpha=0.6)
        left = query[0] * patch[0] * (video.shape[2] + 1) + query[2] * patch[2]
        axis.add_patch(plt.Rectangle((left - 0.5, query[1] * patch[1] - 0.5), patch[2], patch[1],
                                     fill=False, edgecolor="cyan", linewidth=1.5))
        axis.set_ylabel(f"block {block}\nfollows {self_attention['follows_symbol_by_layer'][block]:.0%}",
                        rotation=0, ha="right", va="center", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=axes, fraction=0.02, label="attention / its maximum")
    figure.suptitle(f"Self-attention of the token in cyan (frame {example['frame']}); 'follows': share of the "
                    f"attention on other frames that lands on its symbols (chance {self_attention['chance']:.0%})")
    return figure


def neurons_figure(neurons: dict, probe_accuracy: list[float]):
    """Per block and symbol, what the MLP neuron most selective for that symbol writes to the output pixels
    (direct path), and the linear probe's accuracy of symbol identity per block."""
    symbols, blocks = neurons["symbols"], neurons["blocks"]
    figure, axes = plt.subplots(len(blocks) + 1, 1, figsize=(14, 1.3 * len(blocks) + 2.4),
                                gridspec_kw={"height_ratios": [1] * len(blocks) + [1.4]})
    for axis, (block, found) in zip(axes, blocks.items()):
        writes = found["writes"][:, 0]  # (S, pt, ph, pw): the most selective neuron of each symbol
        images = writes.transpose(0, 2, 1, 3).reshape(len(symbols), writes.shape[2], -1)  # (S, ph, pt * pw)
        images = images / (np.abs(images).max(axis=(1, 2), keepdims=True) + 1e-12)
        axis.imshow(frame_strip(images), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_ylabel(f"block {block}", rotation=0, ha="right", va="center", fontsize=8)
        axis.set_yticks([])
        width = images.shape[2] + 1
        axis.set_xticks(np.arange(len(symbols)) * width + (width - 1) / 2, symbols, fontsize=7)
    axes[0].set_title("What each symbol's most selective MLP neuron writes, decoded to a token's pixels by a linear read-out (red: ink, blue: dark)")
    axes[-1].bar(range(len(probe_accuracy)), probe_accuracy, color="tab:blue")
    axes[-1].axhline(1 / len(symbols), color="grey", linestyle="--", label="chance (1 / symbols seen)")
    axes[-1].set_xticks(range(len(probe_accuracy)), [f"block {b}" for b in range(len(probe_accuracy))])
    axes[-1].set_ylim(0, 1)
    axes[-1].set_ylabel("probe accuracy")
    axes[-1].set_title("Linear probe of symbol identity from each block's output (held-out prompts)")
    axes[-1].legend(fontsize=7)
    figure.tight_layout()
    return figure


def draw_all(arrays: dict, folder: Path) -> dict[str, str]:
    """Write every figure of `arrays` (from `explain_arrays`) into `folder`; return figure name -> file name."""
    patch = tuple(arrays["cross_attention"]["patch_size"])
    figures = {
        "denoising": denoising_figure(arrays["denoising"]),
        "video_positions": video_position_figure(arrays["video_positions"], arrays["video_positions_by_length"]),
        "text_positions": text_position_figure(arrays["text_positions"]),
        "timestep": timestep_figure(arrays["timestep"]),
        "self_attention": self_attention_figure(arrays["self_attention"], patch),
        "neurons": neurons_figure(arrays["neurons"], arrays["probe_accuracy"]),
    }
    for index, timestep in enumerate(arrays["cross_attention"]["timesteps"]):
        figures[f"cross_attention_t{timestep}"] = cross_attention_figure(arrays["cross_attention"], patch, index)
    names = {}
    for name, figure in figures.items():
        names[name] = f"{name}.png"
        figure.savefig(folder / names[name], dpi=110)
        plt.close(figure)
    return names
