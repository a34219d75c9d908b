"""`diffusers_textvid.explain` and `textvid explain`: the arrays, figures and numbers of what a model learned.
(The alignment score's own checks, forced truth and a fresh model at chance, are in test_symbol_attention.py.)"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import build_tiny_pipeline
from diffusers_textvid import build_pipeline
from diffusers_textvid.cli import main
from diffusers_textvid.data import VOCABULARY
from diffusers_textvid.explain import (
    denoising_trajectory, explain, selective_neurons, symbol_probe, video_position_similarity,
)
from diffusers_textvid.models.attention_capture import AttentionRecorder

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """`explain` of the tiny preset: its folder and summary."""
    folder = tmp_path_factory.mktemp("explain")
    summary = explain(build_tiny_pipeline(), "HELLO", folder, num_inference_steps=4, timesteps=(800, 200),
                      probe_prompts=16)
    return folder, summary


@pytest.mark.parametrize("kind", ["cross", "self"])
def test_capturing_attention_leaves_the_sampled_video_unchanged(kind):
    pipe = build_tiny_pipeline()

    def sample():
        return pipe("AB12", num_inference_steps=4, generator=torch.Generator().manual_seed(3), output_type="pt").frames

    plain = sample()
    with AttentionRecorder(pipe.transformer, kind) as recorder:
        captured = sample()
    assert torch.equal(plain, captured)
    assert sorted(recorder.probabilities) == [0, 1]


def test_denoising_trajectory_returns_the_video_the_pipeline_gives():
    pipe = build_tiny_pipeline()
    trajectory = denoising_trajectory(pipe, "AB12", num_inference_steps=6, seed=3, show_steps=3)
    video = pipe("AB12", num_inference_steps=6, generator=torch.Generator().manual_seed(3), output_type="np").frames
    assert np.array_equal(trajectory["video"], video[0, ..., 0])
    assert trajectory["steps"] == [0, 2, 5]
    assert trajectory["estimates"].shape == trajectory["samples"].shape == (3, 16, 32, 32)
    # The last kept sample is the final latent, which the pipeline maps from [-1, 1] to [0, 1].
    np.testing.assert_allclose((trajectory["samples"][-1] + 1) / 2, trajectory["video"], atol=1e-6)


def test_explain_writes_every_figure_and_the_numbers(explained):
    folder, summary = explained
    assert json.loads((folder / "explain.json").read_text()) == summary
    assert set(summary["figures"]) == {"denoising", "video_positions", "text_positions", "timestep",
                                       "self_attention", "neurons", "cross_attention_t800", "cross_attention_t200"}
    for name in summary["figures"].values():
        with Image.open(folder / name) as image:
            assert image.format == "PNG" and min(image.size) > 200
    layers = len(summary["cross_attention_alignment_by_layer"])
    assert layers == len(summary["symbol_probe_accuracy_by_block"]) == 2
    assert summary["cross_attention_alignment"] == max(summary["cross_attention_alignment_by_layer"])
    assert 0 < summary["cross_attention_chance"] < 1
    assert len(summary["video_position_similarity_by_frame_distance"]) == 4  # tiny: 16 frames in patches of 4
    assert summary["video_position_similarity_by_frame_distance"][0] == pytest.approx(1.0)


def test_position_similarity_fades_with_frame_distance_when_the_frame_table_says_so():
    transformer = build_tiny_pipeline().transformer
    with torch.no_grad():
        transformer.row_position.zero_()
        transformer.column_position.zero_()
        angles = torch.arange(4.0)[:, None] * torch.tensor([0.5, 0.0])  # frame f at angle 0.5 f in one plane
        transformer.frame_position.zero_()
        transformer.frame_position[:, :2] = torch.cat([angles[:, :1].cos(), angles[:, :1].sin()], dim=1)
    curve = video_position_similarity(transformer)["by_frame_distance"]
    np.testing.assert_allclose(curve, np.cos(0.5 * np.arange(4)), atol=1e-6)


def test_selective_neurons_find_the_neuron_that_fires_for_each_symbol():
    transformer = build_tiny_pipeline().transformer
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    hidden = rng.normal(size=(120, 64)).astype(np.float32)
    hidden[np.arange(120), 10 + labels] += 5.0  # neuron 10 + s fires for symbol s
    activations = {"labels": labels, "hidden": {0: hidden}, "outputs": {0: rng.normal(size=(120, 32))},
                   "pixels": rng.normal(size=(120, 4 * 8 * 8))}
    found = selective_neurons(transformer, activations, top=1)
    assert found["symbols"] == list(VOCABULARY[:3])
    assert found["blocks"][0]["neurons"][:, 0].tolist() == [10, 11, 12]
    assert found["blocks"][0]["writes"].shape == (3, 1, 4, 8, 8)


def test_symbol_probe_reads_symbols_only_where_the_features_hold_them():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=400)
    informative = np.eye(5, 16)[labels] * 3 + rng.normal(size=(400, 16)) * 0.3
    noise = rng.normal(size=(400, 16))
    activations = {"labels": labels, "prompt_index": np.arange(400) // 4,
                   "outputs": {0: informative.astype(np.float32), 1: noise.astype(np.float32)}}
    readable, unreadable = symbol_probe(activations)
    assert readable > 0.95
    assert unreadable < 0.4  # chance is 0.2


def test_explain_of_a_model_with_looks_renders_the_asked_look(tmp_path):
    torch.manual_seed(0)
    pipe = build_pipeline("tiny", looks=True)
    pipe.set_progress_bar_config(disable=True)
    summary = explain(pipe, "AS", tmp_path, num_inference_steps=2, timesteps=(500,), probe_prompts=8,
                      look={"direction": "left_to_right"})
    assert summary["look"] == {"direction": "left_to_right", "crossing_frames": 15, "vertical_offset": 0,
                               "weight": "bold"}


def test_explain_of_a_look_for_a_model_without_looks_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no looks"):
        explain(build_tiny_pipeline(), "AS", tmp_path, look={"direction": "left_to_right"})


def test_textvid_explain_writes_the_folder(tmp_path, capsys):
    model = tmp_path / "model"
    build_tiny_pipeline().save_pretrained(model)
    main(["explain", "Hi", "-o", str(tmp_path / "out"), "--model", str(model), "--steps", "2", "--t", "300",
          "--probe-prompts", "8"])
    summary = json.loads((tmp_path / "out" / "explain.json").read_text())
    assert summary["prompt"] == "HI" and summary["cross_attention_timesteps"] == [300]
    assert (tmp_path / "out" / "cross_attention_t300.png").is_file()
    assert "cross-attention alignment" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--t", "1000"], "from 0 to 999"),
    (["-o", "FILE"], "is a file"),
])
def test_textvid_explain_refuses_bad_arguments(arguments, message, tmp_path, capsys):
    (tmp_path / "FILE").write_text("not a folder")
    arguments = [str(tmp_path / "FILE") if a == "FILE" else a for a in arguments]
    output = [] if "-o" in arguments else ["-o", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "HI", *output, *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
