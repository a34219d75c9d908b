"""Named model sizes and `build_pipeline`, the untrained pipeline that training starts from.

- `tiny`: a few thousand parameters, for tests (seconds on a CPU).
- `original`: the design we follow (d=128, 6 layers, 8 heads, 2x4x4 patches = 512 tokens,
  epsilon prediction); the baseline of the benchmarks.
- `small`: the shipped model's size; its network estimates the clean video (`output_parametrization
  = "clean_video"`) and the model turns that into the velocity the scheduler expects. Each token is
  one frame's 32x8 column of pixels, and every count of text tokens has a position table of its own
  (`text_length_positions`): the text's length sets where each symbol lies in each frame.
- `small-64`: the small model's width and depth for 16 frames of 64x64 (the renderer's glyphs drawn
  twice as large): 1x8x8 patches, so 16 x 8 x 8 = 1024 tokens, and space-time factorised attention
  (`attention_layout="factorised"`), whose cost grows far slower with the token count than full attention's.

Every preset's videos are the size its transformer's `sample_frames` and `sample_size` say (16x32x32
where they are left out), and training renders its data at that size.
"""

from diffusers import DDPMScheduler

from .data.looks import LOOK_FACTORS
from .models import TextVideoDiTModel
from .pipelines import TextVideoPipeline
from .pipelines.input_checks import SCHEDULE_KEYS
from .text import build_character_tokenizer, build_text_encoder

PRESETS = {
    "tiny": {
        "transformer": dict(patch_size=(4, 8, 8), hidden_size=32, num_layers=2, num_attention_heads=2,
                            mlp_ratio=2.0, text_embed_dim=32, timestep_embed_dim=32,
                            output_parametrization="clean_video"),
        "text_encoder": dict(hidden_size=32, num_layers=1, num_heads=2),
        "prediction_type": "v_prediction",
    },
    "original": {
        "transformer": dict(patch_size=(2, 4, 4), hidden_size=128, num_layers=6, num_attention_heads=8,
                            text_embed_dim=128),
        "text_encoder": dict(hidden_size=128, num_layers=2, num_heads=4),
        "prediction_type": "epsilon",
    },
    "small": {
        "transformer": dict(patch_size=(1, 32, 8), hidden_size=192, num_layers=6, num_attention_heads=6,
                            text_embed_dim=128, output_parametrization="clean_video", text_length_positions=9),
        "text_encoder": dict(hidden_size=128, num_layers=2, num_heads=4),
        "prediction_type": "v_prediction",
    },
    "small-64": {
        "transformer": dict(sample_frames=16, sample_size=64, patch_size=(1, 8, 8), hidden_size=192, num_layers=6,
                            num_attention_heads=6, text_embed_dim=128, output_parametrization="clean_video",
                            text_length_positions=9, attention_layout="factorised"),
        "text_encoder": dict(hidden_size=128, num_layers=2, num_heads=4),
        "prediction_type": "v_prediction",
    },
}


def build_scheduler(prediction_type: str = "epsilon") -> DDPMScheduler:
    """DDPM with the design's schedule: betas linear from 1e-4 to 0.02 over 1000 steps.

    Every key is written out so that `OtherScheduler.from_config(scheduler.config)` carries it.
    "trailing" spacing starts sampling at the last training step (pure noise) even with few steps.
    """
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        variance_type="fixed_small",
        clip_sample=True,
        clip_sample_range=1.0,
        prediction_type=prediction_type,
        timestep_spacing="trailing",
        steps_offset=0,
        rescale_betas_zero_snr=False,
    )


def build_pipeline(preset: str = "tiny", prediction_type: str | None = None, looks: bool = False,
                   transformer_overrides: dict | None = None) -> TextVideoPipeline:
    """An untrained `TextVideoPipeline` of the named size (see `PRESETS`); with `looks`, its
    transformer is conditioned on every factor of `diffusers_textvid.data.LOOK_FACTORS`.
    `transformer_overrides` replaces any of the preset's `TextVideoDiTModel` arguments."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    scheduler = build_scheduler(prediction_type or PRESETS[preset]["prediction_type"])
    return TextVideoPipeline(
        tokenizer=build_character_tokenizer(),
        text_encoder=build_text_encoder(**PRESETS[preset]["text_encoder"]),
        transformer=TextVideoDiTModel(**transformer_arguments(preset, prediction_type, looks, transformer_overrides)),
        scheduler=scheduler,
    )


def transformer_arguments(preset: str, prediction_type: str | None = None, looks: bool = False,
                          overrides: dict | None = None) -> dict:
    """The `TextVideoDiTModel` arguments of `build_pipeline(preset, prediction_type, looks, overrides)`:
    the preset's sizes, the training schedule, the looks, then `overrides`."""
    scheduler = build_scheduler(prediction_type or PRESETS[preset]["prediction_type"])
    schedule = {key: scheduler.config[key] for key in SCHEDULE_KEYS}
    look_table = {factor: list(values) for factor, values in LOOK_FACTORS.items()} if looks else None
    return {**PRESETS[preset]["transformer"], **schedule, "looks": look_table, **(overrides or {})}
