"""Run training/train_textvid.py so that it stops for good before writing one checkpoint, for tests only.

`HANG_BEFORE_CHECKPOINT=N` in the environment: the run sleeps (until killed) when it is about to save
`checkpoint-N`. A test that kills the run once an earlier checkpoint is complete then always kills it
between the two, however slow or loaded the machine, where a race with the running loop could miss.
"""

import os
import runpy
import sys
import time
from pathlib import Path

from accelerate import Accelerator

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "train_textvid.py"
HANG_AT = f"checkpoint-{os.environ['HANG_BEFORE_CHECKPOINT']}.partial"
save_state = Accelerator.save_state


def save_state_or_hang(accelerator, output_dir=None, *args, **kwargs):
    if output_dir is not None and os.path.basename(os.path.normpath(output_dir)) == HANG_AT:
        while True:
            time.sleep(60)
    return save_state(accelerator, output_dir, *args, **kwargs)


Accelerator.save_state = save_state_or_hang
sys.argv = [str(SCRIPT), *sys.argv[1:]]
runpy.run_path(str(SCRIPT), run_name="__main__")
