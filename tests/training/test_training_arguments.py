"""Every argument of the training scripts and of the export script is checked before anything is
built, created, locked or deleted: one error line naming the argument, exit status 2, and an earlier
run's folder left as it was."""

import json
import subprocess
import sys
from argparse import Namespace

import pytest
from launching import REPO_ROOT

from diffusers_textvid import build_pipeline
from diffusers_textvid.training.arguments import parse_lora_args, parse_training_args
from diffusers_textvid.training.lora import load_lora_pipeline
from diffusers_textvid.training.training_model import build_training_model

TINY = ["--model_preset", "tiny", "--report_to", "none"]


def refused(parse, argv: list[str], capsys) -> str:
    """The error line with which `parse(argv)` stops (exit status 2)."""
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def model_config(tmp_path, content) -> str:
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps(content))
    return str(path)


@pytest.mark.parametrize("band", [["1500", "2000"], ["300", "100"], ["100", "300", "600"], ["100", "300", "900", "1200"]],
                         ids=["past the schedule", "reversed", "odd count", "second band past the schedule"])
@pytest.mark.parametrize("share", ["0", "0.5"])
def test_an_own_estimate_band_outside_the_schedule_or_reversed_is_refused_whatever_the_share(
    tmp_path, capsys, band, share
):
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--own_estimate_share", share,
                                         "--own_estimate_band", *band], capsys)
    assert "--own_estimate" in line and "band" in line


def test_look_emphasis_words_become_weights_per_factor_value(tmp_path):
    args = parse_training_args([*TINY, "--looks", "--output_dir", str(tmp_path / "run"), "--look_emphasis",
                                "weight=light:2", "crossing_frames=7:3.5", "--look_emphasis_below", "250"])
    emphasis = build_training_model(args).look_emphasis
    assert emphasis.weights == {"weight": {"light": 2.0}, "crossing_frames": {7: 3.5}}
    assert emphasis.below_timestep == 250


@pytest.mark.parametrize("words, phrase", [
    (["weight=light"], "FACTOR=VALUE:WEIGHT"),
    (["speed=7:2"], "FACTOR=VALUE:WEIGHT"),
    (["crossing_frames=8:2"], "crossing_frames is one of 15, 11, 7"),
    (["weight=light:heavy"], "WEIGHT must be a number"),
    (["weight=light:0"], "must be positive"),
])
def test_a_bad_look_emphasis_word_is_refused_by_name(tmp_path, capsys, words, phrase):
    line = refused(parse_training_args, [*TINY, "--looks", "--output_dir", str(tmp_path / "run"),
                                         "--look_emphasis", *words], capsys)
    assert "--look_emphasis" in line and phrase in line


def test_look_emphasis_on_a_model_without_looks_is_refused(tmp_path):
    args = parse_training_args([*TINY, "--output_dir", str(tmp_path / "run"), "--look_emphasis", "weight=light:2"])
    with pytest.raises(ValueError, match="--look_emphasis needs a model trained with looks"):
        build_training_model(args)


def test_overwrite_output_dir_deletes_nothing_when_another_argument_is_bad(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint-5"
    checkpoint.mkdir(parents=True)
    (checkpoint / "training_state.json").write_text('{"global_step": 5}')
    command = [sys.executable, "training/train_textvid.py", *TINY, "--output_dir", str(tmp_path / "run"),
               "--overwrite_output_dir", "--own_estimate_share", "1", "--own_estimate_band", "1500", "2000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 2 and "--own_estimate_band" in result.stderr
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoint-5"]
    assert (checkpoint / "training_state.json").read_text() == '{"global_step": 5}'


def test_model_config_with_null_looks_and_the_variations_flag_is_refused(tmp_path, capsys):
    config = model_config(tmp_path, {"looks": None})
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--model_config", config,
                                         "--looks"], capsys)
    assert "--looks" in line and config in line


def test_model_config_with_a_factor_the_renderer_lacks_names_the_file_and_the_key(tmp_path, capsys):
    config = model_config(tmp_path, {"looks": {"colour": ["red", "blue"]}})
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--model_config", config], capsys)
    assert config in line and "'colour'" in line and "looks" in line


@pytest.mark.parametrize("widths", [{"bold": 0, "light": 34}, {"bold": -3, "light": 34}, "wide"])
def test_model_config_that_cannot_build_the_model_is_refused_naming_the_key(tmp_path, capsys, widths):
    config = model_config(tmp_path, {"scroll_cell_widths": widths})
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--model_config", config,
                                         "--looks"], capsys)
    assert config in line and "scroll_cell_widths" in line


@pytest.mark.parametrize("size, message", [
    ({"sample_size": 8}, "frame_size must be at least 16"),
    ({"sample_frames": 4, "patch_size": [4, 8, 8]}, "num_frames must be at least 7"),
])
def test_a_model_whose_videos_the_renderer_cannot_draw_is_refused_naming_its_size(tmp_path, capsys, size, message):
    config = model_config(tmp_path, size)
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--model_config", config],
                   capsys)
    assert "(sample_frames, sample_size)" in line and "renderer cannot draw" in line and message in line


def test_a_base_model_whose_videos_the_renderer_cannot_draw_is_refused_for_a_fine_tune(tmp_path):
    build_pipeline("tiny", transformer_overrides={"sample_size": 8}).save_pretrained(tmp_path / "base")
    args = parse_training_args([*TINY, "--output_dir", str(tmp_path / "run"),
                                "--pretrained_model_name_or_path", str(tmp_path / "base")])
    with pytest.raises(ValueError, match="8x8 pixels.*renderer cannot draw"):
        build_training_model(args)
    lora_args = parse_lora_args(["--report_to", "none", "--pretrained_model_name_or_path", str(tmp_path / "base")])
    with pytest.raises(ValueError, match="8x8 pixels.*renderer cannot draw"):
        load_lora_pipeline(lora_args)


@pytest.mark.parametrize("argv, name", [
    (["--lora_alpha", "0"], "--lora_alpha"),
    (["--lora_alpha", "nan"], "--lora_alpha"),
    (["--learning_rate", "-1"], "--learning_rate"),
    (["--validation_inference_steps", "0"], "--validation_inference_steps"),
    (["--num_eval_prompts", "-1"], "--num_eval_prompts"),
    (["--own_estimate_band", "900", "1200"], "--own_estimate_band"),
    (["--pretrained_model_name_or_path", "no/such/folder"], "--pretrained_model_name_or_path"),
])
def test_lora_script_arguments_are_checked_before_the_base_model_is_loaded(tmp_path, capsys, argv, name):
    line = refused(parse_lora_args, ["--report_to", "none", "--output_dir", str(tmp_path / "lora"), *argv], capsys)
    assert name in line


def test_lora_alpha_is_kept_as_given_not_replaced_by_the_rank(tmp_path):
    build_pipeline("tiny").save_pretrained(tmp_path / "base")
    args = parse_lora_args(["--report_to", "none", "--pretrained_model_name_or_path", str(tmp_path / "base"),
                            "--rank", "4", "--lora_alpha", "2"])
    config = load_lora_pipeline(args).transformer.peft_config["default"]
    assert (config.r, config.lora_alpha) == (4, 2)


def test_unknown_lora_target_module_is_refused_listing_the_layers(tmp_path):
    build_pipeline("tiny").save_pretrained(tmp_path / "base")
    args = Namespace(pretrained_model_name_or_path=str(tmp_path / "base"), rank=4, lora_alpha=None,
                     lora_target_modules=["to_q", "attention.query"])
    with pytest.raises(ValueError, match=r"\['attention.query'\].*self_attention.to_q"):
        load_lora_pipeline(args)


@pytest.mark.parametrize("target_kind", ["file", "unrelated folder", "the model itself"])
def test_export_refuses_a_target_it_would_destroy_before_loading_anything(tmp_path, target_kind):
    model_dir = tmp_path / "model"
    build_pipeline("tiny").save_pretrained(model_dir)
    target = {"file": tmp_path / "notes.txt", "unrelated folder": tmp_path / "work", "the model itself": model_dir}[target_kind]
    if target_kind == "file":
        target.write_text("keep me")
    elif target_kind == "unrelated folder":
        target.mkdir()
        (target / "notes.txt").write_text("keep me")
    before = sorted(path.name for path in tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "training/export_model.py", "--model_dir", str(model_dir),
                             "--target", str(target)], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 2 and "--target" in result.stderr.strip().splitlines()[-1]
    assert sorted(path.name for path in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("blocks, message", [
    (["2"], "--symbol_attention_blocks [2]: the model has blocks 0 to 1."),  # tiny has 2 blocks
    (["1", "1"], "--symbol_attention_blocks must be distinct block numbers from 0, got [1, 1]."),
    (["-1"], "--symbol_attention_blocks must be distinct block numbers from 0, got [-1]."),
])
def test_symbol_attention_blocks_the_model_lacks_are_refused(tmp_path, capsys, blocks, message):
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--symbol_attention_weight",
                                         "0.5", "--symbol_attention_blocks", *blocks], capsys)
    assert line.endswith(message)


def test_symbol_attention_blocks_are_not_checked_while_the_loss_is_off(tmp_path):
    args = parse_training_args([*TINY, "--output_dir", str(tmp_path / "run"), "--symbol_attention_blocks", "7"])
    assert args.symbol_attention_weight == 0.0


def test_a_negative_symbol_attention_weight_is_refused(tmp_path, capsys):
    line = refused(parse_training_args, [*TINY, "--output_dir", str(tmp_path / "run"), "--symbol_attention_weight",
                                         "-1"], capsys)
    assert "--symbol_attention_weight" in line


def test_a_template_weight_for_a_model_without_look_evidence_is_refused_before_training(tmp_path):
    args = parse_training_args([*TINY, "--output_dir", str(tmp_path / "run"), "--look_template_weight", "1"])
    with pytest.raises(ValueError, match="--look_template_weight needs a model with look evidence"):
        build_training_model(args)
