import pytest
import torch

from conftest import build_tiny_transformer
from diffusers_textvid.models.attention_capture import AttentionRecorder


def model_inputs(transformer, batch: int = 2):
    generator = torch.Generator().manual_seed(1)
    video = torch.randn(batch, 1, 16, 32, 32, generator=generator)
    text = torch.randn(batch, 5, transformer.config.text_embed_dim, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])[:batch]
    return video, torch.tensor([10, 900])[:batch], text, mask


@pytest.mark.parametrize("kind", ["cross", "self"])
def test_recording_leaves_the_output_bit_for_bit(kind):
    transformer = build_tiny_transformer()
    inputs = model_inputs(transformer)
    plain = transformer(*inputs).sample
    with AttentionRecorder(transformer, kind) as recorder:
        recorded = transformer(*inputs).sample
    assert torch.equal(plain, recorded)
    assert sorted(recorder.probabilities) == [0, 1]
    assert not transformer.blocks[0].cross_attention._forward_hooks  # removed on exit


def test_recorded_cross_attention_is_what_the_layer_applies():
    transformer = build_tiny_transformer()
    video, timesteps, text, mask = model_inputs(transformer)
    seen = {}
    layer = transformer.blocks[1].cross_attention
    handle = layer.register_forward_hook(lambda module, args, output: seen.update(args=args, output=output))
    with AttentionRecorder(transformer, "cross", blocks=[1]) as recorder:
        transformer(video, timesteps, text, mask)
    handle.remove()
    weights = recorder.probabilities[1]  # (B, heads, N, L)
    assert weights.shape == (2, transformer.config.num_attention_heads, 64, 5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))
    assert (weights[0, :, :, 3:] == 0).all()  # padding of the first prompt is never read
    # Applying the recorded weights to the layer's values by hand gives the layer's own output.
    x, context, _ = seen["args"]
    _, _, values = layer.heads(x, context)
    mixed = (weights @ values).transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(layer.to_out(mixed), seen["output"], rtol=1e-5, atol=1e-6)


def test_recorder_names_blocks_the_model_lacks():
    with pytest.raises(ValueError, match="blocks 0 to 1"):
        AttentionRecorder(build_tiny_transformer(), "cross", blocks=[2])
    with pytest.raises(ValueError, match="kind"):
        AttentionRecorder(build_tiny_transformer(), "joint")


def test_recorded_weights_carry_gradients_back_to_the_queries():
    transformer = build_tiny_transformer()
    with AttentionRecorder(transformer, "cross", blocks=[0]) as recorder:
        transformer(*model_inputs(transformer))
    recorder.probabilities[0][..., 0].sum().backward()
    assert transformer.blocks[0].cross_attention.to_q.weight.grad.abs().sum() > 0
