"""Fit the templates of a model's look evidence to the training videos, every other weight kept.

    python training/fit_look_templates.py --model_dir runs/looks-evidence-init --output_dir runs/looks-evidence-fitted

A model given look evidence (`training/extend_model.py --set look_evidence_width=512`) starts with blank
templates. Taught within a whole fine-tune at its learning rate they learn slowly (after 400 steps at 1e-4
they correlate 0.19 with the videos), so they are fitted first, alone: the text under each token in each
scroll comes from the frozen text encoder and scroll alignment, and only `LookEvidence` learns, on the
squared error between the template of each video's true look and the video (`--look_template_weight` of
the training script). The videos are the training stream of `RandomLookDataset` (prompts of the training
split, looks uniform). Prints the error as it goes; saves the pipeline to `--output_dir`.
"""

import argparse
import itertools

import torch

from diffusers_textvid import TextVideoPipeline
from diffusers_textvid.data.dataset import RandomLookDataset
from diffusers_textvid.models.modeling_textvid import patchify
from diffusers_textvid.training.training_model import look_dicts


def fit_look_templates(pipe, steps: int, batch_size: int, learning_rate: float, seed: int = 0,
                       log_every: int = 100) -> list[float]:
    """Fit `pipe.transformer.look_evidence` in place with Adam at `learning_rate` (cosine to 0) for `steps`
    batches; returns the template error of every batch."""
    transformer = pipe.transformer
    if getattr(transformer, "look_evidence", None) is None:
        raise ValueError("This model has no look evidence to fit (`look_evidence_width` is 0 in its config).")
    config = transformer.config
    dataset = RandomLookDataset(seed=seed, num_frames=config.sample_frames, frame_size=config.sample_size)
    batches = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    grid = tuple(size // patch for size, patch in zip(
        (config.sample_frames, config.sample_size, config.sample_size), config.patch_size))
    optimizer = torch.optim.Adam(transformer.look_evidence.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    errors = []
    for step, (prompts, clean, looks) in enumerate(itertools.islice(batches, steps), start=1):
        with torch.no_grad():
            text, mask = pipe.encode_text(list(prompts), transformer.device)
            shown = transformer.shown_text(transformer.text_projection(text), mask, grid)  # (B, R, N, D)
            true_ids = transformer.encode_looks(look_dicts(looks))
            scrolls, variants = transformer.scroll_text.true_scroll_and_variant(true_ids)  # (B,) each
        features = transformer.look_evidence.template_features(shown)  # (B, R, N, E)
        error = transformer.look_evidence.template_error(features, scrolls, variants, patchify(clean, config.patch_size))
        optimizer.zero_grad()
        error.backward()
        optimizer.step()
        schedule.step()
        errors.append(error.item())
        if step % log_every == 0 or step == steps:
            recent = errors[-log_every:]
            print(f"step {step}: template error {sum(recent) / len(recent):.4f}", flush=True)
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="A saved pipeline folder whose model has look evidence.")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pipe = TextVideoPipeline.from_pretrained(args.model_dir)
    errors = fit_look_templates(pipe, args.steps, args.batch_size, args.learning_rate, args.seed)
    pipe.save_pretrained(args.output_dir)
    print(f"Saved to {args.output_dir}: template error {errors[0]:.4f} at the first batch, {errors[-1]:.4f} at the last")


if __name__ == "__main__":
    main()
