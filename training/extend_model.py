"""Give a saved pipeline's transformer a new part, every trained weight kept, to fine-tune from.

    python training/extend_model.py --model_dir diffusers_textvid/pretrained_looks \
        --set look_evidence_width=512 --output_dir runs/looks-evidence-init

`--pretrained_model_name_or_path` of the training script fixes the model it loads; this makes the folder
to load. Each `--set name=value` (value as JSON) changes one `TextVideoDiTModel` argument. Every weight of
the old transformer must fit the new one; the new weights start at `initialize_weights`' values, so a new
part that starts at zero (as the templates of `look_evidence_width` do) leaves the outputs as they were.
"""

import argparse
import inspect
import json

from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.models import TextVideoDiTModel


def parse_settings(settings: list[str]) -> dict:
    """`["name=json value", ...]` -> {name: value}; `ValueError` naming a setting that is not one."""
    parsed = {}
    for setting in settings:
        name, separator, value = setting.partition("=")
        if not separator or not name:
            raise ValueError(f"--set takes name=value, got {setting!r}.")
        try:
            parsed[name] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--set {name}: {value!r} is not a JSON value (strings need quotes).") from None
    return parsed


def extend_transformer(transformer: TextVideoDiTModel, settings: dict) -> TextVideoDiTModel:
    """A transformer of `transformer`'s config with `settings` changed, holding every weight of it.
    `ValueError` for an unknown argument or a weight the new model has no place for (or another shape)."""
    # Without `_use_default_values`, which would put the defaults back for arguments the old config lacked.
    config = {name: value for name, value in transformer.config.items() if name != "_use_default_values"}
    unknown = sorted(set(settings) - (set(inspect.signature(TextVideoDiTModel.__init__).parameters) - {"self"}))
    if unknown:
        raise ValueError(f"Unknown TextVideoDiTModel argument(s) {unknown}.")
    extended = TextVideoDiTModel.from_config({**config, **settings})
    new_weights = extended.state_dict()
    misfits = [name for name, weight in transformer.state_dict().items()
               if name not in new_weights or new_weights[name].shape != weight.shape]
    if misfits:
        raise ValueError(f"The changed model has no place of the same shape for the trained weights {misfits[:5]}.")
    extended.load_state_dict(transformer.state_dict(), strict=False)
    return extended


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="A saved pipeline folder.")
    parser.add_argument("--set", dest="settings", action="append", required=True, metavar="NAME=VALUE")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.model_dir)
    pipe.transformer = extend_transformer(pipe.transformer, parse_settings(args.settings))
    pipe.register_modules(transformer=pipe.transformer)
    pipe.save_pretrained(args.output_dir)
    print(f"Saved to {args.output_dir}: {', '.join(args.settings)}")


if __name__ == "__main__":
    main()
