"""What the learned tables hold: the video and text position embeddings, the timestep embedding, and how
the timestep steers each block through its adaLN modulation."""

import numpy as np
import torch
import torch.nn.functional as F


def cosine_matrix(vectors: torch.Tensor) -> np.ndarray:
    """`(M, D)` -> float32 `(M, M)` cosine similarity of every pair."""
    unit = F.normalize(vectors.float(), dim=1)
    return (unit @ unit.T).cpu().numpy()


def similarity_by_frame_distance(similarity: np.ndarray, grid: tuple[int, int, int]) -> list[float]:
    """Mean similarity of token pairs `(N, N)` (tokens in (frame, row, column) order of `grid`) that lie the
    same row and column apart in space and 0, 1, ... frames - 1 frames apart in time."""
    frames, rows, columns = grid
    table = similarity.reshape(frames, rows * columns, frames, rows * columns)
    same_place = np.einsum("fpgp->fgp", table).mean(axis=2)  # (F', F'): same row and column, frames f and g
    return [float(np.mean(np.diagonal(same_place, offset=distance))) for distance in range(frames)]


@torch.no_grad()
def video_position_similarity(transformer, text_tokens: int | None = None) -> dict:
    """Cosine similarity of the video position embeddings (the shared frame + row + column tables, plus the
    table of texts of `text_tokens` attended tokens, symbols and `[END]`, for a model with a position
    table per text length).

    Returns `grid` (frames, rows, columns of tokens), `all_to_all` `(N, N)` and `by_frame_distance`
    (`similarity_by_frame_distance`, one mean per distance 0 .. frames - 1)."""
    config = transformer.config
    grid = tuple(size // patch for size, patch in zip(
        (config.sample_frames, config.sample_size, config.sample_size), config.patch_size))
    table = transformer.position_embedding(*grid)  # (N, D)
    if text_tokens is not None and transformer.length_position is not None:
        table = table + transformer.length_position[text_tokens].reshape(table.shape)
    similarity = cosine_matrix(table)
    return {"grid": grid, "all_to_all": similarity, "by_frame_distance": similarity_by_frame_distance(similarity, grid)}


@torch.no_grad()
def text_position_similarity(text_encoder) -> np.ndarray:
    """float32 `(L, L)`: cosine similarity of the text encoder's learned position embeddings."""
    tables = [p for name, p in text_encoder.named_parameters() if name.endswith("position_embedding.weight")]
    if len(tables) != 1:
        raise ValueError(f"Expected one learned position table in the text encoder, found {len(tables)}.")
    return cosine_matrix(tables[0])


@torch.no_grad()
def timestep_response(transformer, pooled_text: torch.Tensor, timesteps: np.ndarray) -> dict:
    """How the timestep enters the network, at each of `timesteps` (ints 0-999).

    `pooled_text` `(D,)` is the prompt's share of the conditioning (the model adds its mean projected text).
    Returns `timesteps`; `embedding_similarity` `(T, T)`, the cosine similarity of the timestep embeddings
    (the MLP's output); and per block and t the mean magnitude of each adaLN output the block multiplies
    by (`gate_self`, `gate_mlp`: how much each branch adds; `scale_self`, `scale_mlp`: how much it rescales
    its input), each `(num_layers, T)`."""
    steps = torch.as_tensor(timesteps, device=transformer.device)
    features = transformer.timestep_features(steps).to(transformer.dtype)
    embeddings = transformer.timestep_embedding(features)  # (T, D)
    conditioning = embeddings + pooled_text.to(embeddings)[None]
    magnitudes = {name: [] for name in ("scale_self", "gate_self", "scale_mlp", "gate_mlp")}
    for block in transformer.blocks:
        _, scale_sa, gate_sa, _, scale_mlp, gate_mlp = block.modulation(conditioning).chunk(6, dim=1)
        for name, values in zip(magnitudes, (scale_sa, gate_sa, scale_mlp, gate_mlp)):
            magnitudes[name].append(values.abs().mean(dim=1).float().cpu().numpy())
    return {
        "timesteps": np.asarray(timesteps),
        "embedding_similarity": cosine_matrix(embeddings),
        **{name: np.stack(rows) for name, rows in magnitudes.items()},
    }


@torch.no_grad()
def pooled_prompt_text(pipe, prompt: str) -> torch.Tensor:
    """`(D,)`: the mean of the prompt's projected text tokens, the text's part of the adaLN conditioning."""
    text, mask = pipe.encode_text([prompt], pipe.transformer.device)
    projected = pipe.transformer.text_projection(text.to(pipe.transformer.dtype))[0]  # (L, D)
    return projected[mask[0].bool()].mean(dim=0)
