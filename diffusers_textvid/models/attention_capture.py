"""Record where a `TextVideoDiTModel`'s attention looks, through forward hooks that leave its output as it is.

The hooks see each attention layer's inputs and recompute its weights with `Attention.probabilities`;
the layer itself still runs its fused kernel, so a forward with a recorder attached returns the same
tensor, bit for bit, as one without. With gradients enabled the recorded weights stay in the graph,
so a training loss can ask them to look where the renderer drew each symbol.
"""

import torch

ATTENTION_KINDS = ("cross", "self")


class AttentionRecorder:
    """`with AttentionRecorder(model, "cross", blocks=[1, 2]) as recorder: model(...)`; then
    `recorder.probabilities[block]` is that block's attention weights `(B, heads, N, L)` of the last
    forward (`L` = N for self-attention). `blocks` None records every block."""

    def __init__(self, model, kind: str = "cross", blocks: list[int] | None = None):
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}.")
        num_layers = len(model.blocks)
        self.blocks = list(range(num_layers)) if blocks is None else list(blocks)
        wrong = [block for block in self.blocks if not 0 <= block < num_layers]
        if wrong:
            raise ValueError(f"blocks {wrong} do not exist: the model has blocks 0 to {num_layers - 1}.")
        self.layers = {
            block: model.blocks[block].cross_attention if kind == "cross" else model.blocks[block].self_attention
            for block in self.blocks
        }
        self.probabilities: dict[int, torch.Tensor] = {}
        self.handles = []

    def __enter__(self) -> "AttentionRecorder":
        for block, layer in self.layers.items():
            self.handles.append(layer.register_forward_hook(self.hook(block), with_kwargs=True))
        return self

    def __exit__(self, *exc_info):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def hook(self, block: int):
        def record(layer, args, kwargs, output):
            self.probabilities[block] = layer.probabilities(*args, **kwargs)

        return record
