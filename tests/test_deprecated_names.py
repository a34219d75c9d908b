"""The look of a video has one name, "look"; the names it had before still work, so that code and
folders written before the rename keep running: `variation=`, the config key `variations`, the CLI's
`varied` and the training flags `--variations` and `--variation_dropout`."""

import json

import pytest
import torch

import diffusers_textvid
from diffusers_textvid import TextVideoPipeline, build_pipeline
from diffusers_textvid.cli import shipped_models
from diffusers_textvid.training.arguments import parse_training_args

LOOK = {"direction": "left_to_right", "weight": "light"}


def sample(pipe, **look_option) -> torch.Tensor:
    return pipe("HI", num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0),
                **look_option).frames


def test_the_variation_keyword_draws_the_same_video_as_look_and_warns():
    pipe = build_pipeline("tiny", looks=True)
    pipe.set_progress_bar_config(disable=True)
    with pytest.warns(FutureWarning, match="look="):
        old = sample(pipe, variation=LOOK)
    assert torch.equal(old, sample(pipe, look=LOOK))
    with pytest.raises(ValueError, match="deprecated name"):
        sample(pipe, look=LOOK, variation=LOOK)


def test_a_folder_whose_config_says_variations_loads_as_a_model_with_looks(tmp_path):
    pipe = build_pipeline("tiny", looks=True)
    pipe.save_pretrained(tmp_path)
    config_path = tmp_path / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["variations"] = config.pop("looks")  # as folders saved before the rename
    config_path.write_text(json.dumps(config))

    loaded = TextVideoPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    pipe.set_progress_bar_config(disable=True)
    assert loaded.transformer.config.looks == pipe.transformer.config.looks
    assert "variations" not in loaded.transformer.config
    assert torch.equal(sample(loaded, look=LOOK), sample(pipe, look=LOOK))


def test_the_cli_name_varied_is_the_shipped_model_with_looks():
    assert shipped_models()["varied"] == shipped_models()["looks"] == diffusers_textvid.LOOKS_MODEL_DIR
    assert diffusers_textvid.VARIED_MODEL_DIR == diffusers_textvid.LOOKS_MODEL_DIR


def test_the_old_training_flags_set_the_new_arguments(tmp_path):
    args = parse_training_args(["--model_preset", "tiny", "--report_to", "none", "--output_dir", str(tmp_path),
                                "--variations", "--variation_dropout", "0.25"])
    assert args.looks is True and args.look_dropout == 0.25
