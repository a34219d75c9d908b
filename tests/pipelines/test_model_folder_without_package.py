"""A model folder saved with its code (`save_pretrained(..., self_contained=True)`, or pushed to the Hub),
used as someone who never installed `diffusers_textvid` would: through the stock
`DiffusionPipeline.from_pretrained(..., trust_remote_code=True)` and `diffusers.AutoModel`.

Every folder is loaded in one fresh interpreter where the package cannot be imported (see `CHILD_SCRIPT`).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants, hf_api

from diffusers_textvid import TextVideoPipeline

from conftest import build_tiny_pipeline

sys.path.append(str(Path(__file__).parents[1] / "training"))
from fake_hub_server import FakeHub  # noqa: E402  (a sibling test folder's helper)

STEPS = 3

CHILD_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "diffusers_textvid":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, BlockPackage())
    try:
        import diffusers_textvid
    except ImportError:
        pass
    else:
        sys.exit("diffusers_textvid is importable in the child")

    import numpy, torch
    from diffusers import AutoModel, DiffusionPipeline

    torch.set_num_threads(1)
    jobs, output = json.loads(sys.argv[1]), sys.argv[2]
    report = {}
    for name, job in jobs.items():
        if job.get("load") == "AutoModel":
            model = AutoModel.from_pretrained(job["folder"], trust_remote_code=True)
            numpy.savez(f"{output}/{name}.npz", **{key: value.numpy() for key, value in model.state_dict().items()})
            report[name] = {"transformer": [type(model).__module__, type(model).__name__]}
            continue
        dtype = {"dtype": getattr(torch, job["dtype"])} if job.get("dtype") else {}
        pipe = DiffusionPipeline.from_pretrained(job["folder"], trust_remote_code=True, **dtype)
        pipe.set_progress_bar_config(disable=True)
        report[name] = {
            "pipeline": [type(pipe).__module__, type(pipe).__name__],
            "transformer": [type(pipe.transformer).__module__, type(pipe.transformer).__name__],
            "dtypes": {part: str(getattr(pipe, part).dtype) for part in ("transformer", "text_encoder")},
        }
        if job.get("steps"):
            frames = pipe("HI", num_inference_steps=job["steps"], generator=torch.Generator().manual_seed(0)).frames
            numpy.save(f"{output}/{name}.npy", frames)
    report["loaded"] = sorted(name for name in sys.modules if name.split(".")[0] == "diffusers_textvid")
    print(json.dumps(report))
    """
)


def sample(pipe) -> np.ndarray:
    return pipe("HI", num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def pipe() -> TextVideoPipeline:
    return build_tiny_pipeline()


@pytest.fixture(scope="module")
def folders(pipe, tmp_path_factory) -> dict[str, Path]:
    """The tiny pipeline saved with its code, plainly, in float16, and after `torch.compile`; each folder is
    written once."""
    root = tmp_path_factory.mktemp("folders")
    pipe.save_pretrained(root / "saved", self_contained=True)
    half = build_tiny_pipeline().to(torch.float16)
    half.save_pretrained(root / "half", self_contained=True)
    compiled = build_tiny_pipeline()
    compiled.transformer = torch.compile(compiled.transformer)
    compiled.save_pretrained(root / "compiled", self_contained=True)
    return {"saved": root / "saved", "half": root / "half", "compiled": root / "compiled"}


@pytest.fixture(scope="module")
def fake_hub(pipe, tmp_path_factory):
    """`save_pretrained(push_to_hub=True)` against a local stand-in for the Hub: the hub, the saved
    folder, and a folder of the uploaded files."""
    saved_folder = tmp_path_factory.mktemp("pushed") / "textvid"
    with FakeHub() as hub, pytest.MonkeyPatch.context() as patched:
        # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, on import: point its default client here.
        patched.setattr(hf_api.api, "endpoint", hub.endpoint)
        patched.setattr(constants, "HF_HUB_OFFLINE", False)
        pipe.save_pretrained(saved_folder, push_to_hub=True, repo_id="user/textvid", token="hf_fake")
    uploaded_folder = tmp_path_factory.mktemp("uploaded")
    for path, content in hub.files.get("user/textvid", {}).items():
        (uploaded_folder / path).parent.mkdir(parents=True, exist_ok=True)
        (uploaded_folder / path).write_bytes(content)
    return hub, saved_folder, uploaded_folder


@pytest.fixture(scope="module")
def without_package(folders, fake_hub, tmp_path_factory) -> tuple[dict, Path]:
    """Load every folder in a child interpreter without the package: its report and its output folder."""
    output = tmp_path_factory.mktemp("child")
    jobs = {
        "saved": {"folder": str(folders["saved"]), "steps": STEPS},
        "uploaded": {"folder": str(fake_hub[2]), "steps": STEPS},
        "compiled": {"folder": str(folders["compiled"]), "steps": STEPS},
        "half": {"folder": str(folders["half"])},
        "half as float16": {"folder": str(folders["half"]), "dtype": "float16"},
        "auto model": {"folder": str(folders["saved"] / "transformer"), "load": "AutoModel"},
    }
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "HF_"))}
    environment |= {"HF_HOME": str(output / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, json.dumps(jobs), str(output)],
        cwd=output, env=environment, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), output


def test_the_package_is_never_imported_in_the_child(without_package):
    assert without_package[0]["loaded"] == []


@pytest.mark.parametrize("name", ["saved", "uploaded", "compiled"])
def test_a_folder_loads_the_folders_own_code_and_samples_the_same(pipe, without_package, name):
    report, output = without_package
    assert report[name]["pipeline"][1] == "TextVideoPipeline" and report[name]["transformer"][1] == "TextVideoDiTModel"
    assert not report[name]["pipeline"][0].startswith("diffusers_textvid")
    assert not report[name]["transformer"][0].startswith("diffusers_textvid")
    # Equal weights; loaded tensors sit at other memory alignments, so CPU kernels may round differently.
    np.testing.assert_allclose(np.load(output / f"{name}.npy"), sample(pipe), rtol=0, atol=1e-6)


def test_without_a_dtype_the_stock_loader_gives_float32_models_like_the_package(without_package, folders):
    loaded_by_package = TextVideoPipeline.from_pretrained(folders["half"])
    assert without_package[0]["half"]["dtypes"] == {
        "transformer": str(loaded_by_package.transformer.dtype), "text_encoder": str(loaded_by_package.text_encoder.dtype)
    } == {"transformer": "torch.float32", "text_encoder": "torch.float32"}


def test_with_a_dtype_the_stock_loader_gives_it_to_every_model(without_package):
    assert without_package[0]["half as float16"]["dtypes"] == {"transformer": "torch.float16", "text_encoder": "torch.float16"}


def test_auto_model_loads_the_transformer_folder_through_its_auto_map(pipe, without_package, folders):
    report, output = without_package
    config = json.loads((folders["saved"] / "transformer" / "config.json").read_text())
    assert config["auto_map"] == {"AutoModel": "modeling_textvid.TextVideoDiTModel"}
    assert report["auto model"]["transformer"][1] == "TextVideoDiTModel"
    with np.load(output / "auto model.npz") as weights:
        for key, value in pipe.transformer.state_dict().items():
            np.testing.assert_array_equal(weights[key], value.numpy(), err_msg=key)


def test_push_to_hub_uploads_the_complete_folder_with_its_code_in_one_commit(fake_hub):
    hub, saved_folder, _ = fake_hub
    uploaded = hub.files["user/textvid"]
    local = {str(path.relative_to(saved_folder)): path.read_bytes() for path in saved_folder.rglob("*") if path.is_file()}
    assert uploaded == local
    assert {"pipeline_textvid.py", "transformer/modeling_textvid.py", "README.md"} <= uploaded.keys()
    index = json.loads(uploaded["model_index.json"])
    assert index["_class_name"] == ["pipeline_textvid", "TextVideoPipeline"]
    assert index["transformer"] == ["modeling_textvid", "TextVideoDiTModel"]
    assert [(repo["organization"], repo["name"]) for repo in hub.created] == [("user", "textvid")]
    assert len(hub.commit_messages) == 1 and hub.authorizations == {"Bearer hf_fake"} and hub.unexpected == []
