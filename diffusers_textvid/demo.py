"""`textvid demo`: a Gradio page that generates videos in the browser (the `demo` extra).

    textvid demo                       # http://127.0.0.1:7860
    textvid demo --model looks --port 8000

The page's Generate button is the API endpoint `/generate`: the prompt comes first, every other input
has a default, and the first output is the path of the video as an animated GIF. One generation runs
at a time (Gradio's queue); a second visitor sees their place in the queue.
"""

import os
import random
import tempfile

import gradio as gr
import numpy as np
import torch
from diffusers.utils import export_to_gif
from PIL import Image

from .cli import LOOK_FLAGS, UsageError, load_pipeline
from .data.looks import check_look
from .explain.attention import prompt_cross_attention
from .schedulers import DEFAULT_SCHEDULER, SCHEDULERS, swap_scheduler

ANY = "any"  # a look control left to the model
SCALE = 4  # the videos are 32x32: enlarge them for the page
GAP = 2  # grey pixels between videos side by side
DENOISING_ROWS = 6  # rows of the denoising grid: evenly spaced steps, the last included
MAX_SEEDS = 4
EXAMPLES = [  # prompt, model, direction, speed, position, weight
    ["HELLO", "default", ANY, ANY, ANY, ANY],
    ["AS", "default", ANY, ANY, ANY, ANY],
    ["Q", "default", ANY, ANY, ANY, ANY],
    ["AB12", "looks", "left-to-right", "fast", "high", "light"],
]


def enlarge(frames: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """uint8 `(..., H, W)` -> `(..., H * scale, W * scale)`, nearest neighbour."""
    return frames.repeat(scale, axis=-2).repeat(scale, axis=-1)


def side_by_side(videos: np.ndarray) -> np.ndarray:
    """uint8 `(V, F, H, W)` -> `(F, H, V * (W + GAP) - GAP)`: the videos next to each other, grey between."""
    padded = np.pad(videos, ((0, 0), (0, 0), (0, 0), (0, GAP)), constant_values=96)
    return np.concatenate(list(padded), axis=2)[:, :, :-GAP]


def write_gif(frames: np.ndarray, folder: str, name: str) -> str:
    """uint8 `(F, H, W)` frames, enlarged, as an 8 frames/s GIF in `folder`; its path."""
    path = os.path.join(folder, name)
    export_to_gif([Image.fromarray(frame) for frame in enlarge(frames)], path, fps=8)
    return path


def to_uint8(frames: np.ndarray, low: float = 0.0) -> np.ndarray:
    """Floats in [`low`, 1] -> uint8 in [0, 255]."""
    return np.round(np.clip((frames - low) / (1 - low), 0, 1) * 255).astype(np.uint8)


class Demo:
    """The models the page offers (loaded on first use) and the generation behind its button.

    `models`: the names of the model selector -> what `cli.load_pipeline` loads (a shipped model's
    name, a folder or a Hub repo id); `compile`: compile each model's transformer for sampling."""

    def __init__(self, models: dict[str, str], compile: bool = False):
        self.models = models
        self.compile = compile
        self.pipelines = {}

    def pipeline(self, name: str):
        if name not in self.models:
            raise gr.Error(f"Unknown model {name!r}; choose one of {', '.join(self.models)}.")
        if name not in self.pipelines:
            try:
                self.pipelines[name] = load_pipeline(self.models[name], DEFAULT_SCHEDULER, 25, compile=self.compile)
            except UsageError as error:
                raise gr.Error(str(error)) from error
            self.pipelines[name].set_progress_bar_config(disable=True)
        return self.pipelines[name]

    def generate(self, prompt: str, model: str = "default", direction: str = ANY, speed: str = ANY,
                 position: str = ANY, weight: str = ANY, scheduler: str = DEFAULT_SCHEDULER, steps: int = 25,
                 seed: int = 0, guidance_scale: float = 1.0, negative_prompt: str = "", num_seeds: int = 1,
                 show_attention: bool = True, progress=gr.Progress()):
        """Returns the GIF's path (the videos of `num_seeds` consecutive seeds side by side), the denoising
        grid's path (the first seed's samples at evenly spaced steps, then the result) and, with
        `show_attention`, the path of the cross-attention figure of the prompt's true render (else None)."""
        pipe = self.pipeline(model)
        asked = {flag: word for flag, word in zip(LOOK_FLAGS, (direction, speed, position, weight)) if word != ANY}
        look = {LOOK_FLAGS[flag][0]: LOOK_FLAGS[flag][1][word] for flag, word in asked.items()}
        steps, seed, num_seeds = int(steps), int(seed), int(num_seeds)
        if not 1 <= num_seeds <= MAX_SEEDS:
            raise gr.Error(f"Seeds side by side must be 1 to {MAX_SEEDS}, got {num_seeds}.")
        kept = set(np.linspace(0, steps - 1, DENOISING_ROWS - 1).round().astype(int).tolist())
        samples = {}

        def follow(pipeline, step, timestep, tensors):
            progress((step + 1, steps), desc="denoising", unit="steps")
            if step in kept:
                samples[step] = tensors["latents"][0, 0].float().cpu().numpy()  # (F, H, W) in [-1, 1]
            return {}

        try:
            swap_scheduler(pipe, scheduler, steps)
            videos = pipe(
                [prompt] * num_seeds, negative_prompt=[negative_prompt] * num_seeds if negative_prompt else None,
                num_inference_steps=steps, guidance_scale=float(guidance_scale), look=look or None,
                generator=[torch.Generator().manual_seed(seed + k) for k in range(num_seeds)],
                callback_on_step_end=follow, output_type="np",
            ).frames[..., 0]  # (V, F, H, W) in [0, 1]
        except (ValueError, TypeError) as error:
            raise gr.Error(str(error)) from error
        folder = tempfile.mkdtemp(prefix="textvid-demo-")
        video = write_gif(side_by_side(to_uint8(videos)), folder, "video.gif")
        rows = [to_uint8(samples[step], low=-1.0) for step in sorted(samples)] + [to_uint8(videos[0])]
        grid = np.concatenate([np.concatenate(list(frames), axis=1) for frames in rows], axis=0)
        denoising = os.path.join(folder, "denoising.png")
        Image.fromarray(enlarge(grid, 2)).save(denoising)
        attention = self.attention_figure(pipe, prompt, look, folder) if show_attention else None
        return video, denoising, attention

    @staticmethod
    def attention_figure(pipe, prompt: str, look: dict, folder: str) -> str:
        """The `textvid explain` cross-attention figure of `prompt`'s true render at t=500, in `look` (the
        default of any factor left out, for a model with looks); its path."""
        from matplotlib import pyplot

        from .explain.figures import cross_attention_figure

        full = check_look(look) if pipe.transformer.config.get("looks") else {}
        arrays = {"timesteps": [500], **prompt_cross_attention(pipe, prompt, full, [500])}
        figure = cross_attention_figure(arrays, arrays["patch_size"], 0)
        path = os.path.join(folder, "cross_attention.png")
        figure.savefig(path, dpi=90)
        pyplot.close(figure)
        return path


def build_demo(model: str | None = None, compile: bool = False) -> gr.Blocks:
    """The page. The model selector offers the shipped models and, when given, `model` (a folder or Hub
    repo id; a shipped model's name selects that one); `compile`: see `Demo`."""
    models = {"default": "default", "looks": "looks"}
    chosen = {None: "default", "varied": "looks"}.get(model, model)  # `varied`: the old name of `looks`
    models.setdefault(chosen, chosen)
    demo = Demo(models, compile)
    with gr.Blocks(title="diffusers-textvid") as page:
        gr.Markdown("# diffusers-textvid\nA prompt of 1 to 6 symbols (A-Z, 0-9) becomes 16 frames of scrolling text, "
                    "drawn by a small video diffusion transformer on this machine's CPU.")
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt", value="HELLO", max_lines=1)
                model_choice = gr.Radio(list(models), value=chosen, label="Model",
                                        info="`looks` draws any look; `default` only the original one")
                with gr.Row():
                    looks = [gr.Dropdown([ANY, *words], value=ANY, label=flag, info=description)
                             for flag, (_, words, description) in LOOK_FLAGS.items()]
                with gr.Accordion("Sampling", open=False):
                    scheduler = gr.Dropdown(list(SCHEDULERS), value=DEFAULT_SCHEDULER, label="Scheduler")
                    steps = gr.Slider(1, 100, value=25, step=1, label="Steps")
                    with gr.Row():
                        seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=2**31 - 1)
                        random_seed = gr.Button("random", size="sm")
                    guidance = gr.Slider(1.0, 5.0, value=1.0, step=0.1, label="Guidance scale (on above 1)")
                    negative = gr.Textbox(label="Negative prompt", value="", max_lines=1,
                                          info="what guidance above 1 steers away from")
                    num_seeds = gr.Slider(1, MAX_SEEDS, value=1, step=1, label="Seeds side by side")
                    show_attention = gr.Checkbox(True, label="Show the cross-attention figure")
                generate = gr.Button("Generate", variant="primary")
            with gr.Column():
                video = gr.Image(label="Video (GIF)", type="filepath", format="gif")
                denoising = gr.Image(label="Denoising: the sample at evenly spaced steps, then the result",
                                     type="filepath")
                attention = gr.Image(label="Cross-attention at t=500: the text token each video token reads",
                                     type="filepath")
        inputs = [prompt, model_choice, *looks, scheduler, steps, seed, guidance, negative, num_seeds, show_attention]
        gr.Examples(EXAMPLES, inputs=inputs[:6], label="Examples")
        random_seed.click(lambda: random.randrange(2**31), outputs=seed, api_visibility="private")
        generate.click(demo.generate, inputs=inputs, outputs=[video, denoising, attention], api_name="generate")
        prompt.submit(demo.generate, inputs=inputs, outputs=[video, denoising, attention],
                      api_visibility="private")
    return page.queue(default_concurrency_limit=1)


def launch(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, compile: bool = False, **options):
    """Serve `build_demo(model, compile)` on `host`:`port` (127.0.0.1 unless told otherwise); `options` go to
    `gr.Blocks.launch`."""
    return build_demo(model, compile).launch(server_name=host, server_port=port, **options)
