import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from diffusers_textvid import cli
from diffusers_textvid.data.prompts import normalize_prompt
from diffusers_textvid.data.looks import DEFAULT_LOOK, LOOK_FACTORS
from diffusers_textvid.evaluation import render_videos
from test_cli import run_main
from test_eval_looks import FakeLookPipeline


class FakeCliPipeline(FakeLookPipeline):
    """`FakeLookPipeline` with what the CLI also uses: PIL output (in the default look completed by the
    asked factors), `normalize_prompt` and the progress bar switch. `looks_asked` records the
    `look` of every call."""

    scheduler = None

    def __init__(self, **options):
        super().__init__(**options)
        self.looks_asked = []

    def normalize_prompt(self, prompt: str) -> str:
        return normalize_prompt(prompt)

    def set_progress_bar_config(self, **options):
        pass

    def __call__(self, prompt, generator, output_type, look=None, **options):
        self.looks_asked.append(look)
        if output_type != "pil":
            return super().__call__(prompt, generator, output_type, look, **options)
        video = render_videos([prompt], DEFAULT_LOOK | (look or {}))[0]  # (16, 32, 32)
        return SimpleNamespace(frames=[[Image.fromarray(np.uint8(255 * frame)) for frame in video]])


@pytest.fixture
def use_pipeline(monkeypatch):
    """Make the CLI load the given pipeline, whatever --model says."""

    def use(pipe):
        monkeypatch.setattr(cli, "load_pipeline", lambda *args, **kwargs: pipe)
        return pipe

    return use


@pytest.mark.parametrize(
    "flags, look",
    [
        (["--speed", "fast", "--position", "high"], {"crossing_frames": 7, "vertical_offset": -2}),
        (["--speed", "slow", "--position", "low"], {"crossing_frames": 15, "vertical_offset": 2}),
        (["--speed", "medium", "--position", "middle"], {"crossing_frames": 11, "vertical_offset": 0}),
        (["--direction", "left-to-right", "--weight", "light"], {"direction": "left_to_right", "weight": "light"}),
        (["--direction", "right-to-left", "--weight", "bold"], {"direction": "right_to_left", "weight": "bold"}),
        ([], None),  # every factor left to the model
    ],
)
def test_look_flags_ask_the_pipeline_for_those_factor_values(flags, look, use_pipeline, tmp_path, capsys):
    pipe = use_pipeline(FakeCliPipeline())
    output = tmp_path / "look.gif"
    assert run_main(["generate", "HI", "-o", str(output), "--seed", "0", *flags]) == 0
    assert pipe.looks_asked == [look]
    assert " ".join(flags) in capsys.readouterr().out and output.exists()


def test_look_flags_name_every_value_of_every_factor_once():
    assert sorted(factor for factor, _, _ in cli.LOOK_FLAGS.values()) == sorted(LOOK_FACTORS)
    for factor, words, _ in cli.LOOK_FLAGS.values():
        assert sorted(map(str, words.values())) == sorted(map(str, LOOK_FACTORS[factor]))


def test_generate_help_lists_the_four_look_flags(capsys):
    assert run_main(["generate", "--help"]) == 0
    help_text = capsys.readouterr().out
    for usage in ("--direction {right-to-left,left-to-right}", "--speed {slow,medium,fast}",
                  "--position {middle,high,low}", "--weight {bold,light}"):
        assert usage in help_text


def test_look_flag_on_a_model_without_looks_exits_2_in_one_line(use_pipeline, tmp_path, capsys):
    pipe = use_pipeline(FakeCliPipeline(looks=None))
    output = tmp_path / "look.gif"
    assert run_main(["generate", "HI", "-o", str(output), "--speed", "fast", "--weight", "light"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "--speed fast --weight light" in error and "trained without looks" in error
    assert pipe.looks_asked == [] and not output.exists()


def test_look_flag_on_the_default_shipped_model_exits_2(tmp_path, capsys):
    assert run_main(["generate", "HI", "-o", str(tmp_path / "look.gif"), "--position", "high", "--model", "default"]) == 2
    assert "--model 'default' was trained without looks" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, model",
    [
        (["generate", "HI", "-o", "{out}", "--position", "high"], "looks"),  # a look flag picks the model with looks
        (["generate", "HI", "-o", "{out}"], None),  # no flag: the default model
        (["generate", "HI", "-o", "{out}", "--model", "looks"], "looks"),  # every factor left to the model
        (["eval", "--looks", "--prompts", "HI", "--samples-per-prompt", "1"], "looks"),
        (["eval", "--prompts", "HI"], None),
    ],
)
def test_looks_without_model_use_the_shipped_model_with_looks(argv, model, monkeypatch, tmp_path):
    loaded = []

    def load(name, *args):
        loaded.append(name)
        return FakeCliPipeline()

    monkeypatch.setattr(cli, "load_pipeline", load)
    assert run_main([arg.format(out=tmp_path / "look.gif") for arg in argv]) == 0
    assert loaded == [model]


def test_eval_looks_prints_the_look_table_and_writes_json(use_pipeline, tmp_path, capsys):
    use_pipeline(FakeCliPipeline())
    path = tmp_path / "looks.json"
    # 2 prompts x 18 samples: 36 consecutive seeds, so the fake draws every look once.
    argv = ["eval", "--looks", "--prompts", "HI", "AB", "--samples-per-prompt", "18", "--json", str(path)]
    assert run_main(argv) == 0
    table = capsys.readouterr().out
    assert all(column in table for column in ("control %", "TV direction", "TV speed", "TV position", "TV weight"))
    row = next(line for line in table.splitlines() if line.startswith("given"))
    assert row.split()[1:4] == ["2", "100.0", "100.0"] and row.split()[4:8] == ["0.000"] * 4
    saved = json.loads(path.read_text())
    assert saved["settings"]["looks"] is True and saved["settings"]["samples_per_prompt"] == 18
    assert saved["sets"]["given"]["control_accuracy"] == 1.0
    assert saved["sets"]["given"]["coverage_tv"] == {factor: 0.0 for factor in LOOK_FACTORS}


def test_eval_looks_on_a_model_without_looks_exits_2_in_one_line(use_pipeline, capsys):
    pipe = use_pipeline(FakeCliPipeline(looks=None))
    assert run_main(["eval", "--looks", "--prompts", "HI"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--looks" in error and "trained without looks" in error
    assert pipe.looks_asked == []


def test_samples_per_prompt_without_variations_exits_2(use_pipeline, capsys):
    use_pipeline(FakeCliPipeline())
    assert run_main(["eval", "--prompts", "HI", "--samples-per-prompt", "4"]) == 2
    assert "--samples-per-prompt goes with --looks" in capsys.readouterr().err
