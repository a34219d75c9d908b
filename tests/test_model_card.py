import json
import os
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from PIL import Image

from conftest import build_tiny_pipeline
from diffusers_textvid import DEFAULT_MODEL_DIR
from diffusers_textvid.model_card import (
    LORA_SUMMARY_FILE,
    LORA_TEMPLATE,
    METRICS_FILE,
    SAMPLE_FILE,
    SUMMARY_FILE,
    TEMPLATE,
    write_lora_model_card,
    write_model_card,
    write_sample_gif,
)

SUMMARY = {
    "training_command": "accelerate launch training/train_textvid.py --model_preset tiny --max_train_steps 7",
    "model_preset": "tiny",
    "prediction_type": "v_prediction",
    "train_steps": 7,
    "samples_seen": 56,
}


def test_card_carries_the_training_summary_and_says_when_not_evaluated(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    text = open(write_model_card(str(tmp_path))).read()
    assert SUMMARY["training_command"] in text
    assert "Steps: 7; samples seen: 56." in text
    assert 'prediction_type = "v_prediction"' in text
    assert "Not evaluated yet" in text
    assert text.startswith("---\n") and "library_name: diffusers" in text


def test_card_lists_every_metrics_row_as_percentages(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    rows = [
        {"set": "validation", "scheduler": "ddim", "steps": 25, "num_prompts": 200, "char_accuracy": 0.9876,
         "prompt_accuracy": 0.9, "psnr_db": 21.34, "seconds_per_video": 0.0456},
        {"set": "AS", "scheduler": "dpm", "steps": 8, "num_prompts": 1, "char_accuracy": 0.5,
         "prompt_accuracy": 0.0, "psnr_db": 12.0, "seconds_per_video": 0.02},
    ]
    (tmp_path / METRICS_FILE).write_text(json.dumps({"command": "python training/export_model.py --x", "rows": rows}))
    text = open(write_model_card(str(tmp_path))).read()
    assert "python training/export_model.py --x" in text
    assert "| validation | ddim | 25 | 200 | 98.8% | 90.0% | 21.3 | 0.046 |" in text
    assert "| AS | dpm | 8 | 1 | 50.0% | 0.0% | 12.0 | 0.020 |" in text
    assert "Not evaluated yet" not in text


def test_card_of_a_model_with_looks_lists_them_and_scores_control_and_coverage(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    (tmp_path / "transformer").mkdir()
    looks = {"direction": ["right_to_left", "left_to_right"], "weight": ["bold", "light"]}
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({"looks": looks}))
    row = {"set": "validation", "scheduler": "ddim", "steps": 25, "num_prompts": 100, "control_accuracy": 0.985,
           "char_accuracy": 0.9912, "prompt_accuracy": 0.97, "coverage_tv_max": 0.0734, "psnr_db": 20.46,
           "seconds_per_video": 0.21}
    (tmp_path / METRICS_FILE).write_text(json.dumps({"command": "python training/export_model.py --y", "rows": [row]}))
    text = open(write_model_card(str(tmp_path))).read()
    assert "| validation | ddim | 25 | 100 | 98.5% | 99.1% | 97.0% | 0.073 | 20.5 | 0.210 |" in text
    assert "- `direction`: right_to_left, left_to_right" in text and "- `weight`: bold, light" in text
    assert 'look={"direction": "left_to_right"' in text and "right to left in Comic Neue Bold" not in text


def test_card_of_a_model_without_looks_describes_the_one_look(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    text = open(write_model_card(str(tmp_path))).read()
    assert "right to left in Comic Neue Bold" in text and "look=" not in text


def test_folder_without_training_summary_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=SUMMARY_FILE):
        write_model_card(str(tmp_path))


def test_templates_are_package_data_that_the_repo_root_links_to():
    repo = Path(__file__).resolve().parent.parent
    for template in [TEMPLATE, LORA_TEMPLATE]:
        assert template.resolve() == repo / "diffusers_textvid" / "model_cards" / template.name  # in the wheel
        top_level = repo / template.name
        assert top_level.is_symlink() and top_level.resolve() == template.resolve()  # one copy, seen at the top


# ----------------------------------------------------------------------------------------------
# What the Hub reads: metadata, the sample video, the LoRA card's base model
# ----------------------------------------------------------------------------------------------


def hub_fields(path) -> dict:
    data = ModelCard.load(path).data
    return {"pipeline_tag": data.pipeline_tag, "library_name": data.library_name, "license": data.license,
            "tags": data.tags, "base_model": data.base_model}


def test_card_metadata_lists_the_model_under_text_to_video(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    fields = hub_fields(write_model_card(str(tmp_path)))
    assert fields["pipeline_tag"] == "text-to-video"
    assert fields["library_name"] == "diffusers" and fields["license"] == "apache-2.0"
    assert {"text-to-video", "diffusers-textvid"} <= set(fields["tags"])
    assert fields["base_model"] is None  # trained from scratch


def test_card_shows_the_sample_gif_only_when_the_folder_has_one(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    assert SAMPLE_FILE not in open(write_model_card(str(tmp_path))).read()
    pipe = build_tiny_pipeline()
    write_sample_gif(pipe, str(tmp_path), num_inference_steps=2)
    with Image.open(tmp_path / SAMPLE_FILE) as gif:
        assert gif.n_frames == 16 and gif.size == (32, 32)
    assert f"]({SAMPLE_FILE})" in open(write_model_card(str(tmp_path))).read()


def test_shipped_card_is_a_text_to_video_card_with_its_sample():
    fields = hub_fields(os.path.join(DEFAULT_MODEL_DIR, "README.md"))
    assert fields["pipeline_tag"] == "text-to-video" and fields["library_name"] == "diffusers"
    assert fields["license"] == "apache-2.0" and "text-to-video" in fields["tags"]
    card_text = ModelCard.load(os.path.join(DEFAULT_MODEL_DIR, "README.md")).text
    assert f"]({SAMPLE_FILE})" in card_text
    with Image.open(os.path.join(DEFAULT_MODEL_DIR, SAMPLE_FILE)) as gif:
        assert gif.n_frames == 16 and gif.size == (32, 32)


LORA_SUMMARY = {
    "training_command": "accelerate launch training/train_textvid_lora.py --look direction=left_to_right",
    "look": {"direction": "left_to_right", "crossing_frames": 15, "vertical_offset": 0, "weight": "bold"},
    "rank": 8, "target_modules": ["mlp.0"], "train_steps": 300, "samples_seen": 4800,
    "training_cpu_minutes": 4.25, "training_wall_minutes": 9.5, "adapter_bytes": 655000,
    "evaluation": {"scheduler": "ddim", "steps": 25, "num_prompts": 100, "look_accuracy": 0.97,
                   "char_accuracy": 0.995, "prompt_accuracy": 0.98, "psnr_db": 19.04},
}


@pytest.mark.parametrize("base, expected", [("user/textvid-small", "user/textvid-small"), ("LOCAL", None)])
def test_lora_card_names_a_hub_base_model_and_its_scores(tmp_path, base, expected):
    base = str(tmp_path) if base == "LOCAL" else base
    (tmp_path / LORA_SUMMARY_FILE).write_text(json.dumps(LORA_SUMMARY | {"base_model": base}))
    (tmp_path / "validation" / "step-300").mkdir(parents=True)
    (tmp_path / "validation" / "step-300" / "HELLO.gif").write_bytes(b"GIF89a")
    (tmp_path / "validation" / "step-20").mkdir()
    (tmp_path / "validation" / "step-20" / "HELLO.gif").write_bytes(b"GIF89a")
    path = write_lora_model_card(str(tmp_path))
    fields = hub_fields(path)
    assert fields["base_model"] == expected
    assert fields["pipeline_tag"] == "text-to-video" and "lora" in fields["tags"]
    text = open(path).read()
    assert "](validation/step-300/HELLO.gif)" in text and "step-20" not in text  # the last validation only
    assert "| 97.0% | 99.5% | 98.0% | 19.0 |" in text
    assert "4.2 CPU-minutes" in text and "655000 bytes" in text
