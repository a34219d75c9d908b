"""Endless streams of training items rendered on the fly: (prompt, video), or (prompt, video, look) in random looks."""

import numpy as np
import torch

from .render import FRAME_SIZE, NUM_FRAMES, check_video_size, render_text_video
from .splits import HoldOuts, sample_training_prompt
from .looks import LOOK_FACTORS, check_look


def video_to_model_space(video: np.ndarray) -> torch.Tensor:
    """uint8 `(F, H, W)` -> float32 `(1, F, H, W)` in [-1, 1], the range the model sees."""
    return torch.from_numpy(video).float().div(127.5).sub(1.0).unsqueeze(0)


class ScrollingTextDataset(torch.utils.data.IterableDataset):
    """Yields `(prompt, video)` forever; `video` is float `(1, F, S, S)` in [-1, 1], `num_frames` frames of
    `frame_size` pixels (`render_text_video`'s sizes; `ValueError` for one it cannot draw).

    Item `i` of the stream is a pure function of `(seed, process_index, worker_id, i)`, so processes
    and DataLoader workers never repeat each other, and a resumed run that starts at
    `start_index` sees exactly what an uninterrupted run would have seen. Every video has the look
    `look` (factors of `LOOK_FACTORS`; those left out take their first value).
    """

    def __init__(self, seed: int = 0, process_index: int = 0, start_index: int = 0, hold_outs: HoldOuts = HoldOuts(),
                 look: dict | None = None, num_frames: int = NUM_FRAMES, frame_size: int = FRAME_SIZE):
        super().__init__()
        self.seed = seed
        self.process_index = process_index
        self.start_index = start_index
        self.hold_outs = hold_outs
        self.look = check_look(look or {})
        self.video_size = check_video_size(num_frames, frame_size)  # (F, S)

    def render(self, prompt: str, look: dict) -> torch.Tensor:
        """float `(1, F, S, S)`: `prompt` in the look `look`, at this stream's size, in the model's range."""
        num_frames, frame_size = self.video_size
        return video_to_model_space(render_text_video(prompt, num_frames=num_frames, frame_size=frame_size, **look))

    def prompt_at(self, index: int, worker_id: int = 0) -> str:
        """The prompt of item `index` of this stream."""
        rng = np.random.default_rng((self.seed, self.process_index, worker_id, index))
        return sample_training_prompt(rng, self.hold_outs)

    def item(self, index: int, worker_id: int) -> tuple:
        """Item `index` of worker `worker_id`'s stream: `(prompt, video)`."""
        prompt = self.prompt_at(index, worker_id)
        return prompt, self.render(prompt, self.look)

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        index = self.start_index + worker_id
        while True:
            yield self.item(index, worker_id)
            index += num_workers


class RandomLookDataset(ScrollingTextDataset):
    """Yields `(prompt, video, look)` forever: the prompts of `ScrollingTextDataset`, each in a look drawn
    uniformly from every combination of `LOOK_FACTORS`. `look` is long `(K,)`, the index of each factor's
    value in `LOOK_FACTORS` order, so a DataLoader batches it into `(B, K)`."""

    def __init__(self, seed: int = 0, process_index: int = 0, start_index: int = 0, hold_outs: HoldOuts = HoldOuts(),
                 num_frames: int = NUM_FRAMES, frame_size: int = FRAME_SIZE):
        super().__init__(seed, process_index, start_index, hold_outs, num_frames=num_frames, frame_size=frame_size)

    def look_at(self, index: int, worker_id: int = 0) -> list[int]:
        """The value index of each factor for item `index`: its own random stream, so the prompts are
        those of `ScrollingTextDataset` with the same arguments."""
        rng = np.random.default_rng((self.seed, self.process_index, worker_id, index, 1))
        return [int(rng.integers(len(values))) for values in LOOK_FACTORS.values()]

    def item(self, index: int, worker_id: int) -> tuple:
        prompt = self.prompt_at(index, worker_id)
        look = self.look_at(index, worker_id)
        factors = {factor: values[i] for (factor, values), i in zip(LOOK_FACTORS.items(), look)}
        return prompt, self.render(prompt, factors), torch.tensor(look)
