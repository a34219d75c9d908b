"""LoRA through PEFT: the transformer's adapter methods and the pipeline's one-call loader."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from conftest import build_tiny_pipeline
from diffusers_textvid import TextVideoPipeline

peft = pytest.importorskip("peft")
from peft.utils import get_peft_model_state_dict  # noqa: E402

TARGETS = ["self_attention.to_q", "mlp.0", "patch_embedding"]


def frames(pipe) -> np.ndarray:
    return pipe("AB", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np").frames


def add_random_lora(pipe, name: str = "default", seed: int = 1):
    """A LoRA whose up-projections are random, so it visibly changes the output (a fresh one is the identity)."""
    pipe.transformer.add_adapter(peft.LoraConfig(r=2, lora_alpha=2, target_modules=TARGETS), adapter_name=name)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter_name, parameter in pipe.transformer.named_parameters():
            if f"lora_B.{name}" in parameter_name:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))


@pytest.fixture
def adapted():
    """`(base frames, adapted pipeline, adapted frames)`."""
    pipe = build_tiny_pipeline()
    base = frames(pipe)
    add_random_lora(pipe)
    return base, pipe, frames(pipe)


def save_pipeline_lora(pipe, folder, name: str = "default"):
    TextVideoPipeline.save_lora_weights(
        folder, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer, adapter_name=name),
        transformer_lora_adapter_metadata=pipe.transformer.peft_config[name].to_dict(),
    )


def test_a_fresh_adapter_changes_nothing_and_a_trained_one_changes_the_video():
    pipe = build_tiny_pipeline()
    base = frames(pipe)
    pipe.transformer.add_adapter(peft.LoraConfig(r=2, target_modules=TARGETS))
    np.testing.assert_allclose(frames(pipe), base, atol=1e-6)  # lora_B starts at zero
    add_random_lora(pipe, "random")
    pipe.transformer.set_adapters("random")
    assert np.abs(frames(pipe) - base).max() > 0.01


def test_only_the_lora_layers_train_after_freezing_the_base():
    pipe = build_tiny_pipeline()
    pipe.transformer.requires_grad_(False)
    pipe.transformer.add_adapter(peft.LoraConfig(r=2, target_modules=TARGETS))
    trainable = [name for name, parameter in pipe.transformer.named_parameters() if parameter.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)


def test_pipeline_file_round_trip_loads_in_one_call(adapted, tmp_path):
    base, pipe, expected = adapted
    save_pipeline_lora(pipe, tmp_path)
    path = tmp_path / "pytorch_lora_weights.safetensors"
    with safe_open(str(path), framework="pt") as file:
        assert all(key.startswith("transformer.") and ".lora_" in key for key in file.keys())
        assert json.loads(file.metadata()["lora_adapter_metadata"])["transformer.r"] == 2
    fresh = build_tiny_pipeline()
    fresh.load_lora_weights(str(tmp_path), adapter_name="mine")
    assert fresh.get_active_adapters() == ["mine"]
    np.testing.assert_allclose(frames(fresh), expected, atol=1e-6)


def test_file_path_and_state_dict_load_too(adapted, tmp_path):
    _, pipe, expected = adapted
    save_pipeline_lora(pipe, tmp_path)
    path = tmp_path / "pytorch_lora_weights.safetensors"
    by_file = build_tiny_pipeline()
    by_file.load_lora_weights(str(path))
    np.testing.assert_allclose(frames(by_file), expected, atol=1e-6)
    state_dict, metadata = TextVideoPipeline.lora_state_dict(str(path), return_lora_metadata=True)
    by_dict = build_tiny_pipeline()
    by_dict.load_lora_weights(state_dict, metadata=metadata)
    np.testing.assert_allclose(frames(by_dict), expected, atol=1e-6)


def test_transformer_save_lora_adapter_file_loads_into_a_pipeline(adapted, tmp_path):
    _, pipe, expected = adapted
    pipe.transformer.save_lora_adapter(str(tmp_path))  # keys without the "transformer." prefix
    fresh = build_tiny_pipeline()
    fresh.transformer.load_lora_adapter(str(tmp_path), prefix=None, adapter_name="direct",
                                        weight_name="pytorch_lora_weights.safetensors")
    np.testing.assert_allclose(frames(fresh), expected, atol=1e-6)
    again = build_tiny_pipeline()
    again.load_lora_weights(str(tmp_path))
    np.testing.assert_allclose(frames(again), expected, atol=1e-6)


def test_adapter_weight_zero_is_the_base_model_and_fuse_matches_unfused(adapted, tmp_path):
    base, pipe, expected = adapted
    save_pipeline_lora(pipe, tmp_path)
    fresh = build_tiny_pipeline()
    fresh.load_lora_weights(str(tmp_path), adapter_name="look")
    fresh.set_adapters("look", 0.0)
    np.testing.assert_allclose(frames(fresh), base, atol=1e-5)
    fresh.set_adapters("look", 1.0)
    fresh.fuse_lora()
    np.testing.assert_allclose(frames(fresh), expected, atol=1e-5)
    fresh.unfuse_lora()
    fresh.unload_lora_weights()
    np.testing.assert_allclose(frames(fresh), base, atol=1e-5)


def test_two_adapters_can_be_mixed_by_name(tmp_path):
    pipe = build_tiny_pipeline()
    add_random_lora(pipe, "first", seed=1)
    add_random_lora(pipe, "second", seed=2)
    pipe.transformer.set_adapters(["first", "second"], [1.0, 0.0])
    only_first = frames(pipe)
    pipe.transformer.set_adapters("first")
    np.testing.assert_allclose(frames(pipe), only_first, atol=1e-5)
    pipe.transformer.set_adapters("second")
    assert np.abs(frames(pipe) - only_first).max() > 0.01


def test_folder_without_the_file_names_what_it_holds(tmp_path):
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="pytorch_lora_weights.safetensors.*other.safetensors"):
        build_tiny_pipeline().load_lora_weights(str(tmp_path))


def test_weights_without_lora_layers_are_refused():
    with pytest.raises(ValueError, match="no LoRA"):
        build_tiny_pipeline().load_lora_weights({"transformer.blocks.0.mlp.0.weight": torch.zeros(2, 2)})
