import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

import diffusers_textvid
from conftest import build_tiny_pipeline
from diffusers_textvid.cli import main
from diffusers_textvid.pipelines import TextVideoPipeline
from diffusers_textvid.schedulers import SCHEDULERS

TEXTVID = Path(sys.executable).with_name("textvid")  # the console script of this environment


def save_tiny_pipeline(folder: Path, prediction_type: str | None = None) -> str:
    """Save a tiny pipeline with perturbed weights: untrained, every frame is the same grey, and a
    GIF merges identical frames, hiding how many were written."""
    build_tiny_pipeline(prediction_type).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny preset as built (v-prediction)."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def sample_model_dir(tmp_path_factory):
    """A tiny model that predicts the clean sample, which euler-a and pndm cannot sample."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny_sample"), prediction_type="sample")


@pytest.fixture(scope="module")
def epsilon_model_dir(tmp_path_factory):
    """A tiny model that predicts noise, which every scheduler can sample."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny_epsilon"), prediction_type="epsilon")


def run_main(argv: list[str]) -> int:
    """Call the CLI in-process; return its exit status (0 when it returns normally)."""
    try:
        main(argv)
    except SystemExit as exit:
        return exit.code
    return 0


def gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.copy() for frame in ImageSequence.Iterator(gif)]


def test_generate_writes_a_gif_of_16_frames(model_dir, tmp_path, capsys):
    output = tmp_path / "hello.gif"
    assert run_main(["generate", "hello", "-o", str(output), "--model", model_dir, "--steps", "2", "--seed", "0"]) == 0
    frames = gif_frames(output)
    assert len(frames) == 16 and all(frame.size == (32, 32) for frame in frames)
    printed = capsys.readouterr().out
    assert str(output) in printed and " s" in printed


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_generate_works_with_every_scheduler(name, epsilon_model_dir, tmp_path, capsys):
    output = tmp_path / "out.gif"
    argv = ["generate", "AB", "-o", str(output), "--model", epsilon_model_dir, "--steps", "4", "--scheduler", name]
    assert run_main(argv) == 0
    assert output.exists()
    assert SCHEDULERS[name].__name__ in capsys.readouterr().out


def test_scheduler_that_cannot_sample_the_model_exits_2(sample_model_dir, tmp_path, capsys):
    argv = ["generate", "AB", "-o", str(tmp_path / "out.gif"), "--model", sample_model_dir, "--scheduler", "euler-a"]
    assert run_main(argv) == 2
    assert "'sample'" in capsys.readouterr().err


def test_too_few_steps_for_pndm_exits_2(epsilon_model_dir, tmp_path, capsys):
    argv = ["generate", "AB", "-o", str(tmp_path / "o.gif"), "--model", epsilon_model_dir, "--scheduler", "pndm",
            "--steps", "2"]
    assert run_main(argv) == 2
    assert "at least 4" in capsys.readouterr().err


def test_unknown_character_exits_2_naming_it(model_dir, tmp_path, capsys):
    output = tmp_path / "out.gif"
    assert run_main(["generate", "HI!", "-o", str(output), "--model", model_dir]) == 2
    error = capsys.readouterr().err
    assert "'!'" in error and "Traceback" not in error
    assert not output.exists()


def test_too_long_prompt_exits_2(model_dir, tmp_path, capsys):
    assert run_main(["generate", "ABCDEFGHIJ", "-o", str(tmp_path / "out.gif"), "--model", model_dir]) == 2
    assert "too long" in capsys.readouterr().err


def test_missing_model_folder_exits_2_asking_for_model(tmp_path, capsys):
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.gif"), "--model", str(tmp_path / "missing")]) == 2
    assert "--model" in capsys.readouterr().err


def test_default_model_folder_without_model_exits_2_asking_for_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(diffusers_textvid, "DEFAULT_MODEL_DIR", str(tmp_path))
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.gif")]) == 2
    assert "--model" in capsys.readouterr().err


def test_mp4_without_imageio_ffmpeg_names_the_extra(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes `import imageio_ffmpeg` fail
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.mp4"), "--model", model_dir]) == 2
    assert 'pip install "diffusers-textvid[video]"' in capsys.readouterr().err


def test_unknown_output_format_exits_2(model_dir, tmp_path, capsys):
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.png"), "--model", model_dir]) == 2
    assert ".gif" in capsys.readouterr().err


def test_eval_writes_json_with_the_metrics(model_dir, tmp_path, capsys):
    path = tmp_path / "results.json"
    argv = ["eval", "--model", model_dir, "--steps", "2", "--num-prompts", "2", "--json", str(path)]
    assert run_main(argv) == 0
    results = json.loads(path.read_text())
    assert list(results["sets"]) == ["validation", "holdout_leading_a", "holdout_s_second", "AS"]
    assert [result["num_prompts"] for result in results["sets"].values()] == [2, 2, 2, 1]
    for result in results["sets"].values():
        assert {"char_accuracy", "prompt_accuracy", "psnr_db", "seconds_per_video"} <= set(result)
    table = capsys.readouterr().out
    assert "holdout_s_second" in table and "char acc %" in table


def test_eval_of_given_prompts_makes_one_set(model_dir, tmp_path):
    path = tmp_path / "results.json"
    argv = ["eval", "--model", model_dir, "--steps", "2", "--prompts", "AB", "c3", "--json", str(path)]
    assert run_main(argv) == 0
    sets = json.loads(path.read_text())["sets"]
    assert list(sets) == ["given"] and sets["given"]["num_prompts"] == 2
    assert [result["prompt"] for result in sets["given"]["per_prompt"]] == ["AB", "C3"]


def test_compile_flag_compiles_the_transformer_before_sampling(model_dir, tmp_path, monkeypatch):
    compiled = []

    def record(pipe):
        compiled.append(pipe.transformer)
        return pipe

    monkeypatch.setattr(TextVideoPipeline, "compile_transformer", record)
    for flags in ([], ["--compile"]):
        output = tmp_path / f"video{len(flags)}.gif"
        assert run_main(["generate", "HI", "-o", str(output), "--model", model_dir, "--seed", "0", *flags]) == 0
        assert output.exists()
    assert len(compiled) == 1, "--compile, and only --compile, compiles"
    assert run_main(["eval", "--model", model_dir, "--prompts", "HI", "--compile"]) == 0
    assert len(compiled) == 2


def test_console_script_generates_a_gif(model_dir, tmp_path):
    output = tmp_path / "run.gif"
    completed = subprocess.run(
        [str(TEXTVID), "generate", "AB", "-o", str(output), "--model", model_dir, "--steps", "2", "--seed", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(gif_frames(output)) == 16


def test_version_prints_the_package_version(capsys):
    assert run_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"textvid {diffusers_textvid.__version__}"


def test_model_may_be_a_hub_repo_id(model_dir, tmp_path, monkeypatch, capsys):
    from diffusers_textvid.pipelines import pipeline_textvid

    requested = []

    def fake_snapshot_download(repo_id, **options):  # the Hub, answered from a local folder
        requested.append(repo_id)
        return model_dir

    monkeypatch.setattr(pipeline_textvid, "snapshot_download", fake_snapshot_download)
    output = tmp_path / "hub.gif"
    assert run_main(["generate", "AB", "-o", str(output), "--model", "user/textvid-tiny", "--steps", "2"]) == 0
    assert requested == ["user/textvid-tiny"] and len(gif_frames(output)) == 16


def test_unknown_hub_repo_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.gif"), "--model", "nobody/no-such-model"]) == 2
    error = capsys.readouterr().err
    assert "--model 'nobody/no-such-model'" in error and "Traceback" not in error


def test_negative_prompt_changes_a_guided_video(model_dir, tmp_path):
    def gif_pixels(name: str, *options: str) -> list[bytes]:
        output = tmp_path / name
        argv = ["generate", "AB", "-o", str(output), "--model", model_dir, "--steps", "2", "--seed", "0",
                "--guidance-scale", "3", *options]
        assert run_main(argv) == 0
        return [frame.convert("L").tobytes() for frame in gif_frames(output)]

    assert gif_pixels("plain.gif") != gif_pixels("negative.gif", "--negative-prompt", "ZZ")


def test_bad_negative_prompt_exits_2(model_dir, tmp_path, capsys):
    argv = ["generate", "AB", "-o", str(tmp_path / "o.gif"), "--model", model_dir, "--guidance-scale", "3",
            "--negative-prompt", "N!"]
    assert run_main(argv) == 2
    assert "'!'" in capsys.readouterr().err


def test_bf16_generates_close_to_fp32(model_dir, tmp_path):
    videos = {}
    for dtype in ("fp32", "bf16"):
        output = tmp_path / f"{dtype}.gif"
        argv = ["generate", "AB", "-o", str(output), "--model", model_dir, "--steps", "2", "--seed", "0", "--dtype", dtype]
        assert run_main(argv) == 0
        videos[dtype] = np.stack([np.asarray(frame.convert("L"), dtype=np.float64) for frame in gif_frames(output)])
    assert videos["fp32"].shape == videos["bf16"].shape == (16, 32, 32)
    assert np.abs(videos["fp32"] - videos["bf16"]).mean() < 8  # grey levels out of 255


def test_eval_records_the_dtype(model_dir, tmp_path):
    path = tmp_path / "results.json"
    argv = ["eval", "--model", model_dir, "--steps", "2", "--prompts", "AB", "--dtype", "bf16", "--json", str(path)]
    assert run_main(argv) == 0
    assert json.loads(path.read_text())["settings"]["dtype"] == "bf16"


def test_unknown_dtype_is_a_usage_error(tmp_path, capsys):
    assert run_main(["generate", "AB", "-o", str(tmp_path / "o.gif"), "--dtype", "fp16"]) == 2
    assert "--dtype" in capsys.readouterr().err
