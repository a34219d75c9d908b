"""Space-time factorised attention (`attention_layout="factorised"`): which tokens each block lets meet."""

import pytest
import torch

from conftest import perturb_weights
from diffusers_textvid.models import TextVideoDiTModel
from diffusers_textvid.models.attention_capture import AttentionRecorder
from diffusers_textvid.models.modeling_textvid import span_groups
from diffusers_textvid.presets import PRESETS


def one_frame_tokens(layout: str, num_layers: int) -> TextVideoDiTModel:
    """A tiny DiT whose tokens are 1x8x8 patches, so that every token lies in one frame."""
    torch.manual_seed(0)
    arguments = {**PRESETS["tiny"]["transformer"], "patch_size": (1, 8, 8), "num_layers": num_layers,
                 "attention_layout": layout}
    return perturb_weights(TextVideoDiTModel(**arguments), scale=0.2).eval()


def output_change_by_frame(model: TextVideoDiTModel, frame: int) -> torch.Tensor:
    """`(F,)`: the largest change of each output frame when the input's `frame` changes."""
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(1, 1, 16, 32, 32, generator=generator)
    text = torch.randn(1, 8, model.config.text_embed_dim, generator=generator)
    changed = video.clone()
    changed[:, :, frame] += 1.0
    with torch.no_grad():
        before = model(video, 500, text).sample
        after = model(changed, 500, text).sample
    return (after - before).abs().amax(dim=(0, 1, 3, 4))


@pytest.mark.parametrize("span", ["all", "frame", "time"])
def test_each_span_cuts_the_tokens_into_groups_that_cover_each_once(span):
    groups = span_groups((16, 2, 4), span)
    assert sorted(groups.flatten().tolist()) == list(range(128))
    assert groups.shape == {"all": (1, 128), "frame": (16, 8), "time": (8, 16)}[span]


def test_a_frame_block_keeps_each_frame_to_itself_where_full_attention_does_not():
    frame_only = output_change_by_frame(one_frame_tokens("factorised", num_layers=1), frame=5)
    assert frame_only[5] > 0.01
    assert torch.all(frame_only[torch.arange(16) != 5] == 0)
    full = output_change_by_frame(one_frame_tokens("full", num_layers=1), frame=5)
    assert torch.all(full[torch.arange(16) != 5] > 0)


def test_a_time_block_after_the_frame_block_carries_a_change_to_every_frame():
    change = output_change_by_frame(one_frame_tokens("factorised", num_layers=2), frame=5)
    assert torch.all(change > 0)


def test_recorded_self_attention_of_a_factorised_model_is_zero_across_groups_and_sums_to_one():
    model = one_frame_tokens("factorised", num_layers=2)
    video = torch.randn(1, 1, 16, 32, 32)
    with AttentionRecorder(model, "self") as recorder, torch.no_grad():
        model(video, 500, torch.randn(1, 8, model.config.text_embed_dim))
    grid = (16, 4, 4)
    for block, span in ((0, "frame"), (1, "time")):
        weights = recorder.probabilities[block][0].mean(dim=0)  # (N, N)
        same_group = torch.zeros(256, 256, dtype=torch.bool)
        for group in span_groups(grid, span):
            same_group[group[:, None], group[None, :]] = True
        assert torch.all(weights[~same_group] == 0)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(256))


def test_the_layout_is_saved_and_an_unknown_one_is_refused(tmp_path):
    one_frame_tokens("factorised", num_layers=2).save_pretrained(tmp_path)
    loaded = TextVideoDiTModel.from_pretrained(tmp_path)
    assert [block.self_attention.span for block in loaded.blocks] == ["frame", "time"]
    with pytest.raises(ValueError, match="attention_layout 'axial' is not one of"):
        TextVideoDiTModel(**{**PRESETS["tiny"]["transformer"], "attention_layout": "axial"})
