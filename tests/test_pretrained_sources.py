"""The shipped model folder carries copies of the package's code (so that it loads without the package):
each must be byte-identical to the source it copies, or the shipped folder would run other code than
the package it ships in."""

import inspect
from pathlib import Path

import pytest

import diffusers_textvid
from diffusers_textvid import TextVideoDiTModel, TextVideoPipeline
from diffusers_textvid.pipelines import input_checks, lora_loading

PRETRAINED = Path(diffusers_textvid.DEFAULT_MODEL_DIR)
# Where `save_pretrained` puts each source file (see `TextVideoPipeline.make_folder_self_contained`).
COPIES = {
    "pipeline_textvid.py": inspect.getfile(TextVideoPipeline),
    "input_checks.py": inspect.getfile(input_checks),
    "lora_loading.py": inspect.getfile(lora_loading),
    "transformer/modeling_textvid.py": inspect.getfile(TextVideoDiTModel),
}


def test_every_python_file_in_the_shipped_folder_is_a_known_copy():
    assert sorted(str(path.relative_to(PRETRAINED)) for path in PRETRAINED.rglob("*.py")) == sorted(COPIES)


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_shipped_copy_is_byte_identical_to_the_package_source(copy):
    assert (PRETRAINED / copy).read_bytes() == Path(COPIES[copy]).read_bytes(), (
        f"{PRETRAINED / copy} differs from {COPIES[copy]}: copy the source over it"
    )


def test_save_pretrained_writes_the_same_copies(tiny_pipeline, tmp_path):
    tiny_pipeline.save_pretrained(tmp_path)
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.py")) == sorted(COPIES)
    for copy, source in COPIES.items():
        assert (tmp_path / copy).read_bytes() == Path(source).read_bytes()
