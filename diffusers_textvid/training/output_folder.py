"""One live run owns an output folder: an `flock` on `output_dir/train.lock`, which the kernel drops
when the run dies, and a record of the holder for the message a second run prints."""

import json
import os
import socket
import sys
from contextlib import contextmanager
from datetime import datetime, timezone

from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list

try:
    import fcntl
except ImportError:  # Windows: the output folder is not locked there (see lock_output_folder)
    fcntl = None

logger = get_logger(__name__)

LOCK_FILE = "train.lock"


class OutputFolderBusy(Exception):
    """Another run holds, or may hold, the output folder."""


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process on this host (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        return True
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except OSError:  # no /proc (macOS): signal 0 reached it
        return True
    return state != "Z"


def describe_holder(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"


def take_output_lock(output_dir: str) -> tuple[int, dict]:
    """Lock `output_dir` for this process; return the file descriptor that holds the lock (close it to
    release) and the record of the dead run whose lock file was taken over (`{}` if none).

    The lock is an `flock` on `output_dir/train.lock`, which the kernel drops when the process dies;
    the file records the holder (pid, host, start time) for the message a second run prints. A file
    left by a run that died without removing it is taken over when its pid is dead on this host; one
    naming another host, or a live pid, is not, since its run cannot be ruled out (a file system may
    not share locks between hosts). Raises `OutputFolderBusy` naming the run in the way.
    """
    path = os.path.join(output_dir, LOCK_FILE)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_lock(descriptor)
            os.close(descriptor)
            raise OutputFolderBusy(
                f"{output_dir} is in use by a live run ({describe_holder(holder)}; lock file {path}). "
                f"Let it finish or stop it, or choose another --output_dir."
            ) from None
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the previous holder removed the file between our open and flock: lock the new one
    holder = read_lock(descriptor)
    here = socket.gethostname()
    if holder:
        pid = holder.get("pid")
        if holder.get("host") != here:
            reason = "it ran on another host, where this process cannot check its pid"
        elif isinstance(pid, int) and process_alive(pid):
            reason = "that pid is alive on this host"
        else:
            reason = None
        if reason is not None:
            os.close(descriptor)
            raise OutputFolderBusy(
                f"{path} names a run that may still be alive ({describe_holder(holder)}): {reason}. "
                f"If that run has ended, delete the file; otherwise choose another --output_dir."
            )
    record = {"pid": os.getpid(), "host": here, "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(record).encode(), 0)
    return descriptor, holder


def read_lock(descriptor: int) -> dict:
    """The holder a lock file records; `{}` when it is empty, `{"pid": None, ...}` when unreadable."""
    content = os.pread(descriptor, 4096, 0)
    if not content:
        return {}
    try:
        holder = json.loads(content)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):  # cut short by a run killed while writing it
        holder = {"pid": None, "host": socket.gethostname(), "started": None}
    return holder


def release_output_lock(output_dir: str, descriptor: int):
    """Remove the lock file, then drop the lock (in this order: see the check in `take_output_lock`)."""
    os.remove(os.path.join(output_dir, LOCK_FILE))
    os.close(descriptor)


@contextmanager
def lock_output_folder(accelerator: Accelerator, output_dir: str):
    """Hold the lock of `output_dir` inside the block (the main process takes it for the run).

    When another run holds it, every process leaves at once with the same error, before writing anything.
    """
    descriptor, dead_run, error = None, {}, None
    if accelerator.is_main_process:
        try:
            os.makedirs(output_dir, exist_ok=True)
            if fcntl is not None:
                descriptor, dead_run = take_output_lock(output_dir)
        except (OutputFolderBusy, OSError) as problem:
            error = str(problem)
        if fcntl is None:
            logger.warning(f"No file locks on {sys.platform}: nothing stops a second run from writing {output_dir}.")
        if dead_run:
            logger.warning(f"Took over the lock of {output_dir} from a dead run ({describe_holder(dead_run)}).")
    if accelerator.num_processes > 1:
        error = broadcast_object_list([error])[0]
    if error is not None:
        raise SystemExit(f"error: {error}")
    try:
        yield
    finally:
        if descriptor is not None:
            release_output_lock(output_dir, descriptor)
