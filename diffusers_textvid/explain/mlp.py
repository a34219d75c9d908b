"""How the network stores each shape: the MLP neurons most selective for each symbol and what they write,
and a linear probe of symbol identity from each block's output."""

import numpy as np
import torch

from ..data import VOCABULARY
from ..models.modeling_textvid import patchify
from .noised_renders import noised_renders


@torch.no_grad()
def token_activations(pipe, prompts: list[str], looks: list[dict], timestep: int = 500, seed: int = 0) -> dict:
    """Run the transformer on the renders of `prompts` in `looks` noised to `timestep`, keeping, for every video
    token that shows exactly one symbol, that symbol's vocabulary index (`labels` `(T,)`), the prompt it
    came from (`prompt_index` `(T,)`), its clean pixels (`pixels` `(T, pt * ph * pw)`, in [-1, 1]), each
    block's MLP hidden activations (`hidden`: block -> `(T, hidden)`) and each block's output (`outputs`:
    block -> `(T, D)`). The renders are of the transformer's size (`sample_frames`, `sample_size`)."""
    transformer = pipe.transformer
    renders = noised_renders(pipe, prompts, looks, timestep, seed)
    hidden, outputs, handles = {}, {}, []
    for index, block in enumerate(transformer.blocks):
        handles.append(block.mlp[1].register_forward_hook(
            lambda module, args, output, index=index: hidden.__setitem__(index, output.float())))
        handles.append(block.register_forward_hook(
            lambda module, args, output, index=index: outputs.__setitem__(index, output[0].float())))
    try:
        transformer(**renders.model_inputs)
    finally:
        for handle in handles:
            handle.remove()
    shown = renders.token_symbols  # (B, N, L)
    single = shown.sum(dim=2) == 1  # (B, N)
    rows, tokens = single.nonzero(as_tuple=True)
    positions = shown[rows, tokens].float().argmax(dim=1)  # which text token (symbol of the prompt)
    normalized = [pipe.normalize_prompt(p) for p in prompts]
    labels = np.array([VOCABULARY.index(normalized[r][k]) for r, k in zip(rows.tolist(), positions.tolist())])
    return {
        "labels": labels,
        "prompt_index": rows.numpy(),
        "pixels": patchify(renders.clean, tuple(transformer.config.patch_size))[rows, tokens].numpy(),
        "hidden": {b: h[rows, tokens].cpu().numpy() for b, h in hidden.items()},
        "outputs": {b: o[rows, tokens].cpu().numpy() for b, o in outputs.items()},
    }


def pixel_readout(outputs: np.ndarray, pixels: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """`(D, P)`: the ridge-regression map from a block's centred token outputs `(T, D)` to their centred clean
    pixels `(T, P)`; a direction of the block's output times it gives the pixels that direction stands for."""
    features = outputs - outputs.mean(axis=0)
    targets = pixels - pixels.mean(axis=0)
    gram = features.T @ features + ridge * len(features) * np.eye(features.shape[1], dtype=features.dtype)
    return np.linalg.solve(gram, features.T @ targets)


def selective_neurons(transformer, activations: dict, top: int = 3) -> dict:
    """For each symbol of the vocabulary seen, the `top` neurons per block whose mean activation on tokens
    showing it stands furthest above their mean on all tokens (in standard deviations), and what each
    writes: its column of the MLP's output map, times its mean activation on that symbol, decoded to one
    token's pixels `(pt, ph, pw)` by `pixel_readout` of that block (a linear read-out fitted on the same
    tokens; the adaLN gate that scales the write per video is left out).

    Returns `symbols` (the vocabulary characters seen) and, per block, `neurons` `(S, top)` long,
    `selectivity` `(S, top)` and `writes` `(S, top, pt, ph, pw)`."""
    labels = activations["labels"]
    seen = np.unique(labels)
    patch = tuple(transformer.config.patch_size)
    result = {"symbols": [VOCABULARY[s] for s in seen], "blocks": {}}
    for index, hidden in activations["hidden"].items():
        mean, spread = hidden.mean(axis=0), hidden.std(axis=0) + 1e-6
        on_symbol = np.stack([hidden[labels == s].mean(axis=0) for s in seen])  # (S, hidden)
        selectivity = (on_symbol - mean) / spread
        neurons = np.argsort(-selectivity, axis=1)[:, :top]  # (S, top)
        with torch.no_grad():
            output_map = transformer.blocks[index].mlp[2].weight.float().cpu().numpy()  # (D, hidden)
        writes = output_map[:, neurons] * np.take_along_axis(on_symbol, neurons, axis=1)  # (D, S, top)
        readout = pixel_readout(activations["outputs"][index], activations["pixels"])  # (D, P)
        pixels = np.einsum("dst,dp->stp", writes, readout)
        result["blocks"][index] = {
            "neurons": neurons,
            "selectivity": np.take_along_axis(selectivity, neurons, axis=1),
            "writes": pixels.reshape(len(seen), top, *patch),
        }
    return result


def symbol_probe(activations: dict, train_share: float = 0.7, steps: int = 300, seed: int = 0) -> list[float]:
    """Test accuracy, block by block, of a linear classifier of symbol identity trained on the block outputs
    of the tokens of the first `train_share` of the prompts and tested on the tokens of the others."""
    labels = torch.from_numpy(activations["labels"])
    prompt_index = activations["prompt_index"]
    train = torch.from_numpy(prompt_index < np.quantile(prompt_index, train_share))
    if train.all() or not train.any():
        raise ValueError("The symbol probe needs tokens of at least two prompts.")
    accuracies = []
    for index in sorted(activations["outputs"]):
        features = torch.from_numpy(activations["outputs"][index])
        features = (features - features[train].mean(dim=0)) / (features[train].std(dim=0) + 1e-6)
        torch.manual_seed(seed)
        probe = torch.nn.Linear(features.shape[1], len(VOCABULARY))
        optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-4)
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(probe(features[train]), labels[train])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracies.append(float((probe(features[~train]).argmax(dim=1) == labels[~train]).float().mean()))
    return accuracies
