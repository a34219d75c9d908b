"""The launcher and the processes it starts: no rank outlives its launcher, and a launcher setup that
Accelerate cannot honour here stops the run instead of silently becoming another one."""

import os
import sys
import threading
import time

from accelerate.utils import DistributedType

# Set in the environment of every process that `accelerate launch` or `torchrun` starts.
LAUNCHER_VARIABLES = ("ACCELERATE_MIXED_PRECISION", "TORCHELASTIC_RUN_ID")


def exit_with_launcher(poll_seconds: float = 1.0):
    """End this process within `poll_seconds` of the death of the launcher that started it.

    `torchrun` (and `accelerate launch` with several processes) starts each rank in a session of its
    own, so killing the launcher's process group leaves the ranks training on and writing the output
    folder. A daemon thread watches the parent pid and ends the process when it changes (a launcher
    that is pid 1, a container's entry point, takes the whole container with it anyway). Not armed
    without a launcher: the parent is then a shell, which may exit while a `nohup` run goes on.
    """
    if not any(name in os.environ for name in LAUNCHER_VARIABLES):
        return
    launcher = os.getppid()

    def watch():
        while os.getppid() == launcher:
            time.sleep(poll_seconds)
        try:
            print(f"The launcher (pid {launcher}) is gone: process {os.getpid()} exits.", file=sys.stderr, flush=True)
        finally:  # the launcher held the other end of stderr: printing may fail, exiting must not
            os._exit(1)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


def setup_problem(distributed_type: DistributedType, num_processes: int, environ=os.environ) -> str | None:
    """Why the setup Accelerate made cannot train this model as the launcher asked, or None if it can."""
    launched = int(environ.get("WORLD_SIZE", "1"))
    if launched > num_processes:
        return (f"the launcher started {launched} processes but Accelerate set up {distributed_type.value} with "
                f"{num_processes}, so each would train alone. On a machine without GPUs, launch with "
                f"ACCELERATE_USE_CPU=1 (see the README).")
    if distributed_type == DistributedType.DEEPSPEED or environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return ("DeepSpeed is not supported: it casts the weights to bf16 itself while the loss feeds the DiT "
                "fp32 videos, and at these model sizes ZeRO saves nothing that matters. Use "
                "training/configs/gpu_multi.yaml (DDP) or training/configs/fsdp.yaml.")
    if environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and distributed_type != DistributedType.FSDP:
        return (f"the launcher asked for FSDP but Accelerate set up {distributed_type.value}: it shards only on "
                f"accelerators (GPUs and the like), so on this machine the run would be plain data parallelism. "
                f"On CPUs use training/configs/cpu_2_processes.yaml with ACCELERATE_USE_CPU=1.")
    return None
