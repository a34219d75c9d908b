"""Every bad input gets a typed error before any work, naming the argument, what was given and what is
allowed; and no run destroys earlier work.

One table, `CASES`: each row is what a user does wrong and what must happen, an exception type and a
phrase of its message. A `textvid` row expects exit status 2 with one error line and no traceback
(`CliExit`); a training row expects `parse_training_args` to stop with exit status 2 and one error line
(`ArgsExit`). Pipeline rows also check that the transformer never ran, unless the row is about a
step-end callback, which can only misbehave after a step.
"""

import contextlib
import errno
import io
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import huggingface_hub.utils
import safetensors.torch
from diffusers import DDIMScheduler

import diffusers_textvid.cli
from diffusers_textvid import TextVideoPipeline, build_pipeline, render_text_video
from diffusers_textvid.data.prompts import MAX_PROMPT_LENGTH
from diffusers_textvid.pipelines import input_checks, lora_loading
from diffusers_textvid.training.arguments import parse_training_args
from diffusers_textvid.training.checkpoints import load_checkpoint
from diffusers_textvid.training.training_model import build_training_model

TINY_TRAINING = ["--model_preset", "tiny", "--report_to", "none"]


class CliExit(Exception):
    """`textvid` exited with status 2 after printing this one error line."""


class ArgsExit(Exception):
    """`parse_training_args` exited with status 2 after printing this error line."""


@pytest.fixture(scope="module")
def saved_tiny_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_model")
    build_pipeline("tiny").save_pretrained(folder, self_contained=True)  # with its code: rows break the code files
    return folder


@dataclass
class Bench:
    """What a row acts on: a fresh `tiny` pipeline, a copy of a saved one, a temporary folder."""

    tmp: Path
    saved_model: Path
    denoising_allowed: bool = False
    transformer_overrides: dict = field(default_factory=dict)  # set before `pipe` is first read
    transformer_calls: list = field(default_factory=list)
    _pipe: TextVideoPipeline | None = None

    @property
    def pipe(self) -> TextVideoPipeline:
        if self._pipe is None:
            torch.manual_seed(0)
            self._pipe = build_pipeline("tiny", transformer_overrides=self.transformer_overrides)
            self._pipe.set_progress_bar_config(disable=True)
            self._pipe.transformer.register_forward_pre_hook(lambda *args: self.transformer_calls.append(1))
        return self._pipe

    def model_copy(self) -> Path:
        """A copy of the saved tiny model folder, free to break."""
        folder = self.tmp / "model"
        if not folder.exists():
            shutil.copytree(self.saved_model, folder)
        return folder

    def edit_json(self, path: Path, **changes):
        content = json.loads(path.read_text())
        content.update(changes)
        path.write_text(json.dumps(content))


# ----------------------------------------------------------------------------------------------
# Row builders
# ----------------------------------------------------------------------------------------------


def call(**arguments):
    """Run the pipeline with `arguments` over a one-step default call of the prompt "AB"."""
    def run(bench: Bench):
        bench.pipe(**{"prompt": "AB", "num_inference_steps": 1, **arguments})
    return run


def call_with_embeds(embeds: torch.Tensor, mask: torch.Tensor, **arguments):
    """Run the pipeline on `prompt_embeds` and `prompt_attention_mask` instead of a prompt."""
    return call(prompt=None, prompt_embeds=embeds, prompt_attention_mask=mask, **arguments)


def with_transformer(overrides: dict, action):
    """`action` on a tiny pipeline whose transformer takes `overrides` of its preset."""
    def run(bench: Bench):
        bench.transformer_overrides = overrides
        action(bench)
    return run


def encode_prompt(**arguments):
    def run(bench: Bench):
        bench.pipe.encode_prompt(**{"prompt": "AB", **arguments})
    return run


def with_scheduler(make_scheduler, **arguments):
    def run(bench: Bench):
        bench.pipe.scheduler = make_scheduler(bench.pipe.scheduler.config)
        call(**arguments)(bench)
    return run


def with_callback(callback, **arguments):
    def run(bench: Bench):
        bench.denoising_allowed = True  # a callback's result can only be judged after a step
        call(callback_on_step_end=callback, **arguments)(bench)
    return run


def returns_five(pipe, step, timestep, tensors):
    return 5


def crops_latents(pipe, step, timestep, tensors):
    return {"latents": tensors["latents"][:, :, :3]}


def returns_noise_key(pipe, step, timestep, tensors):
    return {"noise": tensors["latents"]}


def warns_as_error(action):
    """Make warnings raise, so a row can expect the `UserWarning` a call gives."""
    def run(bench: Bench):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            action(bench)
    return run


def run_cli(*argv: str):
    """Call `textvid` in-process; raise `CliExit(line)` for an exit with status 2 and one error line."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            diffusers_textvid.cli.main(list(argv))
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
    text = stderr.getvalue()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1, f"exit {code}, stderr: {text!r}"
    raise CliExit(errors[0])


def cli(*argv: str, model: bool = True):
    """A `textvid` row; `{tmp}` in an argument is the row's temporary folder, and `--model` a copy of
    the saved tiny model unless `model` is False."""
    def run(bench: Bench):
        arguments = [argument.replace("{tmp}", str(bench.tmp)) for argument in argv]
        if model:
            arguments += ["--model", str(bench.model_copy())]
        run_cli(*arguments)
    return run


def run_parse_args(bench: Bench, *argv: str):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            parse_training_args(list(argv))
        except SystemExit as exit:
            lines = stderr.getvalue().strip().splitlines()
            assert exit.code == 2 and lines, f"exit {exit.code}, stderr: {stderr.getvalue()!r}"
            raise ArgsExit(lines[-1]) from None
    raise AssertionError(f"parse_training_args accepted {argv}")


def training(*argv: str):
    """A training row: `parse_training_args` of `argv` with the tiny preset, output into the row's folder."""
    def run(bench: Bench):
        arguments = [argument.replace("{tmp}", str(bench.tmp)) for argument in argv]
        if "--output_dir" not in arguments:
            arguments += ["--output_dir", str(bench.tmp / "run")]
        run_parse_args(bench, *TINY_TRAINING, *arguments)
    return run


# ----------------------------------------------------------------------------------------------
# Rows that need some setting up
# ----------------------------------------------------------------------------------------------


def without_text_encoder(bench: Bench):
    pipe = TextVideoPipeline(tokenizer=None, text_encoder=None, transformer=bench.pipe.transformer,
                             scheduler=bench.pipe.scheduler)
    pipe(prompt="AB", num_inference_steps=1)


def load(bench: Bench, folder, **options):
    TextVideoPipeline.from_pretrained(folder, **options)


def load_missing_absolute_path(bench: Bench):
    load(bench, str(bench.tmp / "no" / "such" / "model"))


def load_file_path(bench: Bench):
    load(bench, str(bench.model_copy() / "model_index.json"))


def load_unknown_repo(bench: Bench):
    load(bench, "no-such-textvid-model", local_files_only=True)


def load_missing_relative_path(bench: Bench):
    load(bench, "runs/no/such/model")


def load_corrupt_model_index(bench: Bench):
    folder = bench.model_copy()
    (folder / "model_index.json").write_text('{"_class_name": ["pipeline_textvid", ')
    load(bench, str(folder))


def load_index_without(component: str):
    def run(bench: Bench):
        folder = bench.model_copy()
        index = json.loads((folder / "model_index.json").read_text())
        del index[component]
        (folder / "model_index.json").write_text(json.dumps(index))
        load(bench, str(folder))
    return run


def load_index_naming(component: str, entry: list):
    def run(bench: Bench):
        folder = bench.model_copy()
        bench.edit_json(folder / "model_index.json", **{component: entry})
        load(bench, str(folder))
    return run


def load_without_folder(component: str):
    def run(bench: Bench):
        folder = bench.model_copy()
        shutil.rmtree(folder / component)
        load(bench, str(folder))
    return run


def load_with_config(component: str, **changes):
    def run(bench: Bench):
        folder = bench.model_copy()
        bench.edit_json(folder / component / "config.json", **changes)
        load(bench, str(folder))
    return run


def truncate_transformer_weights(folder: Path):
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])


def load_corrupt_weights(bench: Bench):
    folder = bench.model_copy()
    truncate_transformer_weights(folder)
    load(bench, str(folder))


def load_pickle_weights(bench: Bench):
    folder = bench.model_copy()
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    load(bench, str(folder))


def tiny_lora(module: str = "blocks.0.self_attention.to_q", value: float = 0.0) -> dict:
    """A rank-2 LoRA state dict for `module`, a 32-wide linear layer of the tiny transformer, every entry `value`."""
    return {
        f"transformer.{module}.lora_A.weight": torch.full((2, 32), value),
        f"transformer.{module}.lora_B.weight": torch.full((32, 2), value),
    }


def load_lora(source, **options):
    """`load_lora_weights` of `source` ("{tmp}" in a str is the row's folder) into the row's pipeline."""
    def run(bench: Bench):
        pytest.importorskip("peft")
        bench.pipe.load_lora_weights(source.replace("{tmp}", str(bench.tmp)) if isinstance(source, str) else source,
                                     **options)
    return run


def load_truncated_lora(bench: Bench):
    path = bench.tmp / "pytorch_lora_weights.safetensors"
    safetensors.torch.save_file(tiny_lora(), path)
    path.write_bytes(path.read_bytes()[:100])
    load_lora(str(path))(bench)


def with_lora(action):
    """`action(pipe)` once the row's pipeline holds the adapter "mine"."""
    def run(bench: Bench):
        load_lora(tiny_lora(), adapter_name="mine")(bench)
        action(bench.pipe)
    return run


def cli_with_corrupt_weights(bench: Bench):
    folder = bench.model_copy()
    truncate_transformer_weights(folder)
    run_cli("generate", "AB", "-o", str(bench.tmp / "out.gif"), "--model", str(folder))


def cli_into_unwritable_folder(bench: Bench):
    if os.geteuid() == 0:
        pytest.skip("root may write into any folder")
    folder = bench.tmp / "read_only"
    folder.mkdir(mode=0o500)
    run_cli("generate", "AB", "-o", str(folder / "out.gif"), "--model", str(bench.model_copy()))


def cli_into_proc(bench: Bench):
    """/proc passes a look at its permissions (for root at least) but takes no new file."""
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc on this system")
    run_cli("generate", "AB", "-o", "/proc/out.gif", "--model", str(bench.model_copy()))


def cli_onto_a_full_disk(bench: Bench):
    """The write fails after sampling: one error line, no traceback, no partial file."""
    bench.denoising_allowed = True

    def disk_full(frames, path):
        with open(path, "wb") as file:
            file.write(b"GIF89a")
        raise OSError(errno.ENOSPC, "No space left on device")

    original = diffusers_textvid.cli.export_to_gif
    diffusers_textvid.cli.export_to_gif = disk_full
    try:
        run_cli("generate", "AB", "-o", str(bench.tmp / "out.gif"), "--steps", "1", "--model", str(bench.model_copy()))
    finally:
        diffusers_textvid.cli.export_to_gif = original
        assert sorted(os.listdir(bench.tmp)) == ["model"]


def cli_eval_json_into_missing_folder(bench: Bench, monkeypatch_evaluation=True):
    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran before the --json path was checked")

    original = diffusers_textvid.cli.evaluate_pipeline
    diffusers_textvid.cli.evaluate_pipeline = never
    try:
        run_cli("eval", "--prompts", "AB", "--steps", "1", "--json", str(bench.tmp / "missing" / "results.json"),
                "--model", str(bench.model_copy()))
    finally:
        diffusers_textvid.cli.evaluate_pipeline = original


OLD_GIF = b"GIF89a an earlier video the user keeps"


def interrupted_gif_write_keeps_the_old_file(bench: Bench):
    """Data loss 1: killed while writing, `textvid` leaves the earlier file as it was and no partial file."""
    output = bench.tmp / "out.gif"
    output.write_bytes(OLD_GIF)

    def half_write(frames, path):
        with open(path, "wb") as file:
            file.write(b"GIF89a half")
        raise KeyboardInterrupt("interrupted while writing the GIF")

    original = diffusers_textvid.cli.export_to_gif
    diffusers_textvid.cli.export_to_gif = half_write
    try:
        run_cli("generate", "AB", "-o", str(output), "--steps", "1", "--seed", "0", "--model", str(bench.model_copy()))
    finally:
        diffusers_textvid.cli.export_to_gif = original
        assert output.read_bytes() == OLD_GIF
        assert sorted(os.listdir(bench.tmp)) == ["model", "out.gif"]


def finished_run(bench: Bench) -> Path:
    run = bench.tmp / "run"
    run.mkdir()
    (run / "model_index.json").write_text("{}")
    (run / "checkpoint-6").mkdir()
    (run / "checkpoint-6" / "training_state.json").write_text('{"global_step": 6}')
    return run


def training_over_a_finished_run(bench: Bench):
    """Data loss 2: a new run into a finished run's folder is refused before anything is written."""
    run = finished_run(bench)
    before = sorted(str(path.relative_to(run)) for path in run.rglob("*"))
    try:
        run_parse_args(bench, *TINY_TRAINING, "--output_dir", str(run))
    finally:
        assert sorted(str(path.relative_to(run)) for path in run.rglob("*")) == before


def training_over_checkpoints(bench: Bench):
    run = finished_run(bench)
    (run / "model_index.json").unlink()
    run_parse_args(bench, *TINY_TRAINING, "--output_dir", str(run))


def checkpoint_folder(bench: Bench, complete: bool = True) -> Path:
    checkpoint = bench.tmp / "checkpoint-3"
    checkpoint.mkdir()
    if complete:
        (checkpoint / "training_state.json").write_text('{"global_step": 3}')
    return checkpoint


def resume_from_unfinished_checkpoint(bench: Bench):
    training("--resume_from_checkpoint", str(checkpoint_folder(bench, complete=False)))(bench)


def resume_from_damaged_checkpoint(bench: Bench):
    checkpoint = checkpoint_folder(bench)
    (checkpoint / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    training("--resume_from_checkpoint", str(checkpoint))(bench)


def model_config_file(text: str):
    def run(bench: Bench):
        path = bench.tmp / "model.json"
        path.write_text(text)
        training("--model_config", str(path))(bench)
    return run


def output_dir_is_a_file(bench: Bench):
    path = bench.tmp / "a_file"
    path.write_text("")
    training("--output_dir", str(path))(bench)


def resume_from_another_presets_checkpoint(bench: Bench):
    """`load_state` of a checkpoint whose weights have other shapes names the checkpoint."""
    from accelerate import Accelerator

    checkpoint = bench.tmp / "checkpoint-1"
    tiny = build_training_model(parse_training_args([*TINY_TRAINING, "--output_dir", str(bench.tmp / "a")]))
    saver = Accelerator(cpu=True)
    saver.prepare(tiny)
    saver.save_state(str(checkpoint))
    (checkpoint / "training_state.json").write_text('{"global_step": 1}')
    overrides = bench.tmp / "wider.json"
    overrides.write_text('{"hidden_size": 48}')
    args = parse_training_args([*TINY_TRAINING, "--output_dir", str(bench.tmp / "b"), "--model_config", str(overrides)])
    loader = Accelerator(cpu=True)
    loader.prepare(build_training_model(args))
    load_checkpoint(loader, str(checkpoint), args)


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------

TOO_LONG = "A" * (MAX_PROMPT_LENGTH + 1)
NAN, INF = float("nan"), float("inf")
LATENT_SHAPE = (1, 1, 16, 32, 32)
EMBEDS, MASK = torch.zeros(1, 8, 32), torch.ones(1, 8)  # the tiny text encoder's width, the tokenizer's length

PIPELINE = [
    pytest.param(call(prompt=TOO_LONG), ValueError, f"at most {MAX_PROMPT_LENGTH} are allowed", id="prompt-7-symbols"),
    pytest.param(call(prompt=""), ValueError, "`prompt` is empty", id="prompt-empty"),
    pytest.param(call(prompt="A!"), ValueError, "unknown character(s) '!'", id="prompt-unknown-symbol"),
    pytest.param(call(prompt=5), TypeError, "`prompt` must be a str or a list of str, got 5", id="prompt-int"),
    pytest.param(call(prompt=[]), ValueError, "`prompt` is an empty list", id="prompt-empty-list"),
    pytest.param(call(prompt_embeds=torch.zeros(1, 8, 32), prompt_attention_mask=torch.ones(1, 8)), ValueError,
                 "either `prompt` or `prompt_embeds`", id="prompt-and-embeds"),
    pytest.param(call(prompt=None, prompt_embeds=np.zeros((1, 8, 32))), TypeError,
                 "`prompt_embeds` must be a torch.Tensor", id="prompt-embeds-numpy"),
    pytest.param(call(prompt=None, prompt_embeds=torch.zeros(1, 8, 32)), ValueError,
                 "needs `prompt_attention_mask`", id="prompt-embeds-without-mask"),
    pytest.param(call_with_embeds(torch.full_like(EMBEDS, NAN), MASK), ValueError, "`prompt_embeds` holds NaN",
                 id="prompt-embeds-nan"),
    pytest.param(call_with_embeds(EMBEDS, torch.zeros_like(MASK)), ValueError,
                 "`prompt_attention_mask` attends to no token in row(s) [0]", id="prompt-mask-all-zero"),
    pytest.param(call_with_embeds(EMBEDS, 2 * MASK), ValueError,
                 "`prompt_attention_mask` must hold only 0 (padding) and 1 (a token to attend to), got the values [2.0]",
                 id="prompt-mask-of-2s"),
    pytest.param(call_with_embeds(torch.zeros(1, 8, 48), MASK), ValueError,
                 "`prompt_embeds` must be 32 wide (the transformer's text_embed_dim), got shape (1, 8, 48)",
                 id="prompt-embeds-too-wide"),
    pytest.param(call_with_embeds(EMBEDS, MASK, negative_prompt_embeds=EMBEDS[:, :4],
                                  negative_prompt_attention_mask=MASK[:, :4], guidance_scale=2.0), ValueError,
                 "stacks `negative_prompt_embeds` (4 tokens) and `prompt_embeds` (8 tokens)",
                 id="negative-embeds-other-token-count"),
    pytest.param(call_with_embeds(torch.zeros(1, 10, 32), torch.ones(1, 10), guidance_scale=2.0), ValueError,
                 "stacks the encoded `negative_prompt` (8 tokens) and `prompt_embeds` (10 tokens)",
                 id="prompt-embeds-other-token-count-than-negative-prompt"),
    pytest.param(with_transformer({"text_length_positions": 9}, call_with_embeds(torch.zeros(1, 10, 32), torch.ones(1, 10))),
                 ValueError, "`prompt_attention_mask` marks 10 tokens in a row, but this model's position tables cover "
                 "texts of at most 8 tokens", id="prompt-mask-beyond-length-tables"),
    pytest.param(encode_prompt(num_videos_per_prompt=0), ValueError, "`num_videos_per_prompt` must be a positive int, got 0",
                 id="encode-prompt-0-videos"),
    pytest.param(encode_prompt(num_videos_per_prompt=-1), ValueError,
                 "`num_videos_per_prompt` must be a positive int, got -1", id="encode-prompt-negative-videos"),
    pytest.param(encode_prompt(prompt=None, prompt_embeds=EMBEDS, prompt_attention_mask=2 * MASK), ValueError,
                 "`prompt_attention_mask` must hold only 0", id="encode-prompt-mask-of-2s"),
    pytest.param(call(draw_left_out_look="no"), TypeError, "`draw_left_out_look` must be True or False, got 'no' (str)",
                 id="draw-left-out-look-str"),
    pytest.param(call(draw_left_out_look=None), TypeError, "`draw_left_out_look` must be True or False, got None",
                 id="draw-left-out-look-none"),
    pytest.param(call(negative_prompt=5, guidance_scale=2.0), TypeError, "`negative_prompt` must be a str",
                 id="negative-prompt-int"),
    pytest.param(call(negative_prompt=["A", "B"], guidance_scale=2.0), ValueError, "`negative_prompt` has 2 entries",
                 id="negative-prompt-list-length"),
    pytest.param(call(negative_prompt=TOO_LONG, guidance_scale=2.0), ValueError, "`negative_prompt` 'AAAAAAA' is too long",
                 id="negative-prompt-7-symbols"),
    pytest.param(warns_as_error(call(negative_prompt="X")), UserWarning, "`negative_prompt` is ignored",
                 id="negative-prompt-at-guidance-1-warns"),
    pytest.param(call(guidance_scale=NAN), ValueError, "`guidance_scale` must be a finite number >= 0, got nan",
                 id="guidance-nan"),
    pytest.param(call(guidance_scale=INF), ValueError, "`guidance_scale` must be a finite number", id="guidance-inf"),
    pytest.param(call(guidance_scale="2"), TypeError, "`guidance_scale` must be a number, got '2'", id="guidance-str"),
    pytest.param(call(guidance_scale=None), TypeError, "`guidance_scale` must be a number, got None", id="guidance-none"),
    pytest.param(call(guidance_scale=-1.0), ValueError, "`guidance_scale` must be a finite number >= 0",
                 id="guidance-negative"),
    pytest.param(with_scheduler(DDIMScheduler.from_config, eta=5.0), ValueError, "`eta` must be a finite number in [0, 1]",
                 id="eta-5-ddim"),
    pytest.param(call(eta=NAN), ValueError, "`eta` must be a finite number", id="eta-nan"),
    pytest.param(call(num_inference_steps=0), ValueError, "`num_inference_steps` must be a positive int",
                 id="steps-0"),
    pytest.param(call(num_inference_steps=2.5), TypeError, "`num_inference_steps` must be a positive int, got 2.5",
                 id="steps-float"),
    pytest.param(call(num_inference_steps=True), TypeError, "`num_inference_steps` must be a positive int",
                 id="steps-bool"),
    pytest.param(call(num_inference_steps=5000), ValueError, "`num_inference_steps` must be 1 to 1000",
                 id="steps-5000"),
    pytest.param(call(num_videos_per_prompt=0), ValueError, "`num_videos_per_prompt` must be a positive int",
                 id="videos-per-prompt-0"),
    pytest.param(call(output_type="gif"), ValueError, "`output_type` must be", id="output-type-unknown"),
    pytest.param(call(latents=torch.full(LATENT_SHAPE, NAN)), ValueError, "`latents` holds NaN", id="latents-nan"),
    pytest.param(call(latents=torch.zeros(LATENT_SHAPE, dtype=torch.uint8)), TypeError,
                 "`latents` must be a floating-point tensor", id="latents-uint8"),
    pytest.param(call(latents=np.zeros(LATENT_SHAPE, dtype=np.float32)), TypeError,
                 "`latents` must be a torch.Tensor, got numpy.ndarray", id="latents-numpy"),
    pytest.param(call(latents=torch.zeros(1, 1, 8, 32, 32)), ValueError, "`latents` must have shape (1, 1, 16, 32, 32)",
                 id="latents-shape"),
    pytest.param(call(generator=0), TypeError, "`generator` must be a torch.Generator", id="generator-int"),
    pytest.param(call(prompt=["A", "B"], generator=[torch.Generator() for _ in range(3)]), ValueError,
                 "list of 3 generators, but 2 video(s)", id="generators-too-many"),
    pytest.param(call(prompt=["A", "B"], generator=[torch.Generator()]), ValueError,
                 "list of 1 generators, but 2 video(s)", id="generators-too-few"),
    pytest.param(call(num_videos_per_prompt=2, generator=[torch.Generator()]), ValueError,
                 "prompts x num_videos_per_prompt", id="generators-for-videos-per-prompt"),
    pytest.param(call(callback_on_step_end=3), TypeError, "`callback_on_step_end` must be callable",
                 id="callback-not-callable"),
    pytest.param(with_callback(returns_five), TypeError, "'returns_five' returned 5", id="callback-returns-int"),
    pytest.param(with_callback(crops_latents), ValueError, "'crops_latents' returned 'latents' of shape (1, 1, 3, 32, 32)",
                 id="callback-latents-shape"),
    pytest.param(with_callback(returns_noise_key), ValueError, "'returns_noise_key' returned unknown key(s) ['noise']",
                 id="callback-unknown-key"),
    pytest.param(call(callback_on_step_end_tensor_inputs=["noise"]), ValueError,
                 "`callback_on_step_end_tensor_inputs` has ['noise']", id="callback-inputs-unknown"),
    pytest.param(with_scheduler(lambda config: DDIMScheduler()), ValueError,
                 "prediction_type 'epsilon' (the model was trained with 'v_prediction')", id="scheduler-bare-ddim"),
    pytest.param(with_scheduler(lambda config: DDIMScheduler.from_config(config, prediction_type="epsilon")),
                 ValueError, "does not match the transformer: prediction_type 'epsilon'", id="scheduler-epsilon"),
    pytest.param(with_scheduler(lambda config: DDIMScheduler.from_config(config, beta_end=0.012)), ValueError,
                 "beta_end 0.012 (the model was trained with 0.02)", id="scheduler-other-schedule"),
    pytest.param(with_scheduler(lambda config: DDIMScheduler.from_config(config, prediction_type="noise")), ValueError,
                 "prediction_type 'noise' is unknown", id="scheduler-unknown-prediction-type"),
    pytest.param(without_text_encoder, ValueError, "no tokenizer or text encoder", id="prompt-without-text-encoder"),
]

LOADING = [
    pytest.param(load_missing_absolute_path, FileNotFoundError, "No model folder at", id="load-missing-absolute-path"),
    pytest.param(load_missing_relative_path, FileNotFoundError, "No model folder at 'runs/no/such/model'",
                 id="load-missing-relative-path"),
    pytest.param(load_unknown_repo, FileNotFoundError, "'no-such-textvid-model' is not a local model folder, and the Hub",
                 id="load-missing-name"),
    pytest.param(load_file_path, ValueError, "is a file, not a model folder", id="load-file-path"),
    pytest.param(lambda bench: load(bench, 5), TypeError, "`pretrained_model_name_or_path` must be", id="load-int"),
    pytest.param(load_corrupt_model_index, ValueError, "model_index.json is not valid JSON", id="load-corrupt-index"),
    pytest.param(load_index_without("tokenizer"), ValueError, "model_index.json names no 'tokenizer' component",
                 id="load-index-without-component"),
    pytest.param(load_index_naming("scheduler", ["diffusers", "DDXMScheduler"]), ValueError,
                 "names the class 'DDXMScheduler', which diffusers", id="load-unknown-class"),
    pytest.param(load_index_naming("transformer", ["modeling_other", "TextVideoDiTModel"]), ValueError,
                 "names the module 'modeling_other', which is neither installed nor a modeling_other.py file in the folder",
                 id="load-unknown-module"),
    pytest.param(load_index_naming("transformer", ["modeling_textvid", "NoSuchModel"]), ValueError,
                 "'transformer' names the class 'NoSuchModel', which modeling_textvid.py does not define (it defines "
                 "Attention, OutputLayer,", id="load-unknown-class-in-folder-module"),
    pytest.param(load_without_folder("tokenizer"), FileNotFoundError, "tokenizer is missing", id="load-no-tokenizer-folder"),
    pytest.param(load_with_config("text_encoder", hidden_size=48), ValueError,
                 "do not match its config.json (CLIPTextModel)", id="load-text-encoder-width"),
    pytest.param(load_with_config("transformer", num_layers=3), ValueError, "weight(s) missing",
                 id="load-transformer-more-layers"),
    pytest.param(load_with_config("transformer", num_layers=1), ValueError, "weight(s) unused",
                 id="load-transformer-fewer-layers"),
    pytest.param(load_with_config("transformer", scroll_cell_widths=0), ValueError,
                 "scroll_cell_widths must map each value of the `weight` factor to the width of a symbol's cell, a "
                 "positive int of pixels (or be null, no scroll alignment), got 0", id="load-scroll-cell-widths-0"),
    pytest.param(load_with_config("transformer", scroll_cell_widths={"bold": -35}), ValueError,
                 "scroll_cell_widths must map", id="load-scroll-cell-width-negative"),
    pytest.param(load_with_config("transformer", scroll_cell_widths={"bold": "35"}), ValueError,
                 "got {'bold': '35'}", id="load-scroll-cell-width-str"),
    pytest.param(load_corrupt_weights, ValueError, "Cannot read the weights file", id="load-corrupt-weights"),
    pytest.param(load_pickle_weights, ValueError, "only safetensors weights are loaded", id="load-pickle-weights"),
]

LORA = [
    pytest.param(load_lora("{tmp}/no/such/lora"), FileNotFoundError, "No LoRA file or folder at '",
                 id="lora-missing-absolute-path"),
    pytest.param(load_lora("runs/no-such-lora"), FileNotFoundError,
                 "No LoRA file or folder at 'runs/no-such-lora' here, and the Hub cannot be reached to download it as a "
                 "repo: offline mode is on (HF_HUB_OFFLINE is set)", id="lora-missing-relative-name-offline"),
    pytest.param(load_lora("lora.safetensors"), FileNotFoundError,
                 "No LoRA file or folder at 'lora.safetensors': that path does not exist", id="lora-missing-file-name"),
    pytest.param(load_truncated_lora, ValueError, "Cannot read the LoRA weights file ", id="lora-truncated-file"),
    pytest.param(load_lora(tiny_lora("blocks.0.self_attention.to_z")), ValueError,
                 "adapts 1 module(s) this transformer does not have: blocks.0.self_attention.to_z. Modules it can adapt: "
                 "blocks.*.cross_attention.to_kv,", id="lora-unknown-module"),
    pytest.param(load_lora(tiny_lora(value=NAN)), ValueError,
                 "The LoRA weights given hold NaN or infinite values in 2 tensor(s)", id="lora-nan-weights"),
    pytest.param(load_lora(tiny_lora(), adapter_name=3), TypeError, "`adapter_name` must be a str", id="lora-adapter-name-int"),
    pytest.param(with_lora(lambda pipe: pipe.set_adapters("mine", NAN)), ValueError,
                 "`adapter_weights` must be a finite number, got nan", id="lora-set-adapters-nan"),
    pytest.param(with_lora(lambda pipe: pipe.set_adapters(["mine"], [INF])), ValueError,
                 "`adapter_weights[0]` must be a finite number, got inf", id="lora-set-adapters-inf-in-list"),
    pytest.param(with_lora(lambda pipe: pipe.fuse_lora(lora_scale=NAN)), ValueError,
                 "`lora_scale` must be a finite number, got nan", id="lora-fuse-nan"),
]

RENDERER = [
    pytest.param(lambda bench: render_text_video(TOO_LONG), ValueError, f"it must have 1 to {MAX_PROMPT_LENGTH}",
                 id="render-7-symbols"),
    pytest.param(lambda bench: render_text_video(""), ValueError, "has 0 characters", id="render-empty"),
    pytest.param(lambda bench: render_text_video(5), TypeError, "must be a str, got int", id="render-int"),
    pytest.param(lambda bench: render_text_video("A-B"), ValueError, "unknown character(s) '-'", id="render-unknown-symbol"),
    pytest.param(lambda bench: render_text_video("ß"), ValueError, "unknown character(s) 'ß'", id="render-non-ascii"),
    pytest.param(lambda bench: render_text_video("AB", vertical_offset=-2.0), TypeError,
                 "vertical_offset must be one of the ints 0, -2, 2 (pixels below the centre), got -2.0 (float)",
                 id="render-vertical-offset-float"),
]

CLI = [
    pytest.param(cli("generate", TOO_LONG, "-o", "{tmp}/out.gif", "--steps", "1"), CliExit, "is too long",
                 id="cli-prompt-7-symbols"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--guidance-scale", "nan"), CliExit,
                 "--guidance-scale: must be a finite number >= 0, got nan", id="cli-guidance-nan"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--guidance-scale", "inf"), CliExit,
                 "--guidance-scale: must be a finite number", id="cli-guidance-inf"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--steps", "5000"), CliExit,
                 "`num_inference_steps` must be 1 to 1000", id="cli-steps-5000"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--steps", "0"), CliExit, "--steps: must be a positive",
                 id="cli-steps-0"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--seed", str(2**70)), CliExit,
                 "--seed: must be 0 to 2**64 - 1", id="cli-seed-2-70"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/missing/out.gif"), CliExit, "does not exist; create it first",
                 id="cli-output-folder-missing"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}"), CliExit, "is a folder", id="cli-output-is-a-folder"),
    pytest.param(cli_into_unwritable_folder, CliExit, "is not writable", id="cli-output-unwritable"),
    pytest.param(cli_into_proc, CliExit, "the folder '/proc' is not writable", id="cli-output-into-proc"),
    pytest.param(cli_onto_a_full_disk, CliExit, "out.gif': No space left on device.", id="cli-output-disk-full"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--model", "", model=False), CliExit,
                 "argument --model: is empty (an unset shell variable?)", id="cli-model-empty"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--model", "nobody/no-such-textvid-model", model=False),
                 CliExit, "no such local folder, and the Hub cannot be reached to download the repo: offline mode is on",
                 id="cli-model-repo-offline"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.txt"), CliExit, "must end in .gif or .mp4",
                 id="cli-output-format"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--scheduler", "ddxm"), CliExit, "invalid choice: 'ddxm'",
                 id="cli-unknown-scheduler"),
    pytest.param(cli_with_corrupt_weights, CliExit, "Cannot read the weights file", id="cli-corrupt-weights"),
    pytest.param(cli("generate", "AB", "-o", "{tmp}/out.gif", "--model", "{tmp}/missing", model=False), CliExit,
                 "No model", id="cli-missing-model"),
    pytest.param(cli_eval_json_into_missing_folder, CliExit, "--json", id="cli-eval-json-missing-folder"),
    pytest.param(cli("eval", "--prompts", TOO_LONG), CliExit, f"it must have 1 to {MAX_PROMPT_LENGTH}",
                 id="cli-eval-prompt-7-symbols"),
    pytest.param(interrupted_gif_write_keeps_the_old_file, KeyboardInterrupt, "interrupted while writing",
                 id="cli-interrupted-write-keeps-old-gif"),
]

TRAINING = [
    pytest.param(training("--train_batch_size", "0"), ArgsExit, "--train_batch_size must be a positive integer, got 0",
                 id="train-batch-size-0"),
    pytest.param(training("--learning_rate", "-1"), ArgsExit, "--learning_rate must be a finite number > 0.0, got -1.0",
                 id="train-learning-rate-negative"),
    pytest.param(training("--learning_rate", "nan"), ArgsExit, "--learning_rate must be a finite number",
                 id="train-learning-rate-nan"),
    pytest.param(output_dir_is_a_file, ArgsExit, "is a file; give a folder", id="train-output-dir-is-a-file"),
    pytest.param(training("--checkpointing_steps", "0"), ArgsExit, "--checkpointing_steps must be a positive integer",
                 id="train-checkpointing-steps-0"),
    pytest.param(training("--gradient_accumulation_steps", "0"), ArgsExit,
                 "--gradient_accumulation_steps must be a positive integer", id="train-accumulation-0"),
    pytest.param(training("--max_train_steps", "0"), ArgsExit, "--max_train_steps must be a positive integer",
                 id="train-max-steps-0"),
    pytest.param(training("--prompt_dropout", "1.5"), ArgsExit, "--prompt_dropout must be a share in [0, 1), got 1.5",
                 id="train-prompt-dropout-1.5"),
    pytest.param(training("--validation_prompts", "HELLO", TOO_LONG), ArgsExit, "--validation_prompts: Prompt 'AAAAAAA'",
                 id="train-validation-prompt-7-symbols"),
    pytest.param(training("--validation_prompts", "A!"), ArgsExit, "--validation_prompts: Prompt 'A!' contains unknown",
                 id="train-validation-prompt-unknown-symbol"),
    pytest.param(training("--ema_decay", "1.5"), ArgsExit, "--ema_decay must be a finite number in [0.0, 1.0]",
                 id="train-ema-decay"),
    pytest.param(training("--snr_gamma", "0"), ArgsExit, "--snr_gamma must be a finite number > 0.0", id="train-snr-gamma-0"),
    pytest.param(training("--max_grad_norm", "0"), ArgsExit, "--max_grad_norm must be a finite number > 0.0",
                 id="train-max-grad-norm-0"),
    pytest.param(training("--adam_weight_decay", "-0.1"), ArgsExit, "--adam_weight_decay must be a finite number >= 0.0",
                 id="train-weight-decay-negative"),
    pytest.param(training("--lr_warmup_steps", "-1"), ArgsExit, "--lr_warmup_steps must be 0 or more",
                 id="train-warmup-negative"),
    pytest.param(training("--checkpoints_total_limit", "0"), ArgsExit, "--checkpoints_total_limit must be a positive",
                 id="train-checkpoints-limit-0"),
    pytest.param(training("--seed", "-1"), ArgsExit, "--seed must be 0 to 4294967295, got -1", id="train-seed-negative"),
    pytest.param(training("--validation_inference_steps", "5000"), ArgsExit,
                 "--validation_inference_steps must be 1 to 1000", id="train-validation-steps-5000"),
    pytest.param(training("--model_config", "{tmp}/missing.json"), ArgsExit, "--model_config", id="train-model-config-missing"),
    pytest.param(model_config_file("{hidden_size: 48"), ArgsExit, "is not valid JSON", id="train-model-config-not-json"),
    pytest.param(model_config_file('{"hidden_sise": 48}'), ArgsExit, "unknown TextVideoDiTModel argument(s) ['hidden_sise']",
                 id="train-model-config-unknown-key"),
    pytest.param(training("--resume_from_checkpoint", "{tmp}/checkpoint-9"), ArgsExit, "no such folder",
                 id="train-resume-missing"),
    pytest.param(resume_from_unfinished_checkpoint, ArgsExit, "is not a complete checkpoint (no training_state.json)",
                 id="train-resume-unfinished"),
    pytest.param(resume_from_damaged_checkpoint, ArgsExit, "model.safetensors is damaged", id="train-resume-damaged"),
    pytest.param(training_over_a_finished_run, ArgsExit, "holds a finished run (model_index.json)",
                 id="train-over-finished-run-refused"),
    pytest.param(training_over_checkpoints, ArgsExit, "holds 1 checkpoint(s) of a run", id="train-over-checkpoints-refused"),
    pytest.param(training("--overwrite_output_dir", "--resume_from_checkpoint", "latest"), ArgsExit, "give one",
                 id="train-overwrite-and-resume"),
    pytest.param(resume_from_another_presets_checkpoint, SystemExit, "cannot resume from the checkpoint",
                 id="train-resume-other-preset"),
]

CASES = PIPELINE + LOADING + LORA + RENDERER + CLI + TRAINING


@pytest.mark.parametrize(("action", "error", "phrase"), CASES)
def test_bad_input_gets_a_clear_error_before_any_work(action, error, phrase, tmp_path, saved_tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no row may reach the network
    bench = Bench(tmp=tmp_path, saved_model=saved_tiny_model)
    with pytest.raises(error) as raised:
        action(bench)
    assert phrase in str(raised.value)
    if not bench.denoising_allowed:
        assert not bench.transformer_calls, "the transformer ran before the error"


def test_the_table_covers_at_least_60_bad_inputs_in_every_area():
    areas = {"pipeline": PIPELINE, "loading": LOADING, "lora": LORA, "renderer": RENDERER, "cli": CLI,
             "training": TRAINING}
    assert len(CASES) >= 60 and all(areas.values())
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids)


def test_training_with_overwrite_output_dir_or_resume_accepts_a_finished_runs_folder(tmp_path):
    bench = Bench(tmp=tmp_path, saved_model=tmp_path)
    run = finished_run(bench)
    for extra in (["--overwrite_output_dir"], ["--resume_from_checkpoint", "latest"]):
        args = parse_training_args([*TINY_TRAINING, "--output_dir", str(run), *extra])
        assert args.output_dir == str(run)


def test_generate_replaces_an_earlier_gif_whole(saved_tiny_model, tmp_path):
    output = tmp_path / "out.gif"
    output.write_bytes(OLD_GIF)
    diffusers_textvid.cli.main(["generate", "AB", "-o", str(output), "--steps", "1", "--seed", "0",
                                "--model", str(saved_tiny_model)])
    assert output.read_bytes() != OLD_GIF and output.read_bytes().startswith(b"GIF8")
    assert os.listdir(tmp_path) == ["out.gif"]


def without_a_connection(monkeypatch):
    """No offline mode and no proxy, but every connection refused, as on a machine without a network."""
    def refuse(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(input_checks.hub_constants, "HF_HUB_OFFLINE", False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(input_checks.socket, "create_connection", refuse)


def test_a_lora_name_missing_here_fails_at_once_without_a_connection(monkeypatch):
    pytest.importorskip("peft")
    without_a_connection(monkeypatch)
    downloads = []

    def cache_only_download(repo_id, filename, **options):
        downloads.append(options)
        raise huggingface_hub.utils.LocalEntryNotFoundError("not in the cache")

    monkeypatch.setattr(lora_loading, "hf_hub_download", cache_only_download)
    with pytest.raises(FileNotFoundError, match="the Hub cannot be reached to download it as a repo: no connection to"):
        build_pipeline("tiny").load_lora_weights("runs/my-lora")
    assert downloads == [{"local_files_only": True}]  # only the cache was asked: no download to retry for 23 s


def test_a_hub_model_without_a_connection_says_the_hub_cannot_be_reached(monkeypatch, tmp_path):
    without_a_connection(monkeypatch)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(CliExit, match="the Hub cannot be reached to download the repo: no connection to"):
        run_cli("generate", "AB", "-o", str(tmp_path / "out.gif"), "--model", "nobody/no-such-textvid-model")


def test_from_pretrained_of_a_repo_id_without_a_connection_says_the_hub_cannot_be_reached(monkeypatch, tmp_path):
    without_a_connection(monkeypatch)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(FileNotFoundError, match="the Hub cannot be reached to download it as a repo: no connection to"):
        TextVideoPipeline.from_pretrained("nobody/no-such-textvid-model")


def test_the_transformers_own_lora_calls_refuse_non_finite_weights_and_scales(tmp_path):
    pytest.importorskip("peft")
    pipe = build_pipeline("tiny")
    pipe.load_lora_weights(tiny_lora(value=0.1), adapter_name="mine")
    before = {name: weight.clone() for name, weight in pipe.transformer.state_dict().items()}
    with pytest.raises(ValueError, match="weights"):
        pipe.transformer.set_adapters("mine", NAN)
    with pytest.raises(ValueError, match="weights"):
        pipe.transformer.set_adapters(["mine"], [INF])
    with pytest.raises(ValueError, match="lora_scale"):
        pipe.transformer.fuse_lora(lora_scale=NAN)
    after = pipe.transformer.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_refused_non_finite_lora_weights_leave_every_parameter_finite_and_the_video_as_it_was(tmp_path):
    pytest.importorskip("peft")
    pipe = build_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(tiny_lora(value=0.1), adapter_name="mine")
    pipe.set_adapters("mine", 0.5)
    before = pipe("AB", num_inference_steps=1, generator=torch.Generator().manual_seed(0)).frames
    refused = [lambda: pipe.set_adapters("mine", NAN), lambda: pipe.set_adapters("mine", {"transformer": INF}),
               lambda: pipe.fuse_lora(lora_scale=NAN), lambda: pipe.fuse_lora(lora_scale=-INF),
               lambda: pipe.load_lora_weights(tiny_lora("blocks.1.mlp.0", NAN), adapter_name="broken")]
    for call_with_non_finite in refused:
        with pytest.raises((ValueError, TypeError)):
            call_with_non_finite()
    pipe.unfuse_lora()
    assert all(torch.isfinite(parameter).all() for parameter in pipe.transformer.parameters())
    after = pipe("AB", num_inference_steps=1, generator=torch.Generator().manual_seed(0)).frames
    np.testing.assert_array_equal(after, before)
