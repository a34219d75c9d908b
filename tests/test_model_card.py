import json

import pytest

from diffusers_textvid.model_card import METRICS_FILE, SUMMARY_FILE, write_model_card

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


def test_folder_without_training_summary_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=SUMMARY_FILE):
        write_model_card(str(tmp_path))
