"""Every launcher config under training/configs/ that this CPU machine can run, run; the README table
says what each config was run on. The GPU configs are run by training/gpu_smoke.sh on a GPU machine."""

import re

import pytest
import torch
from launching import (
    CONFIGS,
    EMA_RUN,
    FSDP_ON_CPU,
    REPO_ROOT,
    TEXT_ENCODER_WEIGHTS,
    TRANSFORMER_WEIGHTS,
    assert_same_weights,
    free_port,
    rank_lines,
    run_settings,
    train,
    train_together,
)
from safetensors.torch import load_file


def readme_config_table() -> dict[str, str]:
    """`{config file name: row}` of the table in the README's Training section."""
    training = REPO_ROOT.joinpath("README.md").read_text().split("\n## Training\n", 1)[1].split("\n## ", 1)[0]
    return {name: row for row, name in re.findall(r"^(\| `(\w+\.yaml)` \|.*)$", training, flags=re.MULTILINE)}


def test_readme_table_has_one_row_per_config_file():
    assert readme_config_table().keys() == {path.name for path in CONFIGS.glob("*.yaml")}


@pytest.mark.slow
def test_cpu_1_process_config_runs_one_fp32_process(ema_run):
    _, log = ema_run  # launched with cpu_1_process.yaml

    settings = run_settings(log)
    assert settings.keys() == {0}
    assert [settings[0][key] for key in ("distributed_type", "processes", "mixed_precision", "device")] == [
        "NO", "1", "no", "cpu"]


@pytest.mark.slow
def test_cpu_2_processes_config_runs_two_fp32_ranks(two_process_run):
    _, log = two_process_run  # launched with cpu_2_processes.yaml

    settings = run_settings(log)
    assert settings.keys() == {0, 1}
    for rank in settings.values():
        assert (rank["distributed_type"], rank["processes"], rank["mixed_precision"]) == ("MULTI_CPU", "2", "no")


@pytest.mark.slow
def test_multi_node_config_on_two_localhost_machines_trains_like_one_machine_with_two_processes(
    tmp_path, two_process_run
):
    # multi_node.yaml with its GPU settings overridden: one fp32 CPU process on each of two "machines",
    # both given the output folder, as on a shared file system (the main process writes it).
    port = str(free_port())
    machines = train_together(*[
        (tmp_path, EMA_RUN, {"config": "multi_node.yaml", "launcher_options": (
            "--num_processes", "2", "--num_machines", "2", "--machine_rank", str(rank),
            "--main_process_ip", "127.0.0.1", "--main_process_port", port, "--mixed_precision", "no")})
        for rank in (0, 1)
    ])
    logs = [machine.stdout for machine in machines]

    settings = run_settings(logs[0]) | run_settings(logs[1])
    assert settings.keys() == {0, 1}
    assert {(s["distributed_type"], s["processes"], s["mixed_precision"]) for s in settings.values()} == {
        ("MULTI_CPU", "2", "no")}
    checksums = rank_lines(logs[0], "parameter checksum ") | rank_lines(logs[1], "parameter checksum ")
    assert checksums == rank_lines(two_process_run[1], "parameter checksum ")
    for weights in (TRANSFORMER_WEIGHTS, TEXT_ENCODER_WEIGHTS):
        assert_same_weights(load_file(tmp_path / weights), load_file(two_process_run[0] / weights))


@pytest.mark.slow
def test_fsdp_config_on_two_cpu_ranks_stops_at_once_saying_it_would_not_shard(tmp_path):
    # Accelerate sets up FSDP only on accelerators: on CPUs it would quietly run plain DDP instead.
    result = train(tmp_path / "run", "--max_train_steps", "1", config="fsdp.yaml", launcher_options=(
        "--num_processes", "2", "--main_process_port", str(free_port())), expect_success=False)

    settings = run_settings(result.stdout)
    assert result.returncode != 0
    assert settings.keys() == {0, 1} and {s["distributed_type"] for s in settings.values()} == {"MULTI_CPU"}
    assert len(re.findall(r"error: the launcher asked for FSDP but Accelerate set up MULTI_CPU", result.stdout)) == 2
    assert not (tmp_path / "run").exists()  # stopped before writing anything


@pytest.mark.slow
def test_fsdp_config_with_accelerates_cpu_restriction_lifted_trains_like_ddp(tmp_path, two_process_run):
    # fsdp_on_cpu.py makes Accelerate set up FSDP on the CPU ranks: parameters, gradients, optimizer
    # and EMA states are shards, and validation and the saved pipeline need the gathered weights.
    result = train(tmp_path, *EMA_RUN, config="fsdp.yaml", script=FSDP_ON_CPU, launcher_options=(
        "--num_processes", "2", "--main_process_port", str(free_port()), "--mixed_precision", "no"))

    settings = run_settings(result.stdout)
    assert settings.keys() == {0, 1} and {s["distributed_type"] for s in settings.values()} == {"FSDP"}
    checksums = rank_lines(result.stdout, "parameter checksum ")
    assert checksums.keys() == {0, 1} and checksums[0] == checksums[1]  # computed from the gathered shards
    assert "Saving FSDP model" in result.stdout and (tmp_path / "checkpoint-6" / "pytorch_model_fsdp.bin").is_file()
    # Sharded or replicated, the same sums: the saved EMA weights agree with DDP's up to rounding.
    for weights in (TRANSFORMER_WEIGHTS, TEXT_ENCODER_WEIGHTS):
        fsdp, ddp = load_file(tmp_path / weights), load_file(two_process_run[0] / weights)
        assert fsdp.keys() == ddp.keys()
        for name in fsdp:
            torch.testing.assert_close(fsdp[name], ddp[name], rtol=0, atol=1e-6)
    assert re.findall(r"step 6: validation loss (\S+)", result.stdout) == re.findall(
        r"step 6: validation loss (\S+)", two_process_run[1])
