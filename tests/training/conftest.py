"""Training runs that tests in several files read, launched once per session."""

import pytest
from launching import EMA_RUN, free_port, train_together


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """The EMA run on one process (training/configs/cpu_1_process.yaml) and on two processes
    (training/configs/cpu_2_processes.yaml), launched together: `{name: (output_dir, log)}`."""
    one, two = tmp_path_factory.mktemp("ema_run"), tmp_path_factory.mktemp("two_process_run")
    options = ("--main_process_port", str(free_port()))  # the config's fixed port may be taken
    results = train_together((one, EMA_RUN, {"config": "cpu_1_process.yaml"}),
                             (two, EMA_RUN, {"config": "cpu_2_processes.yaml", "launcher_options": options}))
    return {"ema_run": (one, results[0].stdout), "two_process_run": (two, results[1].stdout)}


@pytest.fixture(scope="session")
def ema_run(shared_runs):
    """The EMA run on one process: `(output_dir, log)`."""
    return shared_runs["ema_run"]


@pytest.fixture(scope="session")
def two_process_run(shared_runs):
    """The EMA run on two processes: `(output_dir, log)`."""
    return shared_runs["two_process_run"]

