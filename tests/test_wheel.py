"""The wheel carries what the package reads at run time: built, installed in a fresh environment and
imported from there, away from the source tree, it still writes a model card and a LoRA card."""

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from diffusers_textvid.model_card import LORA_SUMMARY_FILE, SUMMARY_FILE

from test_model_card import SUMMARY

REPO = Path(__file__).resolve().parent.parent

LORA_SUMMARY = {
    "training_command": "accelerate launch training/train_textvid_lora.py --look direction=left_to_right",
    "base_model": "user/textvid-small",
    "look": {"direction": "left_to_right"},
    "rank": 8, "target_modules": ["mlp.0"], "train_steps": 300, "samples_seen": 4800,
    "training_cpu_minutes": 4.25, "training_wall_minutes": 9.5, "adapter_bytes": 655000,
}

# Runs in the fresh environment: where the package came from, and the two cards it wrote.
WRITE_CARDS = """
import json, sys
import diffusers_textvid
from diffusers_textvid.model_card import write_lora_model_card, write_model_card

model_dir, adapter_dir = sys.argv[1:]
with open(write_model_card(model_dir)) as card, open(write_lora_model_card(adapter_dir)) as lora_card:
    print(json.dumps({"package": diffusers_textvid.__file__, "card": card.read(), "lora_card": lora_card.read()}))
"""


def run(*command: str, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(out_dir: Path) -> Path:
    """Build the wheel from a copy of what it is made of. Building in the repo would reuse `build/lib`,
    whose leftovers from an earlier build can stand in for package data the wheel no longer declares."""
    source = out_dir / "source"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "diffusers_textvid", source / "diffusers_textvid",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    run(sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
        "-w", str(out_dir / "dist"))
    (wheel,) = (out_dir / "dist").glob("diffusers_textvid-*.whl")
    return wheel


def make_environment(env_dir: Path, wheel: Path) -> Path:
    """A fresh virtual environment with `wheel` installed, that sees this one's packages (torch and the rest)
    without downloading them. A plain path line of a `.pth` file adds a directory to `sys.path` but runs none
    of that directory's own `.pth` files, so the editable install's finder, which maps the package to the
    source tree, stays off there."""
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir))
    python = next(path for path in [env_dir / "bin" / "python", env_dir / "Scripts" / "python.exe"] if path.exists())
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel))
    site_packages = run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    (Path(site_packages) / "parent_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
def test_installed_wheel_writes_model_cards_without_the_source_tree(tmp_path):
    python = make_environment(tmp_path / "env", build_wheel(tmp_path))
    cards = tmp_path / "cards"
    (cards / "model").mkdir(parents=True)
    (cards / "model" / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    (cards / "adapter").mkdir()
    (cards / "adapter" / LORA_SUMMARY_FILE).write_text(json.dumps(LORA_SUMMARY))
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}

    stdout = run(str(python), "-c", WRITE_CARDS, "model", "adapter", cwd=cards, env=environment)
    output = json.loads(stdout.splitlines()[-1])  # the last line: a library may print a warning before it

    package = Path(output["package"]).resolve()
    assert package.is_relative_to((tmp_path / "env").resolve()), package  # the wheel's copy, not the source tree
    assert SUMMARY["training_command"] in output["card"] and "Steps: 7; samples seen: 56." in output["card"]
    assert output["card"].startswith("---\n") and "pipeline_tag: text-to-video" in output["card"]
    assert "# diffusers-textvid LoRA: direction=left_to_right" in output["lora_card"]
    assert "4.2 CPU-minutes" in output["lora_card"] and "base_model: user/textvid-small" in output["lora_card"]
