"""Weights across processes: whole tensors from FSDP shards, the EMA swapped in, and a checksum that
data-parallel processes must agree on."""

import hashlib
from contextlib import contextmanager

import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` whole: a DTensor shard (FSDP) is gathered, which every process must do together."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def placed_like(full: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """`full` on `parameter`'s device, cut into the same shard when `parameter` is a DTensor (FSDP)."""
    if hasattr(parameter, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(parameter.device), parameter.device_mesh, parameter.placements)
    return full.to(parameter.device)


@contextmanager
def ema_weights(ema: EMAModel | None, parameters: list[torch.nn.Parameter]):
    """The EMA weights in `parameters` inside the block, the training weights back after it.
    Works on FSDP shards too, each process swapping its own."""
    if ema is None:
        yield
        return
    with torch.no_grad():
        training = [parameter.detach().clone() for parameter in parameters]
        for parameter, shadow in zip(parameters, ema.shadow_params, strict=True):
            parameter.copy_(shadow)
    try:
        yield
    finally:
        with torch.no_grad():
            for parameter, saved in zip(parameters, training):
                parameter.copy_(saved)


@torch.no_grad()
def gather_weights(accelerator: Accelerator, model, ema: EMAModel | None, into: torch.nn.Module | None):
    """Load the whole weights of the prepared `model` (its EMA average with `ema`) into `into`, the plain
    copy the main process validates and saves. Every process must call it: gathering shards is collective."""
    with ema_weights(ema, list(model.parameters())):
        state = accelerator.get_state_dict(model)  # with FSDP, whole on the main process only
        if into is not None:
            into.load_state_dict(state)


def parameter_checksum(parameters) -> str:
    """A short hash of the whole parameter values: data-parallel processes must agree on it."""
    digest = hashlib.sha256()
    for parameter in parameters:
        digest.update(full_tensor(parameter.detach()).float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
