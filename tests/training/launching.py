"""Launching training/train_textvid.py as users do: `accelerate launch` in a subprocess, on the CPU.

Every run uses the `tiny` preset, batches of at most 4 and a few steps, in fp32: this CPU has no
native bf16, where bf16 matrix products are hundreds of times slower than fp32 ones.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "training" / "train_textvid.py"
FSDP_ON_CPU = Path(__file__).with_name("fsdp_on_cpu.py")  # the script under FSDP on CPU ranks (see that file)
CONFIGS = REPO_ROOT / "training" / "configs"
ACCELERATE = Path(sys.executable).with_name("accelerate")
TRANSFORMER_WEIGHTS = Path("transformer") / "diffusion_pytorch_model.safetensors"
TEXT_ENCODER_WEIGHTS = Path("text_encoder") / "model.safetensors"
VALIDATION_PROMPTS = ["HELLO", "AB12", "AS", "Z9"]  # the script's default --validation_prompts

# The run of the task description: EMA, two checkpoints, validation at the last step.
EMA_RUN = ["--max_train_steps", "6", "--train_batch_size", "4", "--checkpointing_steps", "3",
           "--validation_steps", "6", "--validation_inference_steps", "2", "--use_ema"]
# A run that is still training when a test acts on it, and never writes a checkpoint meanwhile.
ENDLESS_RUN = ["--max_train_steps", "1000000", "--train_batch_size", "2", "--checkpointing_steps", "1000000",
               "--validation_steps", "1000000"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def script_arguments(output_dir: Path, *arguments: str) -> list[str]:
    return ["--model_preset", "tiny", "--output_dir", str(output_dir), "--report_to", "none", *arguments]


def launch_command(output_dir: Path, *arguments: str, processes: int = 1, config: str | None = None,
                   launcher_options: tuple[str, ...] = (), script: Path = SCRIPT) -> list[str]:
    """`accelerate launch ... train_textvid.py ...`: with every launcher setting on the command line,
    or with `--config_file training/configs/{config}` and `launcher_options` overriding it."""
    if config is not None:
        launcher = [str(ACCELERATE), "launch", "--config_file", str(CONFIGS / config), *launcher_options]
    else:
        launcher = [str(ACCELERATE), "launch", "--num_processes", str(processes), "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no"]
        if processes > 1:
            launcher += ["--multi_gpu", "--main_process_port", str(free_port())]
    return launcher + [str(script), *script_arguments(output_dir, *arguments)]


def training_env(**changes: str | None) -> dict[str, str]:
    """The environment of a CPU run that reaches no network; a `None` value removes the variable."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "OMP_NUM_THREADS": "1"}
    env.update(changes)
    return {name: value for name, value in env.items() if value is not None}


def train(output_dir: Path, *arguments: str, expect_success: bool = True, **options):
    """Run one training to its end; return the `CompletedProcess` with stdout and stderr together.
    `options`: those of `launch_command`, and `env`."""
    return train_together((output_dir, arguments, options), expect_success=expect_success)[0]


def train_together(*runs: tuple, expect_success: bool = True) -> list[subprocess.CompletedProcess]:
    """Run several trainings at once, each given as `(output_dir, arguments, options)` like `train`.

    A run is mostly one process importing its libraries: two at a time keep both cores of a small
    machine busy, where one after the other would leave one idle.
    """
    logs, processes = [], []
    with tempfile.TemporaryDirectory() as folder:
        for index, (output_dir, arguments, options) in enumerate(runs):
            options = dict(options)
            env = options.pop("env", None) or training_env()
            logs.append(Path(folder) / f"run_{index}.log")
            with open(logs[-1], "w") as log:
                processes.append(subprocess.Popen(
                    launch_command(output_dir, *arguments, **options), cwd=REPO_ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT, text=True,
                ))
        try:
            for process in processes:
                process.wait(timeout=900)
        finally:  # a run that failed to end: its ranks follow the launcher
            for process in processes:
                if process.poll() is None:
                    process.kill()
        results = [subprocess.CompletedProcess(process.args, process.returncode, log.read_text())
                   for process, log in zip(processes, logs)]
    if expect_success:
        for result in results:
            assert result.returncode == 0, result.stdout[-5000:]
    return results


def start_training(output_dir: Path, log_path: Path, *arguments: str, processes: int = 1) -> subprocess.Popen:
    """Start a training in the background, in a process group of its own, logging to `log_path`."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            launch_command(output_dir, *arguments, processes=processes), cwd=REPO_ROOT, env=training_env(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_for_log(process: subprocess.Popen, log_path: Path, pattern: str, count: int = 1, timeout: float = 600) -> str:
    """Wait until `pattern` matches `count` times in the log of the running `process`; return the log."""
    deadline = time.monotonic() + timeout
    while True:
        log = log_path.read_text()
        if len(re.findall(pattern, log)) >= count:
            return log
        assert process.poll() is None, f"the run ended (code {process.returncode}):\n{log[-5000:]}"
        assert time.monotonic() < deadline, f"{pattern!r} never appeared {count} times:\n{log[-5000:]}"
        time.sleep(0.2)


def rank_lines(log: str, message: str) -> dict[int, str]:
    """`{rank: rest of line}` for the lines `[RANK r] {message}...` of an Accelerate log."""
    return {int(rank): rest for rank, rest in re.findall(rf"\[RANK (\d+)\] {re.escape(message)}(.*)", log)}


def run_settings(log: str) -> dict[int, dict[str, str]]:
    """`{rank: {"distributed_type": ..., "processes": ..., "pid": ...}}` from each rank's start-of-run line."""
    return {rank: dict(re.findall(r"(\w+)=(\S+)", "distributed_type=" + rest))
            for rank, rest in rank_lines(log, "distributed_type=").items()}


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped by its new parent, does not)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]):
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
