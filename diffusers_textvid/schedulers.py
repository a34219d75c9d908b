"""Short names for the stock Diffusers schedulers a `TextVideoPipeline` can sample with, and how to swap one in.

Every scheduler is built with `Class.from_config(pipe.scheduler.config)`, so it keeps the trained
noise schedule (betas, timestep spacing, prediction type). Two limits of the stock classes are
checked here, before any sampling, instead of failing mid-loop:

- `euler-a` and `pndm` implement only "epsilon" and "v_prediction", not "sample".
- `pndm` starts with Runge-Kutta warm-up steps and needs at least 4 inference steps.
"""

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    PNDMScheduler,
    SchedulerMixin,
    UniPCMultistepScheduler,
)

SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-a": EulerAncestralDiscreteScheduler,
    "unipc": UniPCMultistepScheduler,
    "pndm": PNDMScheduler,
    "heun": HeunDiscreteScheduler,
}
DEFAULT_SCHEDULER = "ddim"

UNSUPPORTED_PREDICTION_TYPES: dict[str, frozenset[str]] = {
    "euler-a": frozenset({"sample"}),
    "pndm": frozenset({"sample"}),
}
MIN_INFERENCE_STEPS: dict[str, int] = {"pndm": 4}


def swap_scheduler(pipe, name: str, num_inference_steps: int | None = None) -> SchedulerMixin:
    """Replace `pipe.scheduler` by the scheduler called `name` (a key of `SCHEDULERS`) and return it.

    Raises `ValueError`, leaving `pipe` unchanged, when the name is unknown, when the scheduler
    cannot sample the model's prediction type, or when `num_inference_steps` (if given) is too few.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}.")
    scheduler_class = SCHEDULERS[name]
    prediction_type = pipe.scheduler.config.prediction_type
    if prediction_type in UNSUPPORTED_PREDICTION_TYPES.get(name, ()):
        supported = [other for other in SCHEDULERS if prediction_type not in UNSUPPORTED_PREDICTION_TYPES.get(other, ())]
        raise ValueError(
            f"Scheduler {name!r} ({scheduler_class.__name__}) cannot sample a model that predicts "
            f"{prediction_type!r}; choose one of {', '.join(supported)}."
        )
    min_steps = MIN_INFERENCE_STEPS.get(name, 1)
    if num_inference_steps is not None and num_inference_steps < min_steps:
        raise ValueError(
            f"Scheduler {name!r} ({scheduler_class.__name__}) needs at least {min_steps} inference steps, "
            f"got {num_inference_steps}."
        )
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
    return pipe.scheduler


def build_sampling_pipeline(pipe, scheduler_class: type[SchedulerMixin]):
    """A copy of `pipe` that shares its models but samples with its own `scheduler_class` (built from
    `pipe`'s scheduler config), its progress bar off: for validation, samples and evaluation during and
    after training, leaving `pipe.scheduler` as it is."""
    sampler = type(pipe)(
        tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, transformer=pipe.transformer,
        scheduler=scheduler_class.from_config(pipe.scheduler.config),
    )
    sampler.set_progress_bar_config(disable=True)
    return sampler
