"""training/train_textvid.py end to end: what a run writes, two processes, resuming, a diverging run,
publishing. Runs that several tests read are session fixtures (conftest.py); the launcher configs
and the fault handling have files of their own.
"""

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from fake_hub_server import FakeHub
from launching import (
    EMA_RUN,
    REPO_ROOT,
    TEXT_ENCODER_WEIGHTS,
    TRANSFORMER_WEIGHTS,
    VALIDATION_PROMPTS,
    assert_same_weights,
    launch_command,
    rank_lines,
    run_settings,
    script_arguments,
    train,
    train_together,
    training_env,
)
from PIL import Image
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file, save_file

from diffusers_textvid import PRESETS, TextVideoDiTModel, build_pipeline
from diffusers_textvid.data.dataset import ScrollingTextDataset
from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.training import arguments, checkpoints, cpu_precision, publishing, training_model

LATE_RANK_ONE = Path(__file__).with_name("late_rank_one.py")  # the script, process 1 saving checkpoints late
HANG_BEFORE_CHECKPOINT = Path(__file__).with_name("hang_before_checkpoint.py")  # the script, stopping for good
RESUMABLE_RUN = ["--max_train_steps", "8", "--train_batch_size", "2", "--checkpointing_steps", "2",
                 "--validation_steps", "4", "--validation_inference_steps", "25", "--use_ema"]
# Warm-up keeps step 0 at learning rate 0, so checkpoint-1 is good and step 1's update explodes.
DIVERGING_RUN = ["--max_train_steps", "4", "--train_batch_size", "2", "--checkpointing_steps", "1",
                 "--learning_rate", "1e30", "--lr_warmup_steps", "2", "--validation_inference_steps", "2"]
SHORT_RUN = ["--max_train_steps", "1", "--train_batch_size", "2", "--validation_inference_steps", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run whose loss turns infinite, and the resumable run never stopped, launched together."""
    diverged, uninterrupted = tmp_path_factory.mktemp("diverged_run"), tmp_path_factory.mktemp("uninterrupted_run")
    results = train_together((diverged, DIVERGING_RUN, {}), (uninterrupted, RESUMABLE_RUN, {}), expect_success=False)
    assert results[1].returncode == 0, results[1].stdout[-5000:]
    return {"diverged_run": (diverged, results[0]), "uninterrupted_run": uninterrupted}


@pytest.fixture(scope="module")
def diverged_run(runs):
    """The run whose loss turns infinite: `(output_dir, completed process)`."""
    return runs["diverged_run"]


@pytest.fixture(scope="module")
def uninterrupted_run(runs):
    """The resumable run, never stopped: the weights that resumed runs must reach."""
    return runs["uninterrupted_run"]


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_trained_folder_loads_with_diffusers_and_samples_videos(ema_run):
    output_dir, _ = ema_run
    pipe = DiffusionPipeline.from_pretrained(output_dir, trust_remote_code=True)
    pipe.set_progress_bar_config(disable=True)

    frames = pipe(["AS", "HELLO"], num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames

    assert type(pipe).__name__ == "TextVideoPipeline"
    assert frames.shape == (2, 16, 32, 32, 1)
    assert frames.min() >= 0 and frames.max() <= 1  # finite, in the output range


@pytest.mark.slow
def test_run_writes_complete_checkpoints_at_the_checkpointing_steps_and_the_end(ema_run):
    output_dir, _ = ema_run
    checkpoints = sorted(path.name for path in output_dir.iterdir() if path.name.startswith("checkpoint-"))

    assert checkpoints == ["checkpoint-3", "checkpoint-6"]  # and no leftover .partial folder
    for step in (3, 6):
        folder = output_dir / f"checkpoint-{step}"
        assert json.loads((folder / "training_state.json").read_text()) == {"global_step": step}
        assert (folder / "model.safetensors").is_file() and (folder / "optimizer.bin").is_file()


@pytest.mark.slow
def test_model_card_names_the_step_count_and_the_training_command(ema_run):
    output_dir, _ = ema_run
    card = (output_dir / "README.md").read_text()

    assert "Steps: 6; samples seen: 24." in card
    assert "accelerate launch training/train_textvid.py " + " ".join(script_arguments(output_dir, *EMA_RUN)) in card
    assert "library_name: diffusers" in card


@pytest.mark.slow
def test_validation_writes_a_16_frame_gif_per_prompt_including_the_held_out_as(ema_run):
    output_dir, _ = ema_run
    folder = output_dir / "validation" / "step-6"

    assert sorted(path.name for path in folder.iterdir()) == sorted(f"{p}.gif" for p in VALIDATION_PROMPTS)
    with Image.open(folder / "AS.gif") as gif:
        assert gif.n_frames == 16 and gif.size == (32, 32)


@pytest.mark.slow
def test_saved_pipeline_holds_the_ema_weights_not_the_training_weights(ema_run):
    output_dir, _ = ema_run
    checkpoint = output_dir / "checkpoint-6"  # the same step as the saved pipeline
    shadows = torch.load(checkpoint / "custom_checkpoint_0.pkl", weights_only=True)["shadow_params"]
    training_weights = load_file(checkpoint / "model.safetensors")  # the prepared module: DiT and text encoder
    saved = load_file(output_dir / TRANSFORMER_WEIGHTS)
    # EMAModel keeps one shadow tensor per parameter, in parameter order: the DiT's first.
    names = [name for name, _ in TextVideoDiTModel.from_pretrained(output_dir / "transformer").named_parameters()]

    for name, shadow in zip(names, shadows):
        assert torch.equal(saved[name], shadow), name
    assert any(not torch.equal(saved[name], training_weights[f"transformer.{name}"]) for name in names)


# ----------------------------------------------------------------------------------------------
# Two processes
# ----------------------------------------------------------------------------------------------


def test_dataset_streams_of_two_processes_with_one_seed_differ():
    def first_prompts(process_index: int) -> list[str]:
        stream = iter(ScrollingTextDataset(seed=0, process_index=process_index))
        return [next(stream)[0] for _ in range(4)]

    assert first_prompts(0) != first_prompts(1)
    assert first_prompts(1) == first_prompts(1)  # yet each is reproducible


@pytest.mark.slow
def test_two_process_launch_is_one_job_whose_ranks_read_their_own_streams(two_process_run):
    _, log = two_process_run
    first_batches = {rank: ast.literal_eval(rest) for rank, rest in rank_lines(log, "first batch: ").items()}

    assert run_settings(log).keys() == {0, 1}
    assert first_batches.keys() == {0, 1}
    assert first_batches[0] != first_batches[1]
    for rank, prompts in first_batches.items():  # each rank read the stream of its process index
        assert prompts == [ScrollingTextDataset(seed=0, process_index=rank).prompt_at(i) for i in range(4)]


@pytest.mark.slow
def test_two_process_ranks_end_with_identical_weights_unlike_one_process(two_process_run, ema_run):
    output_dir, log = two_process_run
    checksums = rank_lines(log, "parameter checksum ")

    assert checksums.keys() == {0, 1} and checksums[0] == checksums[1]  # gradients were shared
    # Rank 0 read exactly what the one-process run read: the difference is rank 1's gradients.
    two_processes = load_file(output_dir / TRANSFORMER_WEIGHTS)
    one_process = load_file(ema_run[0] / TRANSFORMER_WEIGHTS)
    assert any(not torch.equal(two_processes[name], one_process[name]) for name in one_process)


# ----------------------------------------------------------------------------------------------
# Checkpoints and resuming
# ----------------------------------------------------------------------------------------------


def test_a_checkpoint_is_renamed_only_once_every_process_has_written_its_part(tmp_path):
    output_dir = tmp_path / "late"
    train(output_dir, "--max_train_steps", "4", "--train_batch_size", "2", "--checkpointing_steps", "2",
          "--validation_steps", "4", "--validation_inference_steps", "1", processes=2, script=LATE_RANK_ONE)
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    for step in (2, 4):
        folder = output_dir / f"checkpoint-{step}"
        assert (folder / "random_states_0.pkl").is_file() and (folder / "random_states_1.pkl").is_file(), step


def test_latest_resume_skips_partial_and_unfinished_checkpoints(tmp_path):
    def make_checkpoint(name: str, complete: bool):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"")
        if complete:
            (tmp_path / name / "training_state.json").write_text(json.dumps({"global_step": 0}))

    make_checkpoint("checkpoint-9", complete=True)
    make_checkpoint("checkpoint-10", complete=True)
    make_checkpoint("checkpoint-12.partial", complete=True)  # a crash between writing the state and renaming
    make_checkpoint("checkpoint-14", complete=False)  # a crash inside a folder saved by something else
    args = arguments.parse_training_args(["--output_dir", str(tmp_path), "--resume_from_checkpoint", "latest"])

    assert checkpoints.complete_checkpoints(str(tmp_path)) == [
        (9, str(tmp_path / "checkpoint-9")), (10, str(tmp_path / "checkpoint-10")),
    ]
    assert checkpoints.resolve_resume(args) == str(tmp_path / "checkpoint-10")


def test_resume_starts_fresh_without_checkpoints_and_refuses_an_unfinished_one(tmp_path, capsys):
    (tmp_path / "checkpoint-4").mkdir()
    latest = arguments.parse_training_args(["--output_dir", str(tmp_path), "--resume_from_checkpoint", "latest"])

    assert checkpoints.resolve_resume(latest) is None
    with pytest.raises(SystemExit) as refused:  # by parse_args, before anything is built
        arguments.parse_training_args(["--resume_from_checkpoint", str(tmp_path / "checkpoint-4")])
    assert refused.value.code == 2 and "not a complete checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_run_killed_after_a_checkpoint_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, uninterrupted_run):
    interrupted = tmp_path / "interrupted"
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(  # it cannot go past checkpoint-4 before the kill: it hangs before checkpoint-6
            launch_command(interrupted, *RESUMABLE_RUN, script=HANG_BEFORE_CHECKPOINT),
            cwd=REPO_ROOT, env=training_env(HANG_BEFORE_CHECKPOINT="6"),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 600
            while not (interrupted / "checkpoint-4" / "training_state.json").exists():
                assert process.poll() is None, (tmp_path / "killed.log").read_text()[-5000:]
                assert time.monotonic() < deadline, "checkpoint-4 never appeared"
                time.sleep(0.01)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and the training process
            process.wait()
    assert not (interrupted / "checkpoint-8").exists() and not (interrupted / "model_index.json").exists()
    killed_pid = run_settings((tmp_path / "killed.log").read_text())[0]["pid"]

    resumed = train(interrupted, *RESUMABLE_RUN, "--resume_from_checkpoint", "latest").stdout

    assert re.search(r"Resumed from \S*checkpoint-4 at step 4", resumed)
    # SIGKILL left the lock file behind; its pid is dead, so the new run took it over and said so.
    assert re.search(rf"WARNING .*Took over the lock of \S+ from a dead run \(pid {killed_pid} on ", resumed)
    assert not (interrupted / "train.lock").exists()  # removed at the end
    for weights in (TRANSFORMER_WEIGHTS, TEXT_ENCODER_WEIGHTS):  # EMA weights: the EMA state resumed too
        assert_same_weights(load_file(interrupted / weights), load_file(uninterrupted_run / weights))


@pytest.mark.slow
def test_checkpoint_of_the_two_model_layout_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, uninterrupted_run):
    # Before the text encoder and the DiT were one prepared module, Accelerate saved them apart:
    # the DiT in model.safetensors, the text encoder in model_1.safetensors, each without a prefix.
    old = tmp_path / "old_layout"
    shutil.copytree(uninterrupted_run / "checkpoint-4", old / "checkpoint-4")
    weights = load_file(old / "checkpoint-4" / "model.safetensors")
    for file, prefix in (("model.safetensors", "transformer."), ("model_1.safetensors", "text_encoder.")):
        save_file({name.removeprefix(prefix): value for name, value in weights.items() if name.startswith(prefix)},
                  old / "checkpoint-4" / file)

    resumed = train(old, *RESUMABLE_RUN, "--resume_from_checkpoint", "latest").stdout

    assert "Loaded the two-model checkpoint" in resumed
    assert re.search(r"Resumed from \S*checkpoint-4 at step 4", resumed)
    for weights in (TRANSFORMER_WEIGHTS, TEXT_ENCODER_WEIGHTS):
        assert_same_weights(load_file(old / weights), load_file(uninterrupted_run / weights))


# ----------------------------------------------------------------------------------------------
# A diverging run
# ----------------------------------------------------------------------------------------------

FAILURE = re.compile(r"Loss is \[(?P<losses>[^\]]*)\] at step (?P<step>\d+): stopping\. "
                     r"Last good checkpoint: (?P<checkpoint>\S+?)\. ")


@pytest.mark.slow
def test_non_finite_loss_stops_the_run_and_names_the_last_good_checkpoint(diverged_run):
    output_dir, result = diverged_run
    failure = FAILURE.search(result.stdout)
    assert result.returncode != 0 and failure, result.stdout[-5000:]
    step = int(failure["step"])
    good = Path(failure["checkpoint"])

    assert not all(torch.isfinite(torch.tensor([float(loss) for loss in failure["losses"].split(",")])))
    assert good == output_dir / f"checkpoint-{step - 1}"  # checkpoint-{step} holds the weights that gave it
    assert json.loads((good / "training_state.json").read_text()) == {"global_step": step - 1}
    assert all(torch.isfinite(weight).all() for weight in load_file(good / "model.safetensors").values())
    assert max(saved for saved, _ in checkpoints.complete_checkpoints(str(output_dir))) == step
    assert not (output_dir / "model_index.json").exists()  # no pipeline saved from diverged weights


@pytest.mark.slow
def test_resuming_from_the_last_good_checkpoint_repeats_the_failing_step(diverged_run):
    output_dir, first = diverged_run
    good = FAILURE.search(first.stdout)["checkpoint"]

    # Writing checkpoint-{step} again on the way must replace the one the first run left.
    again = train(output_dir, *DIVERGING_RUN, "--resume_from_checkpoint", good, expect_success=False)

    failure = FAILURE.search(again.stdout)
    assert again.returncode != 0 and failure, again.stdout[-5000:]
    assert failure.group(0) == FAILURE.search(first.stdout).group(0)


# ----------------------------------------------------------------------------------------------
# Publishing and precision
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_push_to_hub_uploads_the_pipeline_folder_and_samples_without_checkpoints_or_the_token(tmp_path):
    output_dir = tmp_path / "run"
    with FakeHub() as hub:
        env = training_env(HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE=None, HF_HOME=str(tmp_path / "hf_home"),
                           HF_TOKEN=None, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
        log = train(output_dir, *SHORT_RUN, "--checkpointing_steps", "1", "--push_to_hub",
                    "--hub_model_id", "user/textvid-test", "--hub_token", "hf_fake", env=env).stdout
    uploaded = hub.files["user/textvid-test"]

    assert "Pushed to user/textvid-test" in log
    assert [(repo["organization"], repo["name"]) for repo in hub.created] == [("user", "textvid-test")]
    assert hub.authorizations == {"Bearer hf_fake"} and hub.unexpected == []
    assert hub.commit_messages == ["Upload diffusers-textvid pipeline"]  # one commit
    assert {"model_index.json", "pipeline_textvid.py", "README.md", "transformer/modeling_textvid.py",
            str(TRANSFORMER_WEIGHTS), str(TEXT_ENCODER_WEIGHTS)} <= uploaded.keys()
    assert (output_dir / "checkpoint-1").is_dir()
    assert not [path for path in uploaded if path.startswith(("checkpoint-", "logs/", "train.lock"))]
    # The sample the card shows and the last validation's GIFs go up with the model.
    assert {"sample.gif", *(f"validation/step-1/{prompt}.gif" for prompt in VALIDATION_PROMPTS)} <= uploaded.keys()
    for path, content in uploaded.items():
        assert content == (output_dir / path).read_bytes(), path
        assert b"hf_fake" not in content, path  # the model card's training command hides the token
    assert_same_weights(load_safetensors_bytes(uploaded[str(TRANSFORMER_WEIGHTS)]),
                        load_file(output_dir / TRANSFORMER_WEIGHTS))


@pytest.mark.slow
def test_fp16_on_a_cpu_warns_that_the_run_stays_in_fp32(tmp_path, ema_run):
    log = train(tmp_path, *SHORT_RUN, "--mixed_precision", "fp16").stdout

    warnings = [line for line in log.splitlines() if " WARNING " in line and "fp16" in line]
    assert len(warnings) == 1
    assert "fp16 mixed precision on a CPU" in warnings[0] and "plain fp32" in warnings[0]
    assert run_settings(log)[0]["mixed_precision"] == "no"  # the start-of-run line states what runs
    assert "fp16 mixed precision on a CPU" not in ema_run[1]  # no warning where none is due


def test_bf16_on_a_cpu_without_bf16_units_warns_once_with_the_measured_cost(tmp_path):
    log = train(tmp_path, *SHORT_RUN, "--mixed_precision", "bf16").stdout
    warnings = [line for line in log.splitlines() if " WARNING " in line and "bf16" in line]
    expected = 1 if cpu_precision.has_bf16_units() is False else 0
    assert len(warnings) == expected
    assert all("measured" in line and "x the time of the fp32 one" in line for line in warnings)
    assert run_settings(log)[0]["mixed_precision"] == "bf16"


def test_report_to_a_tracker_that_is_not_installed_stops_before_training(monkeypatch, capsys):
    import diffusers_textvid.tracking as tracking

    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)  # as if wandb were missing
    with pytest.raises(SystemExit) as stopped:
        arguments.parse_training_args(["--model_preset", "tiny", "--report_to", "wandb"])
    assert stopped.value.code == 2
    assert "needs wandb, which is not installed: pip install wandb" in capsys.readouterr().err


def test_own_estimate_flags_reach_the_loss_and_a_bad_share_is_refused(tmp_path, capsys):
    base = ["--output_dir", str(tmp_path / "run"), "--model_preset", "tiny"]
    args = arguments.parse_training_args(base + ["--own_estimate_share", "0.5", "--own_estimate_band", "50", "250"])
    inputs = training_model.build_training_model(args).own_estimate_inputs
    assert (inputs.share, inputs.bands, inputs.lookahead) == (0.5, ((50, 250),), (20, 200))
    args = arguments.parse_training_args(base + ["--own_estimate_share", "0.5",
                                                 "--own_estimate_band", "100", "300", "600", "900"])
    assert training_model.build_training_model(args).own_estimate_inputs.bands == ((100, 300), (600, 900))
    assert training_model.build_training_model(arguments.parse_training_args(base)).own_estimate_inputs is None
    with pytest.raises(SystemExit) as exit:
        arguments.parse_training_args(base + ["--own_estimate_share", "1.5"])
    assert exit.value.code == 2
    assert "--own_estimate_*: OwnEstimateInputs share must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_the_public_training_command_hides_the_hub_token_in_both_spellings(monkeypatch):
    monkeypatch.setattr("sys.argv", ["train_textvid.py", "--hub_token", "hf_secret", "--hub_token=hf_other", "--seed", "1"])
    command = publishing.public_training_command("train_textvid.py")
    assert command == "accelerate launch training/train_textvid.py --hub_token *** --hub_token=*** --seed 1"
    assert "hf_" not in command


def test_drop_factors_turns_value_indices_into_looks_and_leaves_out_about_the_share():
    looks = torch.tensor([[1, 2, 0, 1]] * 2000)
    kept = training_model.drop_factors(looks[:1], 0.0, torch.Generator().manual_seed(0))
    assert kept == [{"direction": "left_to_right", "crossing_frames": 7, "vertical_offset": 0, "weight": "light"}]
    assert training_model.drop_factors(looks[:3], 1.0, torch.Generator().manual_seed(0)) == [{}, {}, {}]
    dropped = training_model.drop_factors(looks, 0.5, torch.Generator().manual_seed(0))
    share_left_out = 1 - sum(len(look) for look in dropped) / (4 * len(dropped))
    assert 0.45 < share_left_out < 0.55
    assert all(look.items() <= kept[0].items() for look in dropped)


def test_variations_flag_conditions_the_model_on_every_factor_and_the_looks_reach_the_loss(tmp_path):
    base = ["--output_dir", str(tmp_path / "run"), "--model_preset", "tiny"]
    model = training_model.build_training_model(arguments.parse_training_args(base + ["--looks"]))
    assert model.transformer.config.looks == {factor: list(values) for factor, values in LOOK_FACTORS.items()}
    assert training_model.build_training_model(arguments.parse_training_args(base)).transformer.config.looks is None
    torch.nn.init.normal_(model.transformer.output_layer.projection.weight)  # let the conditioning reach the output
    for block in model.transformer.blocks:
        torch.nn.init.normal_(block.modulation[-1].weight, std=0.1)
    clean = torch.zeros(2, 1, 16, 32, 32)

    def loss(looks):
        return float(model(["HI", "AB"], clean, torch.Generator().manual_seed(0), looks))

    assert loss([{}, {}]) == loss(None)
    assert loss([{"direction": "left_to_right"}, {}]) != loss([{"direction": "right_to_left"}, {}])
    with pytest.raises(SystemExit):
        arguments.parse_training_args(base + ["--look_dropout", "1.5"])


@pytest.mark.parametrize("sample_size", [32, 64])
def test_symbol_attention_flags_add_a_loss_whose_labels_follow_the_true_looks(tmp_path, sample_size):
    size = tmp_path / "size.json"
    size.write_text(json.dumps({"sample_size": sample_size}))
    base = ["--output_dir", str(tmp_path / "run"), "--model_preset", "tiny", "--looks", "--model_config", str(size)]
    plain = training_model.build_training_model(arguments.parse_training_args(base))
    supervised = training_model.build_training_model(arguments.parse_training_args(
        base + ["--symbol_attention_weight", "2.0", "--symbol_attention_blocks", "1"]))
    assert (supervised.symbol_attention.weight, supervised.symbol_attention.blocks) == (2.0, (1,))
    supervised.load_state_dict(plain.state_dict())
    clean = torch.zeros(2, 1, 16, sample_size, sample_size)

    def loss(model, direction):
        true_looks = [{"direction": direction, "crossing_frames": 7, "vertical_offset": 0, "weight": "bold"}] * 2
        return float(model(["HI", "AB"], clean, torch.Generator().manual_seed(0), [{}, {}], true_looks))

    assert loss(plain, "left_to_right") == loss(plain, "right_to_left")  # the model sees no look
    assert loss(supervised, "left_to_right") > loss(plain, "left_to_right")
    assert loss(supervised, "left_to_right") != loss(supervised, "right_to_left")  # labels from the true looks


def test_model_config_overrides_the_preset_and_keeps_the_looks(tmp_path):
    overrides = tmp_path / "lengths.json"
    overrides.write_text('{"patch_size": [1, 32, 8], "text_length_positions": 9}')
    args = arguments.parse_training_args(["--output_dir", str(tmp_path / "run"), "--model_preset", "tiny", "--looks",
                                     "--model_config", str(overrides)])
    transformer = training_model.build_training_model(args).transformer
    assert tuple(transformer.config.patch_size) == (1, 32, 8)
    assert transformer.config.hidden_size == PRESETS["tiny"]["transformer"]["hidden_size"]
    assert set(transformer.config.looks) == set(LOOK_FACTORS)
    assert len(transformer.length_position) == 9  # one table per text length


@pytest.mark.slow
@pytest.mark.parametrize("preset, video_shape", [("tiny", (16, 32, 32)), ("small-64", (16, 64, 64))])
def test_a_variations_run_saves_a_model_that_samples_asked_looks(tmp_path, preset, video_shape):
    log = train(tmp_path, "--model_preset", preset, "--looks", "--max_train_steps", "2", "--train_batch_size", "4",
                "--validation_steps", "2", "--validation_inference_steps", "1", "--num_validation_loss_prompts", "2",
                "--report_to", "none").stdout
    assert re.search(r"step 2: validation loss \d", log)  # on renders of the model's size
    pipe = DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True)
    assert sorted(pipe.transformer.config.looks) == ["crossing_frames", "direction", "vertical_offset", "weight"]
    frames = pipe("HI", num_inference_steps=1, look={"weight": "light"}, output_type="np").frames
    assert frames.shape == (1, *video_shape, 1)
    with Image.open(tmp_path / "validation" / "step-2" / "AS.gif") as gif:
        assert gif.size == video_shape[1:]


@pytest.mark.slow
def test_a_run_with_scroll_alignment_and_the_look_guess_loss_validates_saves_and_samples(tmp_path):
    shipped = json.loads((REPO_ROOT / "training" / "configs" / "looks_scroll.json").read_text())
    config = tmp_path / "scroll.json"  # the tiny preset's tokens span 4 frames: take one frame per token
    config.write_text(json.dumps({**shipped, "patch_size": [1, 32, 8]}))
    train(tmp_path, "--looks", "--model_config", str(config), "--look_guess_weight", "0.05",
          "--max_train_steps", "2", "--train_batch_size", "4", "--validation_steps", "2",
          "--validation_inference_steps", "1", "--num_validation_loss_prompts", "2", "--report_to", "none")
    pipe = DiffusionPipeline.from_pretrained(tmp_path, trust_remote_code=True)
    assert pipe.transformer.config.scroll_cell_widths == {"bold": 35, "light": 34}
    frames = pipe(["HI", "HI"], num_inference_steps=1, look={"weight": "light"}, output_type="np").frames
    assert frames.shape == (2, 16, 32, 32, 1) and np.isfinite(frames).all()


@pytest.mark.parametrize("preset, video_shape", [("tiny", (16, 32, 32)), ("small-64", (16, 64, 64))])
def test_the_training_stream_renders_videos_of_the_size_of_the_model(tmp_path, preset, video_shape):
    args = arguments.parse_training_args(["--output_dir", str(tmp_path / "run"), "--model_preset", preset])
    model = training_model.build_training_model(args)
    assert model.video_size() == video_shape[:2]
    for looks in (False, True):
        stream = training_model.training_dataset(args, looks, model.video_size(), process_index=0, start_index=0)
        assert next(iter(stream))[1].shape == (1, *video_shape)  # (prompt, video) or (prompt, video, look)


def test_a_fine_tune_starts_from_the_given_pipeline_and_refuses_settings_that_would_change_it(tmp_path, capsys):
    base = build_pipeline("tiny")
    torch.nn.init.normal_(base.transformer.output_layer.projection.weight)  # weights no untrained preset has
    base.save_pretrained(tmp_path / "base")
    args = ["--output_dir", str(tmp_path / "run"), "--pretrained_model_name_or_path", str(tmp_path / "base")]
    model = training_model.build_training_model(arguments.parse_training_args(args))
    assert torch.equal(model.transformer.output_layer.projection.weight, base.transformer.output_layer.projection.weight)
    assert model.transformer.training and model.text_encoder.training
    for extra in (["--looks"], ["--prediction_type", "epsilon"]):
        with pytest.raises(SystemExit) as exit:
            arguments.parse_training_args(args + extra)
        assert exit.value.code == 2
        assert f"cannot be combined with {extra[0]}" in capsys.readouterr().err


def test_a_fine_tune_of_a_model_with_looks_trains_on_random_looks(tmp_path):
    build_pipeline("tiny", looks=True).save_pretrained(tmp_path / "base")
    args = arguments.parse_training_args(["--output_dir", str(tmp_path / "run"),
                                     "--pretrained_model_name_or_path", str(tmp_path / "base")])
    model = training_model.build_training_model(args)
    assert model.has_looks() and not args.looks
    samples = iter(training_model.training_dataset(args, model.has_looks(), model.video_size(), process_index=0,
                                                   start_index=0))
    looks = [next(samples)[2] for _ in range(40)]  # (prompt, video, look indices) each
    assert len({tuple(look.tolist()) for look in looks}) > 1
    plain = training_model.training_dataset(args, False, model.video_size(), process_index=0, start_index=0)
    assert len(next(iter(plain))) == 2


def test_checkpoint_pipeline_holds_the_raw_weights_of_the_step_it_names(uninterrupted_run):
    early, late = (training_model.checkpoint_pipeline(str(uninterrupted_run), step) for step in (2, 8))
    raw = load_file(uninterrupted_run / "checkpoint-8" / "model.safetensors")
    for name, weight in late.transformer.state_dict().items():
        torch.testing.assert_close(weight, raw[f"transformer.{name}"], rtol=0, atol=0)
    assert any(not torch.equal(before, after) for before, after in
               zip(early.transformer.state_dict().values(), late.transformer.state_dict().values()))


def test_checkpoint_pipeline_reads_a_run_saved_before_some_options_existed(uninterrupted_run, tmp_path):
    """Options a run's training_args.json lacks take their defaults: the run trained before they existed."""
    saved = json.loads((uninterrupted_run / "training_args.json").read_text())
    old_run = tmp_path / "old-run"
    old_run.mkdir()
    (old_run / "checkpoint-8").symlink_to(uninterrupted_run / "checkpoint-8")
    lacking = ("look_template_weight", "look_emphasis", "look_emphasis_below", "own_estimate_share")
    assert all(option in saved for option in lacking)
    (old_run / "training_args.json").write_text(json.dumps({k: v for k, v in saved.items() if k not in lacking}))
    old, current = (training_model.checkpoint_pipeline(str(run), 8) for run in (old_run, uninterrupted_run))
    for (name, weight), other in zip(old.transformer.state_dict().items(), current.transformer.state_dict().values()):
        torch.testing.assert_close(weight, other, rtol=0, atol=0, msg=name)
