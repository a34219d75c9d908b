"""Run training/train_textvid.py under FSDP on CPU ranks, for tests only.

Accelerate 1.15 sets up FSDP only on accelerators: on CPU ranks it picks MULTI_CPU, and the script
refuses to run an FSDP launch that way. PyTorch's FSDP2 itself works on CPUs with gloo, so this
launcher entry point switches Accelerate's distributed type to FSDP after it made its choice, then
runs the script. That exercises the script's sharded paths (EMA shards, gathering for validation
and saving) on a machine without GPUs; it proves nothing about Accelerate's own GPU setup.
"""

import runpy
import sys
from pathlib import Path

import accelerate.state
from accelerate.utils import DistributedType

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "train_textvid.py"
choose_setup = accelerate.state.AcceleratorState.__init__


def choose_fsdp(state, *args, **kwargs):
    choose_setup(state, *args, **kwargs)
    if state.distributed_type == DistributedType.MULTI_CPU and kwargs.get("fsdp_plugin") is not None:
        # Both shared states: Accelerate refreshes the one from the other while preparing.
        state.distributed_type = DistributedType.FSDP
        accelerate.state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        state.fsdp_plugin = kwargs["fsdp_plugin"]


accelerate.state.AcceleratorState.__init__ = choose_fsdp
sys.argv = [str(SCRIPT), *sys.argv[1:]]
runpy.run_path(str(SCRIPT), run_name="__main__")
