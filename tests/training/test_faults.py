"""Faults: no rank outlives its launcher, one live run per output folder, and launcher setups that
Accelerate cannot honour on this machine stop the run instead of silently becoming another one."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from accelerate.utils import DistributedType
from launching import (
    ENDLESS_RUN,
    process_alive,
    run_settings,
    start_training,
    train,
    wait_for_log,
)

from diffusers_textvid.training import launcher, output_folder


def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----------------------------------------------------------------------------------------------
# The output folder lock, in this process
# ----------------------------------------------------------------------------------------------


def test_lock_records_pid_host_and_start_time_and_release_removes_it(tmp_path):
    descriptor, dead_run = output_folder.take_output_lock(str(tmp_path))
    record = json.loads((tmp_path / "train.lock").read_text())
    output_folder.release_output_lock(str(tmp_path), descriptor)

    assert dead_run == {}
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert abs(datetime.now(timezone.utc) - datetime.fromisoformat(record["started"])) < timedelta(minutes=1)
    assert not (tmp_path / "train.lock").exists()


def test_held_lock_refuses_a_second_taker_naming_the_holder(tmp_path):
    descriptor, _ = output_folder.take_output_lock(str(tmp_path))  # flock: a second open file conflicts
    holder = json.loads((tmp_path / "train.lock").read_text())
    try:
        with pytest.raises(output_folder.OutputFolderBusy) as busy:
            output_folder.take_output_lock(str(tmp_path))
    finally:
        output_folder.release_output_lock(str(tmp_path), descriptor)

    assert "in use by a live run" in str(busy.value)
    assert f"pid {holder['pid']} on {holder['host']}, started {holder['started']}" in str(busy.value)


def test_lock_file_of_a_dead_pid_on_this_host_is_taken_over(tmp_path):
    dead = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (tmp_path / "train.lock").write_text(json.dumps(dead))

    descriptor, dead_run = output_folder.take_output_lock(str(tmp_path))
    record = json.loads((tmp_path / "train.lock").read_text())
    output_folder.release_output_lock(str(tmp_path), descriptor)

    assert dead_run == dead
    assert record["pid"] == os.getpid()


@pytest.mark.parametrize("holder, reason", [
    ({"pid": os.getppid(), "host": socket.gethostname()}, "that pid is alive on this host"),
    ({"pid": 12345, "host": "another-host.example"}, "it ran on another host"),
], ids=["live pid", "another host"])
def test_lock_file_whose_run_may_be_alive_is_not_taken_over(tmp_path, holder, reason):
    content = json.dumps(holder | {"started": "2026-01-01T00:00:00+00:00"})
    (tmp_path / "train.lock").write_text(content)

    with pytest.raises(output_folder.OutputFolderBusy, match=reason) as busy:
        output_folder.take_output_lock(str(tmp_path))

    assert f"pid {holder['pid']} on {holder['host']}" in str(busy.value) and "delete the file" in str(busy.value)
    assert (tmp_path / "train.lock").read_text() == content  # left as it was


# ----------------------------------------------------------------------------------------------
# Setups Accelerate cannot honour here; the launcher watch
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("distributed_type, processes, environ, refused", [
    (DistributedType.MULTI_CPU, 2, {"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "2"},
     "asked for FSDP but Accelerate set up MULTI_CPU"),
    (DistributedType.DEEPSPEED, 2, {"ACCELERATE_USE_DEEPSPEED": "true", "WORLD_SIZE": "2"},
     "DeepSpeed is not supported"),
    # torchrun's ranks on a machine with no GPU and no ACCELERATE_USE_CPU: each one alone.
    (DistributedType.NO, 1, {"WORLD_SIZE": "2"}, "started 2 processes but Accelerate set up NO with 1"),
    (DistributedType.FSDP, 2, {"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "2"}, None),
    (DistributedType.MULTI_CPU, 2, {"WORLD_SIZE": "2"}, None),
    (DistributedType.NO, 1, {}, None),
], ids=["fsdp on cpu", "deepspeed", "ranks without ACCELERATE_USE_CPU", "fsdp", "multi cpu", "one process"])
def test_setup_problem_names_a_launcher_request_that_accelerate_did_not_honour(distributed_type, processes, environ, refused):
    problem = launcher.setup_problem(distributed_type, processes, environ)

    assert problem is None if refused is None else refused in problem


def test_launcher_watch_is_not_armed_without_a_launcher(monkeypatch):
    # Without a launcher the parent is a shell, which may exit while a `nohup` run must go on.
    for name in launcher.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    launcher.exit_with_launcher()

    assert "launcher-watch" not in [thread.name for thread in threading.enumerate()]


# ----------------------------------------------------------------------------------------------
# A live two-process run: a second run on its folder, then the death of its launcher.
# The tests below act on one run, in this order; each also passes alone.
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """A two-process run, training: `(output_dir, launcher, {rank: pid})`; ended at teardown."""
    folder = tmp_path_factory.mktemp("live_run")
    output_dir, log_path = folder / "run", folder / "launcher.log"
    launcher = start_training(output_dir, log_path, *ENDLESS_RUN, processes=2)
    ranks = {}
    try:
        log = wait_for_log(launcher, log_path, r"\] first batch: ", count=2)
        ranks = {rank: int(settings["pid"]) for rank, settings in run_settings(log).items()}
        yield output_dir, launcher, ranks
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        for pid in ranks.values():  # each rank leads a process group of its own (torch's launcher)
            if process_alive(pid) and str(output_dir) in Path(f"/proc/{pid}/cmdline").read_text():
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.slow
def test_second_run_on_a_live_runs_folder_fails_at_once_naming_it(live_run):
    output_dir, launcher, ranks = live_run
    lock = (output_dir / "train.lock").read_text()
    arguments = (output_dir / "training_args.json").read_text()
    for pid in ranks.values():  # paused, yet alive and holding the lock: the second run gets the CPU
        os.kill(pid, signal.SIGSTOP)
    try:
        second = train(output_dir, "--max_train_steps", "1", expect_success=False)
    finally:
        for pid in ranks.values():
            os.kill(pid, signal.SIGCONT)

    assert second.returncode != 0
    assert f"is in use by a live run (pid {ranks[0]} on {socket.gethostname()}, started " in second.stdout
    assert "first batch" not in second.stdout  # it stopped before training
    assert launcher.poll() is None and all(process_alive(pid) for pid in ranks.values())  # the first run goes on
    assert (output_dir / "train.lock").read_text() == lock
    assert (output_dir / "training_args.json").read_text() == arguments


@pytest.mark.slow
def test_ranks_exit_within_10_seconds_when_the_launchers_process_group_is_killed(live_run):
    output_dir, launcher, ranks = live_run
    assert ranks.keys() == {0, 1} and all(process_alive(pid) for pid in ranks.values())
    # torch's launcher starts each rank in a session of its own: killing its group spares them.
    assert all(os.getpgid(pid) != launcher.pid for pid in ranks.values())

    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
    killed = time.monotonic()
    while any(process_alive(pid) for pid in ranks.values()) and time.monotonic() - killed < 10:
        time.sleep(0.1)

    assert not [rank for rank, pid in ranks.items() if process_alive(pid)]
    assert not (output_dir / "model_index.json").exists()
