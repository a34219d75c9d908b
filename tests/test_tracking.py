"""Experiment tracking: `--report_to` checked before training, validation videos logged as videos."""

import io
import sys
import types

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from diffusers_textvid.tracking import check_report_to, log_validation_videos, moviepy_editor_available

VIDEOS = np.linspace(0, 1, 2 * 16 * 32 * 32).reshape(2, 16, 32, 32, 1)  # (B, F, H, W, 1), like the pipeline's "np"


class FakeTracker:
    def __init__(self, name, writer=None):
        self.name, self.writer, self.logged = name, writer, []

    def log(self, values, step):
        self.logged.append((values, step))


class FakeAccelerator:
    def __init__(self, *trackers):
        self.trackers = list(trackers)


def test_none_and_all_pass_through():
    assert check_report_to("none") is None
    assert check_report_to("all") == "all"


def test_an_installed_tracker_is_accepted():
    assert check_report_to("tensorboard") == ["tensorboard"]


def test_a_tracker_whose_package_is_missing_fails_naming_the_install(monkeypatch):
    import diffusers_textvid.tracking as tracking

    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None if name == "wandb" else object())
    with pytest.raises(ValueError, match="needs wandb, which is not installed: pip install wandb"):
        check_report_to("tensorboard,wandb")


def test_an_unknown_tracker_fails_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown tracker.*tensorboard, wandb"):
        check_report_to("tensorbored")


def test_tensorboard_gets_one_animated_gif_per_prompt(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    log_validation_videos(FakeAccelerator(FakeTracker("tensorboard", writer)), ["HI", "AB"], VIDEOS, step=7)
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"validation/HI", "validation/AB"} <= set(events.Tags()["images"])
    image = events.Images("validation/HI")[0]
    assert image.step == 7 and (image.width, image.height) == (32, 32)
    if not moviepy_editor_available():  # written directly: check it is the animation itself
        with Image.open(io.BytesIO(image.encoded_image_string)) as gif:
            assert gif.format == "GIF" and gif.n_frames == 16


def test_wandb_gets_a_video_per_prompt(monkeypatch):
    made = []

    def video(data, caption=None, fps=None, format=None):
        made.append((data.shape, data.dtype, caption, format))
        return caption

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(Video=video))
    tracker = FakeTracker("wandb")
    log_validation_videos(FakeAccelerator(tracker), ["HI", "AB"], VIDEOS, step=3)
    assert made == [((16, 1, 32, 32), np.uint8, "HI", "gif"), ((16, 1, 32, 32), np.uint8, "AB", "gif")]
    assert tracker.logged == [({"validation": ["HI", "AB"]}, 3)]
