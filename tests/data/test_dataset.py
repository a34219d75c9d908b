import itertools

import numpy as np
import pytest
import torch

from diffusers_textvid.data.dataset import RandomLookDataset, ScrollingTextDataset, video_to_model_space
from diffusers_textvid.data.looks import LOOK_FACTORS
from diffusers_textvid.data.render import render_text_video
from diffusers_textvid.data.splits import HoldOuts


def take(dataset, count: int, start: int = 0) -> list[tuple[str, torch.Tensor]]:
    return list(itertools.islice(iter(dataset), start, start + count))


def prompts_of(items) -> list[str]:
    return [item[0] for item in items]


def test_items_are_a_prompt_and_its_video_in_model_space():
    for prompt, video in take(ScrollingTextDataset(seed=0), 5):
        assert isinstance(prompt, str)
        assert video.dtype == torch.float32 and video.shape == (1, 16, 32, 32)
        assert video.min() >= -1 and video.max() <= 1
        torch.testing.assert_close(video, video_to_model_space(render_text_video(prompt)))


@pytest.mark.parametrize("num_frames, frame_size", [(16, 64), (64, 64)])
def test_items_of_a_larger_size_are_renders_of_that_size(num_frames, frame_size):
    size = {"num_frames": num_frames, "frame_size": frame_size}
    for prompt, video in take(ScrollingTextDataset(seed=0, look={"weight": "light"}, **size), 3):
        assert video.shape == (1, num_frames, frame_size, frame_size)
        torch.testing.assert_close(video, video_to_model_space(render_text_video(prompt, weight="light", **size)))
    for prompt, video, look in take(RandomLookDataset(seed=0, **size), 3):
        factors = {factor: values[i] for (factor, values), i in zip(LOOK_FACTORS.items(), look.tolist())}
        assert torch.equal(video, video_to_model_space(render_text_video(prompt, **size, **factors)))
    assert prompts_of(take(ScrollingTextDataset(seed=0, **size), 5)) == prompts_of(take(ScrollingTextDataset(), 5))


@pytest.mark.parametrize("size, message", [({"num_frames": 1}, "num_frames"), ({"frame_size": 8}, "frame_size")])
def test_a_size_the_renderer_cannot_draw_is_refused_when_the_stream_is_made(size, message):
    with pytest.raises(ValueError, match=message):
        ScrollingTextDataset(seed=0, **size)


def test_video_to_model_space_maps_black_to_minus_one_and_white_to_one():
    video = video_to_model_space(np.array([[[0, 255]]], dtype=np.uint8))
    assert video.tolist() == [[[[-1.0, 1.0]]]]


def test_same_seed_gives_the_same_stream():
    first, second = take(ScrollingTextDataset(seed=3), 10), take(ScrollingTextDataset(seed=3), 10)
    assert prompts_of(first) == prompts_of(second)
    for (_, a), (_, b) in zip(first, second):
        torch.testing.assert_close(a, b)


def test_different_seeds_give_different_streams():
    assert prompts_of(take(ScrollingTextDataset(seed=0), 10)) != prompts_of(take(ScrollingTextDataset(seed=1), 10))


def test_different_process_indices_give_different_streams():
    streams = [prompts_of(take(ScrollingTextDataset(seed=0, process_index=p), 10)) for p in (0, 1)]
    assert streams[0] != streams[1]


def test_start_index_resumes_the_uninterrupted_stream():
    uninterrupted = prompts_of(take(ScrollingTextDataset(seed=5), 20))
    resumed = prompts_of(take(ScrollingTextDataset(seed=5, start_index=7), 13))
    assert resumed == uninterrupted[7:]


def test_stream_honours_the_hold_outs():
    with_hold_outs = prompts_of(take(ScrollingTextDataset(seed=0), 300))
    without = prompts_of(take(ScrollingTextDataset(seed=0, hold_outs=HoldOuts(False, False)), 300))
    assert not any(prompt.startswith("A") for prompt in with_hold_outs)
    assert any(prompt.startswith("A") for prompt in without)


def test_dataloader_workers_do_not_repeat_each_other():
    loader = torch.utils.data.DataLoader(ScrollingTextDataset(seed=0), batch_size=None, num_workers=2)
    items = list(itertools.islice(loader, 16))
    assert all(video.shape == (1, 16, 32, 32) for _, video in items)
    worker_streams = prompts_of(items[0::2]), prompts_of(items[1::2])  # the loader alternates workers
    assert not any(a == b for a, b in zip(*worker_streams))


def test_random_look_items_are_the_prompt_in_the_drawn_look_with_the_prompts_of_the_plain_stream():
    items = take(RandomLookDataset(seed=4), 200)
    assert prompts_of(items) == prompts_of(take(ScrollingTextDataset(seed=4), 200))
    for prompt, video, look in items[:20]:
        factors = {factor: values[i] for (factor, values), i in zip(LOOK_FACTORS.items(), look.tolist())}
        assert torch.equal(video, video_to_model_space(render_text_video(prompt, **factors)))
    looks = torch.stack([look for _, _, look in items])  # (200, K)
    for column, values in enumerate(LOOK_FACTORS.values()):  # every value drawn, none far from uniform
        counts = torch.bincount(looks[:, column], minlength=len(values))
        assert len(counts) == len(values) and counts.min() > 200 / len(values) / 2, counts
    batch = next(iter(torch.utils.data.DataLoader(RandomLookDataset(seed=4), batch_size=8)))
    assert batch[2].shape == (8, len(LOOK_FACTORS)) and batch[2].dtype == torch.long
