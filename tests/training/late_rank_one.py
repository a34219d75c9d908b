"""Run training/train_textvid.py with process 1 writing its part of every checkpoint late, for tests only.

Every process writes into `checkpoint-N.partial` (process 1 at least its random state). Delaying
process 1 makes certain what a loaded machine does by chance: a main process that renamed the folder
as soon as its own part was written would leave process 1 to write into a new, stray `.partial`.
"""

import runpy
import sys
import time
from pathlib import Path

from accelerate import Accelerator

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "train_textvid.py"
DELAY_SECONDS = 3.0
save_state = Accelerator.save_state


def save_state_late_on_process_one(accelerator, *args, **kwargs):
    if accelerator.process_index == 1:
        time.sleep(DELAY_SECONDS)
    return save_state(accelerator, *args, **kwargs)


Accelerator.save_state = save_state_late_on_process_one
sys.argv = [str(SCRIPT), *sys.argv[1:]]
runpy.run_path(str(SCRIPT), run_name="__main__")
