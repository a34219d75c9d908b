"""The shipped model folders hold weights, configs, the tokenizer, the card and the scores, and no code:
their `model_index.json` names the installed package, which Diffusers imports."""

import json
import shutil
from pathlib import Path

import pytest
from diffusers import AutoModel

from diffusers_textvid import DEFAULT_MODEL_DIR, LOOKS_MODEL_DIR, TextVideoDiTModel

SHIPPED = [DEFAULT_MODEL_DIR, LOOKS_MODEL_DIR]
EXPECTED_FILES = {"model_index.json", "README.md", "sample.gif", "eval.json", "training_summary.json",
                  "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
                  "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "transformer/config.json",
                  "transformer/diffusion_pytorch_model.safetensors"}


@pytest.mark.parametrize("folder", SHIPPED, ids=["default", "looks"])
def test_a_shipped_folder_holds_no_code_and_names_the_package(folder):
    files = {str(path.relative_to(folder)) for path in Path(folder).rglob("*") if path.is_file()}
    assert files == EXPECTED_FILES
    index = json.loads((Path(folder) / "model_index.json").read_text())
    assert index["_class_name"] == "TextVideoPipeline"
    assert index["transformer"] == ["diffusers_textvid", "TextVideoDiTModel"]
    assert "auto_map" not in json.loads((Path(folder) / "transformer" / "config.json").read_text())


@pytest.mark.parametrize("folder", SHIPPED, ids=["default", "looks"])
def test_auto_model_loads_a_shipped_transformer_by_subfolder(folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "copy")
    model = AutoModel.from_pretrained(str(copy), subfolder="transformer")
    reference = TextVideoDiTModel.from_pretrained(folder, subfolder="transformer")
    assert type(model) is TextVideoDiTModel
    for name, weight in reference.state_dict().items():
        assert weight.equal(model.state_dict()[name]), name
