"""training/train_textvid_lora.py end to end on a tiny base model: a few steps, in seconds."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from launching import REPO_ROOT, training_env
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from diffusers_textvid import TextVideoPipeline, build_pipeline
from diffusers_textvid.training.lora import save_adapter
from diffusers_textvid.data import LOOK_FACTORS

pytest.importorskip("peft")

SCRIPT = REPO_ROOT / "training" / "train_textvid_lora.py"
ADAPTER = "pytorch_lora_weights.safetensors"


def run_lora_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=600,
                          env=training_env(), cwd=REPO_ROOT)


def sample(pipe) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    return pipe("AB", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np").frames


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    """A tiny pipeline whose transformer carries seeded noise: an untrained one predicts zeros whatever its LoRA."""
    folder = tmp_path_factory.mktemp("tiny_base")
    torch.manual_seed(0)
    pipe = build_pipeline("tiny")
    with torch.no_grad():
        for parameter in pipe.transformer.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lora_run(base_model, tmp_path_factory) -> tuple[Path, str]:
    output_dir = tmp_path_factory.mktemp("lora")
    completed = run_lora_script(
        "--pretrained_model_name_or_path", str(base_model), "--output_dir", str(output_dir),
        "--look", "direction=left_to_right", "--rank", "2", "--max_train_steps", "3", "--train_batch_size", "2",
        "--learning_rate", "1e-2", "--lr_warmup_steps", "0", "--validation_steps", "3",
        "--validation_inference_steps", "2", "--num_eval_prompts", "2", "--logging_steps", "1",
        "--report_to", "tensorboard", "--own_estimate_share", "0.5", "--own_estimate_band", "0", "1000",
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    return output_dir, completed.stderr + completed.stdout


@pytest.mark.slow
def test_the_adapter_is_a_small_safetensors_file_that_loads_and_changes_the_video(lora_run, base_model):
    output_dir, _ = lora_run
    adapter = output_dir / ADAPTER
    assert adapter.is_file() and adapter.stat().st_size < 1_000_000
    base = TextVideoPipeline.from_pretrained(base_model)
    before = sample(base)
    base.load_lora_weights(str(output_dir), adapter_name="new_look")
    assert base.get_active_adapters() == ["new_look"]
    assert np.abs(sample(base) - before).max() > 1e-4
    base.set_adapters("new_look", 0.0)
    np.testing.assert_allclose(sample(base), before, atol=1e-5)


def test_an_fp16_adapter_holds_half_the_weight_bytes_and_draws_the_same_video(lora_run, base_model, tmp_path):
    output_dir, _ = lora_run
    pipe = TextVideoPipeline.from_pretrained(base_model)
    pipe.load_lora_weights(str(output_dir), adapter_name="default")
    full = sample(pipe)
    save_adapter(pipe, str(tmp_path), torch.float16)
    half, full_weights = load_file(tmp_path / ADAPTER), load_file(output_dir / ADAPTER)
    assert half.keys() == full_weights.keys() and {tensor.dtype for tensor in half.values()} == {torch.float16}
    weight_bytes = lambda weights: sum(tensor.numel() * tensor.element_size() for tensor in weights.values())
    assert 2 * weight_bytes(half) == weight_bytes(full_weights)
    reloaded = TextVideoPipeline.from_pretrained(base_model)
    reloaded.load_lora_weights(str(tmp_path))
    assert {parameter.dtype for parameter in reloaded.transformer.parameters()} == {torch.float32}
    np.testing.assert_allclose(sample(reloaded), full, atol=1e-2)


@pytest.mark.slow
def test_the_summary_records_the_budget_size_and_the_new_look_scores(lora_run):
    output_dir, _ = lora_run
    summary = json.loads((output_dir / "lora_summary.json").read_text())
    assert summary["look"]["direction"] == "left_to_right"
    assert summary["train_steps"] == 3 and summary["samples_seen"] == 6
    assert 0 < summary["training_cpu_minutes"] < 5
    assert summary["adapter_bytes"] == (output_dir / ADAPTER).stat().st_size
    evaluation = summary["evaluation"]
    assert evaluation["num_prompts"] == 2
    assert {"look_accuracy", "char_accuracy", "psnr_db"} <= set(evaluation)


@pytest.mark.slow
def test_the_adapter_card_is_a_text_to_video_lora_card_with_samples(lora_run):
    output_dir, _ = lora_run
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.pipeline_tag == "text-to-video"
    assert card.data.library_name == "diffusers" and card.data.license == "apache-2.0"
    assert "lora" in card.data.tags and "text-to-video" in card.data.tags
    assert card.data.base_model is None  # a local folder is no Hub repo id
    gifs = sorted(path.relative_to(output_dir).as_posix() for path in output_dir.glob("validation/step-3/*.gif"))
    assert len(gifs) == 4 and all(f"]({gif})" in card.text for gif in gifs)


@pytest.mark.slow
def test_validation_videos_reach_tensorboard_as_animated_gifs(lora_run):
    output_dir, _ = lora_run
    events = EventAccumulator(str(next((output_dir / "logs").rglob("events.out.tfevents.*")).parent))
    events.Reload()
    assert {"validation/HELLO", "validation/AS"} <= set(events.Tags()["images"])
    image = events.Images("validation/HELLO")[-1]
    assert image.step == 3 and image.encoded_image_string.startswith(b"GIF89a")


def test_an_unknown_look_stops_at_once_naming_the_factors(tmp_path):
    completed = run_lora_script("--output_dir", str(tmp_path), "--look", "direction=upwards")
    assert completed.returncode == 2
    assert "direction is one of " + ", ".join(LOOK_FACTORS["direction"]) in completed.stderr
    assert not (tmp_path / ADAPTER).exists()


def test_a_missing_tracker_package_stops_at_once(tmp_path):
    completed = run_lora_script("--output_dir", str(tmp_path), "--report_to", "definitely_not_a_tracker")
    assert completed.returncode == 2 and "unknown tracker" in completed.stderr


def test_bad_own_estimate_settings_stop_at_once(tmp_path):
    completed = run_lora_script("--output_dir", str(tmp_path), "--own_estimate_share", "0.5",
                                "--own_estimate_band", "300", "100")
    assert completed.returncode == 2 and "bands must each be [low, high)" in completed.stderr
    assert not (tmp_path / ADAPTER).exists()
