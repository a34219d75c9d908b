import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from diffusers_textvid import TextVideoDiTModel, TextVideoPipeline

from conftest import build_tiny_pipeline

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


def test_save_names_the_module_files_it_copies_into_the_folder(saved):
    folder = saved[2]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_textvid", "TextVideoPipeline"]
    assert index["transformer"] == ["modeling_textvid", "TextVideoDiTModel"]
    assert (folder / "pipeline_textvid.py").is_file()
    assert (folder / "transformer" / "modeling_textvid.py").is_file()


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


# Run in a fresh interpreter where `diffusers_textvid` cannot be imported, as for a user who only
# downloaded the model folder.
CHILD_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "diffusers_textvid":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, BlockPackage())
    try:
        import diffusers_textvid
    except ImportError:
        pass
    else:
        sys.exit("diffusers_textvid is importable in the child")

    import numpy, torch
    from diffusers import DiffusionPipeline

    torch.set_num_threads(1)
    folder, output = sys.argv[1], sys.argv[2]
    pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)
    pipe.set_progress_bar_config(disable=True)
    frames = pipe("HI", num_inference_steps=3, generator=torch.Generator().manual_seed(0)).frames
    numpy.save(output, frames)
    print(json.dumps({
        "pipeline": [type(pipe).__module__, type(pipe).__name__],
        "transformer": [type(pipe.transformer).__module__, type(pipe.transformer).__name__],
        "loaded": sorted(name for name in sys.modules if name.split(".")[0] == "diffusers_textvid"),
    }))
    """
)


def test_folder_loads_and_samples_the_same_without_the_package(saved, tmp_path):
    _, frames, folder = saved
    output = tmp_path / "frames.npy"
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "HF_"))}
    environment |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, str(folder), str(output)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pipeline"][1] == "TextVideoPipeline" and report["transformer"][1] == "TextVideoDiTModel"
    assert not report["pipeline"][0].startswith("diffusers_textvid")
    assert not report["transformer"][0].startswith("diffusers_textvid")
    assert report["loaded"] == []
    np.testing.assert_allclose(np.load(output), frames, rtol=0, atol=1e-6)
