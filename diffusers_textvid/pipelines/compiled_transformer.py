"""The transformer compiled for sampling: `torch.compile` with Inductor's weight freezing.

Freezing folds the weights into the compiled graph as constants, so Inductor can prepack them for the
CPU's matrix library and fuse each linear layer with its bias and activation: on a 2-core AMD EPYC (Zen 3)
that is what brings a 25-step call near its matrix-product bound (`benchmarks/bench_sampling.py --speed`).
The price of freezing is that a weight changed later (LoRA, `load_state_dict`, an in-place edit) is not
seen by the compiled graph, so `FrozenCompiledTransformer` notes every weight's identity and version at
compile time, and the pipeline runs the eager transformer once they differ.
"""

import warnings

import torch
from torch._inductor import config as inductor_config


def weight_versions(module: torch.nn.Module) -> tuple:
    """`((id, version, data pointer), ...)` of every parameter and buffer: an in-place change bumps a
    tensor's version, a replaced or added tensor (a LoRA layer) changes the ids, and a move (`.to`) or a
    `.data` assignment the storage."""
    tensors = list(module.parameters()) + list(module.buffers())
    return tuple((id(tensor), tensor._version, tensor.data_ptr()) for tensor in tensors)


def has_hooks(module: torch.nn.Module) -> bool:
    """Whether `module` or any of its submodules has a forward hook or pre-hook (capture, offloading):
    those need the eager modules to run."""
    return any(sub._forward_hooks or sub._forward_pre_hooks for sub in module.modules())


class FrozenCompiledTransformer:
    """`transformer` compiled with frozen weights, static shapes (one graph per batch size) and no grad.

    `torch._dynamo.reset()` runs first: Dynamo would otherwise reuse a graph compiled earlier in the process
    from the same code, with the weights it froze then. Graphs compile at the first call of each shape.
    """

    def __init__(self, transformer: torch.nn.Module):
        self.transformer = transformer
        self.weights = weight_versions(transformer)
        self.warned = False
        torch._dynamo.reset()
        self.compiled = torch.compile(transformer, dynamic=False)

    def usable(self) -> bool:
        """Whether the compiled graph still computes what the eager transformer does: same weights, no
        hooks, no grad (freezing is for inference). Warns once when the weights changed."""
        if torch.is_grad_enabled() or has_hooks(self.transformer):
            return False
        if weight_versions(self.transformer) != self.weights:
            if not self.warned:
                warnings.warn(
                    "The transformer's weights changed after `compile_transformer()`: sampling runs the eager "
                    "transformer. Call `compile_transformer()` again to compile with the new weights.",
                    stacklevel=3,
                )
                self.warned = True
            return False
        return True

    def __call__(self, *args, **kwargs):
        with inductor_config.patch(freezing=True):
            return self.compiled(*args, **kwargs)
