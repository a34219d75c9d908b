"""`TextVideoPipeline.compile_transformer`: the same videos as eager, and never stale weights.

One module-scoped pipeline is compiled once (tens of seconds on a CPU); every test then calls it at the
same batch shape, so nothing compiles again.
"""

import warnings

import pytest
import torch

from diffusers_textvid import build_pipeline
from diffusers_textvid.models.attention_capture import AttentionRecorder
from diffusers_textvid.pipelines.compiled_transformer import FrozenCompiledTransformer

from conftest import build_tiny_pipeline

STEPS = 3


def sample(pipe) -> torch.Tensor:
    """`(1, F, C, H, W)` frames of one seeded call."""
    return pipe("HELLO", num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0), output_type="pt").frames


@pytest.fixture(scope="module")
def compiled_pipeline():
    """A perturbed `tiny` pipeline, compiled and called once, with its eager frames from before."""
    pipe = build_tiny_pipeline()
    eager = sample(pipe)
    pipe.compile_transformer()
    sample(pipe)  # compiles
    return pipe, eager


def test_compiled_sampling_matches_eager_and_is_used(compiled_pipeline, monkeypatch):
    pipe, eager = compiled_pipeline
    calls = {"compiled": 0}
    original = FrozenCompiledTransformer.__call__

    def counting(self, *args, **kwargs):
        calls["compiled"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FrozenCompiledTransformer, "__call__", counting)
    frames = sample(pipe)
    assert calls["compiled"] == STEPS
    torch.testing.assert_close(frames, eager, atol=1e-5, rtol=0)


def test_hooks_run_the_eager_transformer(compiled_pipeline, monkeypatch):
    pipe, eager = compiled_pipeline
    used = []
    monkeypatch.setattr(FrozenCompiledTransformer, "__call__", lambda self, *a, **k: used.append(1))
    with AttentionRecorder(pipe.transformer) as recorder:
        frames = sample(pipe)
    assert not used, "a hooked transformer must run eagerly, or the hooks would not fire"
    assert len(recorder.probabilities) == len(pipe.transformer.blocks), "the hooks did not fire"
    torch.testing.assert_close(frames, eager, atol=1e-5, rtol=0)


def test_changed_weights_fall_back_to_eager_with_a_warning():
    pipe = build_tiny_pipeline()
    pipe.compile_transformer()
    with torch.no_grad():
        pipe.transformer.output_layer.projection.weight.mul_(0.5)
    pipe.compiled_transformer.compiled = None  # calling the frozen graph now would be an error, not stale output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = sample(pipe)
    assert any("weights changed after `compile_transformer()`" in str(w.message) for w in caught)
    pipe.compiled_transformer = None
    torch.testing.assert_close(frames, sample(pipe), atol=0, rtol=0)


def test_a_replaced_transformer_is_not_the_compiled_one():
    pipe = build_tiny_pipeline()
    pipe.compile_transformer()
    pipe.compiled_transformer.compiled = None  # would raise if the pipeline called it
    pipe.transformer = build_tiny_pipeline().transformer
    sample(pipe)


@pytest.mark.parametrize("looks", [False, True])
def test_the_transformer_traces_as_one_graph(looks):
    """No graph break: a check that reads a tensor's value (`int(x.max())`) or Python Dynamo cannot trace
    would split the compiled forward into pieces with eager code between them."""
    overrides = {"text_length_positions": 9}
    if looks:
        overrides["length_position_factors"] = ["crossing_frames", "direction"]
    torch.manual_seed(0)
    pipe = build_pipeline("tiny", looks=looks, transformer_overrides=overrides)
    calls = []
    handle = pipe.transformer.register_forward_pre_hook(lambda module, args, kwargs: calls.append((args, kwargs)),
                                                        with_kwargs=True)
    pipe("HELLO", num_inference_steps=1, output_type="pt", look={"direction": "left_to_right"} if looks else None)
    handle.remove()
    args, kwargs = calls[-1]
    explanation = torch._dynamo.explain(pipe.transformer)(*args, **kwargs)
    assert explanation.graph_break_count == 0, [reason.reason for reason in explanation.break_reasons]
