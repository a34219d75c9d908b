"""The `textvid` command: `textvid generate` writes one video, `textvid eval` scores a model,
`textvid explain` draws what a model learned, `textvid demo` serves a page that generates.

    textvid generate HELLO -o hello.gif --steps 25 --scheduler ddim
    textvid generate HELLO -o hello.gif --model user/textvid-small --dtype bf16
    textvid generate HELLO -o hello.gif --speed fast --position high   # the shipped model with looks
    textvid generate HELLO -o hello.gif --model looks                  # it picks every factor itself
    textvid eval --num-prompts 100 --json results.json
    textvid eval --model looks --looks --samples-per-prompt 8
    textvid explain HELLO -o explain-hello --t 900 500 100
    textvid demo --port 7860

Mistakes the user can fix (a bad prompt, no model, a missing extra) print one line on stderr and
exit with status 2, like argparse's own usage errors; no traceback.
"""

import argparse
import json
import math
import os
import random
import re
import sys
import time

import torch
from diffusers.utils import export_to_gif, export_to_video
from huggingface_hub.utils import LocalEntryNotFoundError

import diffusers_textvid

from .data.prompts import normalize_prompt
from .evaluation import (
    SAMPLES_PER_PROMPT,
    evaluate_pipeline,
    evaluate_looks,
    evaluation_prompt_sets,
    model_looks,
)
from .pipelines import TextVideoPipeline
from .pipelines.input_checks import hub_unreachable_reason
from .schedulers import DEFAULT_SCHEDULER, SCHEDULERS, swap_scheduler

VIDEO_EXTRA = 'pip install "diffusers-textvid[video]"'
EXPLAIN_EXTRA = 'pip install "diffusers-textvid[explain]"'
DEMO_EXTRA = 'pip install "diffusers-textvid[demo]"'
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name: what --model reads as a Hub repo
OUTPUT_SUFFIXES = (".gif", ".mp4")
# The look flags, as a user says them: flag -> (factor of LOOK_FACTORS, {word: value}, help).
LOOK_FLAGS = {
    "direction": (
        "direction", {"right-to-left": "right_to_left", "left-to-right": "left_to_right"}, "which way the text scrolls"
    ),
    "speed": ("crossing_frames", {"slow": 15, "medium": 11, "fast": 7}, "the crossing takes 15, 11 or 7 frames"),
    "position": (
        "vertical_offset", {"middle": 0, "high": -2, "low": 2}, "the text centred, or 2 pixels higher or lower"
    ),
    "weight": ("weight", {"bold": "bold", "light": "light"}, "Comic Neue Bold or Comic Neue Light"),
}


class UsageError(Exception):
    """A problem the user can fix; `main` prints it and exits with status 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (status 2), like every other `textvid` error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def seed_value(text: str) -> int:
    """A seed torch.Generator.manual_seed takes: 0 to 2**64 - 1."""
    value = int(text)
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be 0 to 2**64 - 1, got {value}")
    return value


def model_name(text: str) -> str:
    """A --model value: anything but empty, which an unset shell variable ("--model $MODEL") gives."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "is empty (an unset shell variable?); give a model folder, a Hub repo id owner/name, `default` or "
            "`looks`, or leave --model out"
        )
    return text


def shipped_models() -> dict[str, str]:
    """The names `--model` accepts for the models shipped with the package -> their folders."""
    return {"default": diffusers_textvid.DEFAULT_MODEL_DIR, "looks": diffusers_textvid.LOOKS_MODEL_DIR,
            "varied": diffusers_textvid.LOOKS_MODEL_DIR}  # `varied`: the deprecated name of `looks`


def load_pipeline(model: str | None, scheduler_name: str, num_inference_steps: int, dtype: str = "fp32",
                  compile: bool = False) -> TextVideoPipeline:
    """Load a saved pipeline (default: the shipped model; `looks`: the shipped model with looks) from a
    local folder or a Hub repo id, in `dtype` (a key of `DTYPES`), with the named scheduler, on the GPU if
    there is one; with `compile`, its transformer compiled for sampling (`compile_transformer`). A local
    folder of the same name wins over a shipped model's name."""
    model = model or diffusers_textvid.DEFAULT_MODEL_DIR
    if not os.path.exists(model):
        model = shipped_models().get(model, model)
    is_repo_id = not os.path.exists(model) and HUB_REPO_ID.match(model)
    if not is_repo_id and not os.path.isfile(os.path.join(model, "model_index.json")):
        raise UsageError(
            f"No model at {model!r} (no model_index.json there). "
            "Pass --model with a folder written by TextVideoPipeline.save_pretrained, or a Hub repo id (owner/name)."
        )
    # Asked first: without a connection huggingface_hub may retry for many seconds; then only its cache is read.
    unreachable = hub_unreachable_reason() if is_repo_id else None
    options = {"local_files_only": True} if unreachable else {}
    try:
        pipe = TextVideoPipeline.from_pretrained(model, dtype=DTYPES[dtype], **options)
        swap_scheduler(pipe, scheduler_name, num_inference_steps)
    except (ValueError, TypeError, OSError) as error:  # OSError: FileNotFoundError and unreadable files too
        if isinstance(error.__cause__, LocalEntryNotFoundError):  # no download, and not in the Hub cache
            unreachable = unreachable or "the connection failed"
            raise UsageError(
                f"--model {model!r}: no such local folder, and the Hub cannot be reached to download the repo: "
                f"{unreachable}. The Hub cache holds no copy either."
            ) from error
        raise UsageError(f"--model {model!r}: {error}") from error
    pipe = pipe.to("cuda" if torch.cuda.is_available() else "cpu")
    return pipe.compile_transformer() if compile else pipe


def asked_look(args) -> dict:
    """The look the flags ask for, factor -> value of `LOOK_FACTORS`; factors whose flag is left out are
    missing (the model samples them)."""
    return {
        factor: words[getattr(args, flag)]
        for flag, (factor, words, _) in LOOK_FLAGS.items()
        if getattr(args, flag) is not None
    }


def require_looks(pipe, model: str | None, options: str):
    """Raise `UsageError` naming `options` when `pipe`'s model was trained without looks."""
    if model_looks(pipe) is None:
        which = f"--model {model!r}" if model else "the shipped model"
        raise UsageError(
            f"{options}: {which} was trained without looks (its transformer config has no `looks`); "
            "pass --model with a model trained with looks."
        )


def check_video_writer(path: str):
    """Raise `UsageError` unless `path` names a format this installation can write."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"Cannot write {path!r}: the output must end in {' or '.join(OUTPUT_SUFFIXES)}.")
    if suffix == ".mp4":
        try:
            import imageio  # noqa: F401  (export_to_video writes through imageio's ffmpeg plugin)
            import imageio_ffmpeg  # noqa: F401
        except ImportError as error:
            raise UsageError(f"Writing .mp4 needs imageio and imageio-ffmpeg: {VIDEO_EXTRA}") from error


def partial_path(path: str) -> str:
    """The temporary file in `path`'s folder that `path` is written into before it is renamed over it."""
    base, suffix = os.path.splitext(os.path.basename(path))
    return os.path.join(os.path.dirname(os.path.abspath(path)), f".{base}.{os.getpid()}.partial{suffix}")


def check_output_file(path: str, option: str):
    """Raise `UsageError` unless a file can be written at `path`: checked before any work, by creating
    (and removing) the temporary file it will be written into, so that a typo in the folder, or a folder
    that refuses files (/proc, a read-only mount), does not cost a whole run."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder; give a file name in it.")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} does not exist; create it first.")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path!r} exists and is not writable.")
    try:
        with open(partial_path(path), "xb"):
            pass
    except OSError as error:
        raise UsageError(f"{option} {path!r}: the folder {folder!r} is not writable ({error.strerror or error}).") from None
    os.remove(partial_path(path))


def write_video(frames: list, path: str):
    """Write PIL frames as a GIF or an MP4, as the suffix of `path` says: into a temporary file in the
    same folder, renamed over `path` when complete, so an interrupted write leaves any earlier file whole.
    `UsageError` when the system refuses the write (a full disk)."""
    partial = partial_path(path)
    try:
        if path.lower().endswith(".gif"):
            export_to_gif(frames, partial)
        else:
            export_to_video([frame.convert("RGB") for frame in frames], partial)
        os.replace(partial, path)
    except OSError as error:
        raise UsageError(f"Cannot write {path!r}: {error.strerror or error}.") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def generate(args):
    """`textvid generate`: one video of one prompt."""
    check_output_file(args.output, "--output")
    check_video_writer(args.output)
    look = asked_look(args)
    look_flags = "".join(f" --{flag} {getattr(args, flag)}" for flag in LOOK_FLAGS if getattr(args, flag) is not None)
    # The default model has one look: asking for a look without --model means the shipped model with looks.
    pipe = load_pipeline(args.model or ("looks" if look else None), args.scheduler, args.steps, args.dtype, args.compile)
    if look:
        require_looks(pipe, args.model, look_flags.strip())
    try:
        prompt = pipe.normalize_prompt(args.prompt)
    except ValueError as error:
        raise UsageError(str(error)) from error
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    began = time.perf_counter()
    try:  # the pipeline checks its inputs (steps against the model's schedule, ...) before any work
        frames = pipe(
            prompt,
            negative_prompt=args.negative_prompt,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            generator=torch.Generator().manual_seed(seed),
            output_type="pil",
            look=look or None,
        ).frames[0]
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    write_video(frames, args.output)
    seconds = time.perf_counter() - began
    print(
        f"Wrote {args.output}: {prompt!r}{look_flags}, {len(frames)} frames, {type(pipe.scheduler).__name__}, "
        f"{args.steps} steps, seed {seed}, in {seconds:.2f} s"
    )


def timestep_value(text: str) -> int:
    """A --t value: a diffusion timestep, 0 to 999."""
    value = int(text) if text.strip().lstrip("-").isdigit() else None
    if value is None or not 0 <= value <= 999:
        raise argparse.ArgumentTypeError(f"must be a diffusion timestep from 0 to 999, got {text!r}")
    return value


def explain_model(args):
    """`textvid explain`: the figures and numbers of what a model learned, for one prompt, in a folder."""
    try:
        from .explain import explain
    except ImportError as error:
        raise UsageError(f"textvid explain draws with matplotlib ({error}); install it with: {EXPLAIN_EXTRA}") from error
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"--output {args.output!r} is a file; give a folder for the figures and explain.json.")
    look = asked_look(args)
    pipe = load_pipeline(args.model or ("looks" if look else None), args.scheduler, args.steps)
    if look:
        require_looks(pipe, args.model, "the look flags")
    try:
        summary = explain(pipe, args.prompt, args.output, args.steps, args.seed, tuple(args.t), look,
                          args.probe_prompts)
    except ValueError as error:
        raise UsageError(str(error)) from error
    best = summary["cross_attention_best_layer"]
    print(
        f"Wrote {len(summary['figures'])} figures and explain.json to {args.output}: {summary['prompt']!r}, "
        f"cross-attention alignment {summary['cross_attention_alignment']:.0%} (block {best}; chance "
        f"{summary['cross_attention_chance']:.0%}), symbol probe "
        + " ".join(f"{accuracy:.0%}" for accuracy in summary["symbol_probe_accuracy_by_block"])
    )


def serve_demo(args):
    """`textvid demo`: the Gradio page, until interrupted."""
    try:
        from . import demo
    except ImportError as error:
        raise UsageError(f"textvid demo needs Gradio ({error}); install it with: {DEMO_EXTRA}") from error
    demo.launch(args.model, args.host, args.port, compile=args.compile)


def format_table(results: dict[str, dict]) -> str:
    """One row per prompt set: prompts, char acc %, prompt acc %, PSNR dB, s/video."""
    header = f"{'set':<20} {'prompts':>7} {'char acc %':>10} {'prompt acc %':>12} {'PSNR dB':>8} {'s/video':>8}"
    rows = [
        f"{name:<20} {result['num_prompts']:>7} {100 * result['char_accuracy']:>10.1f} "
        f"{100 * result['prompt_accuracy']:>12.1f} {result['psnr_db']:>8.2f} {result['seconds_per_video']:>8.3f}"
        for name, result in results.items()
    ]
    return "\n".join([header, "-" * len(header), *rows])


def format_looks_table(results: dict[str, dict]) -> str:
    """One row per prompt set: prompts, control acc %, char acc %, TV distance from even per look flag,
    PSNR dB, s/video."""
    tv_columns = [(f"TV {flag}", factor) for flag, (factor, _, _) in LOOK_FLAGS.items()]
    header = (
        f"{'set':<20} {'prompts':>7} {'control %':>9} {'char acc %':>10} "
        + " ".join(label for label, _ in tv_columns)
        + f" {'PSNR dB':>8} {'s/video':>8}"
    )
    rows = [
        f"{name:<20} {result['num_prompts']:>7} {100 * result['control_accuracy']:>9.1f} "
        f"{100 * result['char_accuracy']:>10.1f} "
        + " ".join(f"{result['coverage_tv'][factor]:>{len(label)}.3f}" for label, factor in tv_columns)
        + f" {result['psnr_db']:>8.2f} {result['seconds_per_video']:>8.3f}"
        for name, result in results.items()
    ]
    return "\n".join([header, "-" * len(header), *rows])


def evaluate(args):
    """`textvid eval`: score the model on the standard prompt sets, or on the prompts given; with
    `--looks`, score how it draws looks (`evaluate_looks`) instead."""
    if args.samples_per_prompt is not None and not args.looks:
        raise UsageError("--samples-per-prompt goes with --looks.")
    try:
        prompt_sets = (
            {"given": [normalize_prompt(prompt) for prompt in args.prompts]}
            if args.prompts
            else evaluation_prompt_sets(args.num_prompts, args.seed)
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    if args.json:
        check_output_file(args.json, "--json")
    model = args.model or ("looks" if args.looks else None)  # looks are scored on the model with looks
    pipe = load_pipeline(model, args.scheduler, args.steps, args.dtype, args.compile)
    pipe.set_progress_bar_config(disable=True)
    samples_per_prompt = args.samples_per_prompt or SAMPLES_PER_PROMPT
    if args.looks:
        require_looks(pipe, args.model, "--looks")
    try:  # the pipeline checks its inputs before any work, so a bad one fails on the first batch
        results = {
            name: (
                evaluate_looks(pipe, prompts, args.steps, samples_per_prompt, args.seed, args.batch_size,
                                    args.guidance_scale)
                if args.looks
                else evaluate_pipeline(pipe, prompts, args.steps, args.guidance_scale, args.seed, args.batch_size)
            )
            for name, prompts in prompt_sets.items()
        }
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    print(
        f"{type(pipe.scheduler).__name__}, {args.steps} steps, guidance {args.guidance_scale}, seed {args.seed}\n"
        + (format_looks_table(results) if args.looks else format_table(results))
    )
    if args.json:
        settings = {
            "model": model or diffusers_textvid.DEFAULT_MODEL_DIR,
            "scheduler": args.scheduler,
            "dtype": args.dtype,
            "num_inference_steps": args.steps,
            "guidance_scale": args.guidance_scale,
            "seed": args.seed,
            "batch_size": args.batch_size,
            "looks": args.looks,
        }
        if args.looks:
            settings["samples_per_prompt"] = samples_per_prompt
        try:
            with open(args.json, "w") as file:
                json.dump({"settings": settings, "sets": results}, file, indent=2)
        except OSError as error:
            raise UsageError(f"Cannot write --json {args.json!r}: {error.strerror or error}.") from None
        print(f"Wrote {args.json}")


# Measured by `benchmarks/bench_sampling.py --speed` (BENCHMARKS.md): why --compile is off by default.
COMPILE_COST = ("each batch size compiles at its first call (about 20 s on a 2-core CPU), and calls after it "
                "run about 1.3x faster there, so on a CPU it pays only after about 200 videos")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="textvid", description="Videos of scrolling text from a diffusion model.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {diffusers_textvid.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def add_look_flags(command: argparse.ArgumentParser, left_out: str):
        looks = command.add_argument_group("look", f"for a model trained with looks; {left_out}")
        for flag, (_, words, description) in LOOK_FLAGS.items():
            looks.add_argument(f"--{flag}", choices=list(words), help=description)

    def add_sampling_options(command: argparse.ArgumentParser):
        command.add_argument("--model", metavar="DIR_OR_REPO", type=model_name,
                             help="saved pipeline folder, Hub repo id owner/name, or a shipped model: `default` "
                                  "(one look) or `looks` (trained with looks; what a look flag picks when "
                                  "--model is left out)")
        command.add_argument("--dtype", choices=list(DTYPES), default="fp32",
                             help="weights and sampling precision (default: fp32; bf16 pays on GPUs and AMX CPUs)")
        command.add_argument("--scheduler", choices=list(SCHEDULERS), default=DEFAULT_SCHEDULER,
                             help=f"sampler (default: {DEFAULT_SCHEDULER})")
        command.add_argument("--steps", type=positive_int, default=25, help="denoising steps (default: 25)")
        command.add_argument("--guidance-scale", type=non_negative_float, default=1.0,
                             help="classifier-free guidance, on above 1 (default: 1.0)")
        add_compile_flag(command)

    def add_compile_flag(command: argparse.ArgumentParser):
        command.add_argument("--compile", action="store_true",
                             help=f"compile the transformer for sampling (torch.compile, frozen weights): {COMPILE_COST}")

    generate_command = commands.add_parser("generate", help="write a video of one prompt")
    generate_command.add_argument("prompt", help="1 to 6 symbols, A-Z and 0-9")
    generate_command.add_argument("-o", "--output", required=True, help="output file, .gif or .mp4")
    generate_command.add_argument("--negative-prompt", metavar="PROMPT",
                                  help="what guidance steers away from (default: the empty prompt); "
                                       "used with --guidance-scale above 1")
    add_sampling_options(generate_command)
    generate_command.add_argument("--seed", type=seed_value, help="noise seed (default: a random one, printed)")
    add_look_flags(generate_command, "the model picks any left out")
    generate_command.set_defaults(run=generate)

    eval_command = commands.add_parser("eval", help="score a model: character accuracy, PSNR, speed")
    add_sampling_options(eval_command)
    eval_command.add_argument("--num-prompts", type=positive_int, default=100,
                              help="validation prompts; hold-out sets take at most 50 (default: 100)")
    eval_command.add_argument("--seed", type=seed_value, default=0,
                              help="seed of the prompt draw and the noise (default: 0)")
    eval_command.add_argument("--prompts", nargs="+", metavar="PROMPT", help="evaluate only these prompts")
    eval_command.add_argument("--batch-size", type=positive_int, default=32, help="videos per batch (default: 32)")
    eval_command.add_argument("--json", metavar="PATH", help="write every result, per prompt too, to this file")
    eval_command.add_argument("--looks", "--variations", dest="looks", action="store_true",
                              help="score the looks instead: control accuracy when every look flag is given, "
                                   "TV distance from even draws when none is (needs a model trained with looks; "
                                   "--variations is its deprecated name)")
    eval_command.add_argument("--samples-per-prompt", type=positive_int, metavar="N",
                              help=f"with --looks: videos of each prompt drawn in looks the model picks "
                                   f"(default: {SAMPLES_PER_PROMPT})")
    eval_command.set_defaults(run=evaluate)

    explain_command = commands.add_parser("explain", help="figures and numbers of what a model learned, for one prompt")
    explain_command.add_argument("prompt", help="1 to 6 symbols, A-Z and 0-9")
    explain_command.add_argument("-o", "--output", required=True, metavar="FOLDER",
                                 help="folder for the PNG figures and explain.json (made if missing)")
    explain_command.add_argument("--model", metavar="DIR_OR_REPO", type=model_name,
                                 help="saved pipeline folder, Hub repo id, `default` or `looks` (`varied`)")
    explain_command.add_argument("--scheduler", choices=list(SCHEDULERS), default=DEFAULT_SCHEDULER,
                                 help=f"sampler of the denoising figure (default: {DEFAULT_SCHEDULER})")
    explain_command.add_argument("--steps", type=positive_int, default=25,
                                 help="denoising steps of the denoising figure (default: 25)")
    explain_command.add_argument("--seed", type=seed_value, default=0, help="noise seed (default: 0)")
    explain_command.add_argument("--t", type=timestep_value, nargs="+", default=[900, 500, 100], metavar="T",
                                 help="diffusion timesteps (0-999) of the cross-attention figures (default: 900 500 100)")
    explain_command.add_argument("--probe-prompts", type=positive_int, default=64, metavar="N",
                                 help="validation prompts the neuron and probe figures are read from (default: 64)")
    add_look_flags(explain_command, "the renders take the default of any left out")
    explain_command.set_defaults(run=explain_model)

    demo_command = commands.add_parser("demo", help="a web page that generates videos (Gradio)")
    demo_command.add_argument("--model", metavar="DIR_OR_REPO", type=model_name,
                              help="the model the page starts with: `default`, `looks` or a folder / Hub repo id "
                                   "(offered beside the shipped two)")
    demo_command.add_argument("--host", default="127.0.0.1",
                              help="address to listen on (default: 127.0.0.1, this machine only)")
    demo_command.add_argument("--port", type=positive_int, default=7860, help="port (default: 7860)")
    add_compile_flag(demo_command)
    demo_command.set_defaults(run=serve_demo)
    return parser


def main(argv: list[str] | None = None):
    """Entry point of the `textvid` console script; `argv` defaults to `sys.argv[1:]`."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except UsageError as error:
        print(f"textvid: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
