import contextlib
import io
import json
import logging
import os
import re
import shutil

import numpy as np
import pytest
import torch
from diffusers.utils import logging as diffusers_logging
from safetensors.torch import load_file

from diffusers_textvid import TextVideoDiTModel, TextVideoPipeline

from conftest import build_tiny_pipeline, perturb_weights

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def sample(pipe, seed: int = 0) -> np.ndarray:
    return pipe("HI", num_inference_steps=3, generator=torch.Generator().manual_seed(seed)).frames


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A perturbed tiny pipeline, its frames for seed 0, and the folder it was saved to (do not modify)."""
    pipe = build_tiny_pipeline()
    folder = tmp_path_factory.mktemp("saved") / "textvid"
    pipe.save_pretrained(folder)
    return pipe, sample(pipe), folder


@pytest.fixture
def folder_copy(saved, tmp_path):
    """A copy of the saved folder that the test may break."""
    return shutil.copytree(saved[2], tmp_path / "copy")


def load(folder) -> TextVideoPipeline:
    pipe = TextVideoPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_save_writes_safetensors_weights_and_no_pickles(saved):
    folder = saved[2]
    files = [os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names]
    assert not [name for name in files if name.endswith(PICKLE_SUFFIXES)]
    assert os.path.join("transformer", "diffusion_pytorch_model.safetensors") in files
    assert os.path.join("text_encoder", "model.safetensors") in files


def test_save_names_the_package_and_writes_no_code(saved):
    folder = saved[2]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "TextVideoPipeline"
    assert index["transformer"] == ["diffusers_textvid", "TextVideoDiTModel"]
    assert not list(folder.rglob("*.py"))
    assert "auto_map" not in json.loads((folder / "transformer" / "config.json").read_text())


def test_a_self_contained_save_copies_every_module_and_names_the_files(tmp_path):
    build_tiny_pipeline().save_pretrained(tmp_path, self_contained=True)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_textvid", "TextVideoPipeline"]
    assert index["transformer"] == ["modeling_textvid", "TextVideoDiTModel"]
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.py")) == [
        "compiled_transformer.py", "hub.py", "input_checks.py", "lora_loading.py", "noise_schedule.py", "pipeline_textvid.py",
        "transformer/look_evidence.py", "transformer/modeling_textvid.py", "transformer/noise_schedule.py",
        "transformer/scrolling.py"]
    # The copies import each other side by side: no import reaches for the package.
    for path in tmp_path.rglob("*.py"):
        assert not re.search(r"^\s*(from \.\.|from diffusers_textvid|import diffusers_textvid)", path.read_text(),
                             re.MULTILINE), path
    assert_same_weights(load(tmp_path).transformer, TextVideoPipeline.from_pretrained(tmp_path).transformer)


def test_loaded_pipeline_gives_the_same_frames_for_the_same_seed(saved):
    pipe, frames, folder = saved
    loaded = load(folder)
    assert isinstance(loaded, TextVideoPipeline) and isinstance(loaded.transformer, TextVideoDiTModel)
    assert loaded.scheduler.config.prediction_type == pipe.scheduler.config.prediction_type
    # Equal weights, but loaded tensors sit at other memory alignments, so the CPU kernels may round
    # differently in the last bit.
    np.testing.assert_allclose(sample(loaded), frames, rtol=0, atol=1e-6)


def test_load_save_load_again_gives_identical_frames(saved, tmp_path):
    _, frames, folder = saved
    loaded = load(folder)
    loaded.save_pretrained(tmp_path / "again")
    reloaded = load(tmp_path / "again")
    for name in ("transformer", "text_encoder"):
        original, again = getattr(loaded, name).state_dict(), getattr(reloaded, name).state_dict()
        assert original.keys() == again.keys()
        assert all(torch.equal(original[key], again[key]) for key in original), name
    np.testing.assert_array_equal(sample(reloaded), sample(loaded))


def test_components_given_to_from_pretrained_are_used_as_they_are(saved):
    pipe, _, folder = saved
    loaded = TextVideoPipeline.from_pretrained(folder, transformer=pipe.transformer)
    assert loaded.transformer is pipe.transformer


def test_from_pretrained_applies_torch_dtype_to_the_models(saved):
    loaded = TextVideoPipeline.from_pretrained(saved[2], torch_dtype=torch.float64)
    assert loaded.transformer.dtype == loaded.text_encoder.dtype == torch.float64


def loading_error(folder) -> str:
    """The `ValueError` message of loading `folder`, with the folder's path cut out (test names are in it)."""
    with pytest.raises(ValueError) as error:
        TextVideoPipeline.from_pretrained(folder)
    return str(error.value).replace(str(folder), "<folder>")


def test_folder_without_transformer_weights_is_rejected(folder_copy):
    os.remove(folder_copy / "transformer" / "diffusion_pytorch_model.safetensors")
    assert "no weights" in loading_error(folder_copy)


def test_folder_with_pickled_transformer_weights_is_rejected(folder_copy):
    weights = folder_copy / "transformer" / "diffusion_pytorch_model.safetensors"
    torch.save(TextVideoDiTModel.from_pretrained(weights.parent).state_dict(), weights.with_suffix(".bin"))
    os.remove(weights)
    message = loading_error(folder_copy)
    assert "pickle" in message and "diffusion_pytorch_model.bin" in message


def test_folder_without_model_index_is_rejected(folder_copy):
    os.remove(folder_copy / "model_index.json")
    assert "no model_index.json" in loading_error(folder_copy)


def test_empty_folder_is_rejected(tmp_path):
    assert "no model_index.json" in loading_error(tmp_path)




def test_pickled_weights_load_when_use_safetensors_is_false(folder_copy, saved):
    for weights in [folder_copy / "transformer" / "diffusion_pytorch_model.safetensors",
                    folder_copy / "text_encoder" / "model.safetensors"]:
        pickle_name = "pytorch_model.bin" if weights.name == "model.safetensors" else "diffusion_pytorch_model.bin"
        torch.save(load_file(weights), weights.with_name(pickle_name))
        os.remove(weights)
    with pytest.raises(ValueError, match="pickle"):
        TextVideoPipeline.from_pretrained(folder_copy)
    loaded = TextVideoPipeline.from_pretrained(folder_copy, use_safetensors=False)
    assert_same_weights(loaded.transformer, saved[0].transformer)
    assert_same_weights(loaded.text_encoder, saved[0].text_encoder)


# ----------------------------------------------------------------------------------------------
# Stock keywords of DiffusionPipeline.from_pretrained
# ----------------------------------------------------------------------------------------------


def assert_same_weights(model: torch.nn.Module, reference: torch.nn.Module):
    weights, expected = model.state_dict(), reference.state_dict()
    assert weights.keys() == expected.keys()
    for name in weights:
        torch.testing.assert_close(weights[name].float(), expected[name].float(), rtol=0, atol=0, msg=name)


@contextlib.contextmanager
def diffusers_log():
    """Collect what Diffusers logs, down to INFO, within the block."""
    stream, logger = io.StringIO(), diffusers_logging.get_logger("diffusers")
    handler, level = logging.StreamHandler(stream), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_from_pretrained_logs_where_each_component_came_from_and_no_config_warning(saved):
    with diffusers_log() as log:
        TextVideoPipeline.from_pretrained(saved[2])
    for name, class_name in [("tokenizer", ""), ("text_encoder", "CLIPTextModel"),
                             ("transformer", "TextVideoDiTModel"), ("scheduler", "DDPMScheduler")]:
        assert f"Loaded {name} as {class_name}" in log.getvalue()
    assert "not expected" not in log.getvalue()  # e.g. the transformer config's auto_map


def test_dtype_applies_to_every_model_and_a_dict_sets_it_per_component(saved):
    everything = TextVideoPipeline.from_pretrained(saved[2], dtype=torch.float64)
    assert everything.transformer.dtype == everything.text_encoder.dtype == torch.float64
    per_component = TextVideoPipeline.from_pretrained(
        saved[2], dtype={"transformer": torch.float64, "default": torch.bfloat16}
    )
    assert per_component.transformer.dtype == torch.float64 and per_component.text_encoder.dtype == torch.bfloat16


@pytest.mark.parametrize("keywords", [{"low_cpu_mem_usage": False}, {"device_map": "cpu"}, {"use_safetensors": True}],
                         ids=["low_cpu_mem_usage", "device_map", "use_safetensors"])
def test_stock_loading_keywords_load_the_saved_weights(saved, keywords):
    pipe, _, folder = saved
    loaded = TextVideoPipeline.from_pretrained(folder, **keywords)
    assert_same_weights(loaded.transformer, pipe.transformer)
    assert_same_weights(loaded.text_encoder, pipe.text_encoder)


@pytest.fixture(scope="module")
def half_precision_folder(tmp_path_factory):
    """The tiny pipeline cast to float16 and saved plainly, as the shipped model is."""
    pipe = build_tiny_pipeline().to(torch.float16)
    folder = tmp_path_factory.mktemp("half") / "textvid"
    pipe.save_pretrained(folder)
    return pipe, folder


def test_without_a_dtype_every_model_loads_as_float32_from_half_precision_weights(half_precision_folder):
    pipe, folder = half_precision_folder
    loaded = TextVideoPipeline.from_pretrained(folder)
    assert loaded.transformer.dtype == loaded.text_encoder.dtype == torch.float32
    assert_same_weights(loaded.transformer, pipe.transformer)
    # The stock loader reads the text encoder's dtype from its config (see test_model_folder_without_package.py).
    assert json.loads((folder / "text_encoder" / "config.json").read_text())["dtype"] == "float32"


def test_a_variant_saved_with_save_pretrained_loads_back_with_the_same_variant(tmp_path):
    pipe = build_tiny_pipeline().to(torch.float16)
    pipe.save_pretrained(tmp_path, variant="fp16")
    assert sorted(os.listdir(tmp_path / "transformer")) == ["config.json", "diffusion_pytorch_model.fp16.safetensors"]
    assert "model.fp16.safetensors" in os.listdir(tmp_path / "text_encoder")

    loaded = TextVideoPipeline.from_pretrained(tmp_path, variant="fp16", dtype=torch.float16)
    assert loaded.transformer.dtype == loaded.text_encoder.dtype == torch.float16
    assert_same_weights(loaded.transformer, pipe.transformer)
    assert_same_weights(loaded.text_encoder, pipe.text_encoder)
    with pytest.raises(ValueError, match="variant=bf16"):
        TextVideoPipeline.from_pretrained(tmp_path, variant="bf16")


def test_a_hub_repo_id_loads_from_the_cache_at_the_revision_asked_for(saved, tmp_path):
    """A Hub cache laid out by hand: refs/main names the second of two snapshots."""
    pipe, _, folder = saved
    other = build_tiny_pipeline()
    perturb_weights(other.transformer, seed=1)
    repo = tmp_path / "cache" / "models--user--textvid"
    first, second = "1" * 40, "2" * 40
    shutil.copytree(folder, repo / "snapshots" / first)
    other.save_pretrained(repo / "snapshots" / second)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(second)
    hub_keywords = {"cache_dir": tmp_path / "cache", "local_files_only": True, "token": "hf_unused"}

    at_main = TextVideoPipeline.from_pretrained("user/textvid", **hub_keywords)
    at_first = TextVideoPipeline.from_pretrained("user/textvid", revision=first, **hub_keywords)
    assert_same_weights(at_main.transformer, other.transformer)
    assert_same_weights(at_first.transformer, pipe.transformer)
    assert at_main.name_or_path == "user/textvid"


def test_save_after_torch_compile_names_the_model_class_not_the_compiled_wrapper(saved, tmp_path):
    pipe = build_tiny_pipeline()
    pipe.transformer = torch.compile(pipe.transformer)
    pipe.save_pretrained(tmp_path / "plain")
    pipe.save_pretrained(tmp_path / "with_code", self_contained=True)
    assert json.loads((tmp_path / "plain" / "model_index.json").read_text())["transformer"] == [
        "diffusers_textvid", "TextVideoDiTModel"]
    assert json.loads((tmp_path / "with_code" / "model_index.json").read_text())["transformer"] == [
        "modeling_textvid", "TextVideoDiTModel"]
    assert sorted(path.name for path in (tmp_path / "with_code" / "transformer").glob("*.py")) == [
        "look_evidence.py", "modeling_textvid.py", "noise_schedule.py", "scrolling.py"]
    for folder in ("plain", "with_code"):
        assert_same_weights(load(tmp_path / folder).transformer, saved[0].transformer)


def test_auto_model_loads_the_transformer_of_a_self_contained_folder_through_its_auto_map(saved, tmp_path):
    from diffusers import AutoModel

    saved[0].save_pretrained(tmp_path, self_contained=True)
    model = AutoModel.from_pretrained(str(tmp_path / "transformer"), trust_remote_code=True)
    assert type(model).__name__ == "TextVideoDiTModel"
    assert_same_weights(model, saved[0].transformer)


def test_auto_model_loads_the_transformer_by_subfolder_once_the_package_is_imported(saved):
    from diffusers import AutoModel

    model = AutoModel.from_pretrained(str(saved[2]), subfolder="transformer")
    assert type(model) is TextVideoDiTModel
    assert_same_weights(model, saved[0].transformer)
