"""`textvid demo`: the Gradio page, through its API with gradio_client and in a headless Chromium."""

import importlib.util
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import build_tiny_pipeline

gr = pytest.importorskip("gradio")
from gradio_client import Client  # noqa: E402  (gradio brings it)

from diffusers_textvid import demo  # noqa: E402
from diffusers_textvid.cli import main  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The page over a saved tiny model, served on a free port of 127.0.0.1: its URL."""
    model = tmp_path_factory.mktemp("tiny")
    build_tiny_pipeline().save_pretrained(model)
    page = demo.build_demo(str(model))
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    page.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def gif_frames(path: str) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as gif:
        return gif.n_frames, gif.size


def test_generate_endpoint_takes_the_prompt_first_and_returns_a_16_frame_gif(client):
    video, denoising, attention = client.predict("HI", api_name="/generate")
    assert gif_frames(video) == (16, (32 * demo.SCALE, 32 * demo.SCALE))
    with Image.open(denoising) as grid:  # 6 rows of 16 frames, enlarged twice
        assert grid.size == (16 * 32 * 2, demo.DENOISING_ROWS * 32 * 2)
    assert attention.endswith(".png")


def test_several_seeds_are_drawn_side_by_side_and_differ(client):
    video, _, _ = client.predict("HI", seed=5, num_seeds=2, show_attention=False, api_name="/generate")
    frames, (width, height) = gif_frames(video)
    assert (frames, width, height) == (16, (2 * 32 + demo.GAP) * demo.SCALE, 32 * demo.SCALE)
    with Image.open(video) as gif:
        gif.seek(8)
        pixels = gif.convert("L")
        left = pixels.crop((0, 0, 32 * demo.SCALE, height)).tobytes()
        right = pixels.crop((width - 32 * demo.SCALE, 0, width, height)).tobytes()
    assert left != right


@pytest.mark.parametrize("example", demo.EXAMPLES, ids=lambda example: " ".join(example[:2]))
def test_every_example_generates(client, example):
    video, _, _ = client.predict(*example, steps=2, show_attention=False, api_name="/generate")
    assert gif_frames(video)[0] == 16


@pytest.mark.parametrize("arguments, message", [
    ({"prompt": "HI!"}, "unknown character(s) '!'"),
    ({"prompt": "TOOLONGX"}, "at most 6"),
    ({"prompt": "HI", "direction": "left-to-right"}, "look"),
    ({"prompt": "HI", "scheduler": "pndm", "steps": 1}, "pndm"),
])
def test_bad_input_reaches_the_client_as_the_pipelines_message_and_the_server_stays_up(client, arguments, message):
    with pytest.raises(Exception) as error:
        client.predict(**arguments, api_name="/generate")
    assert message in str(error.value)
    video, _, _ = client.predict("OK", show_attention=False, api_name="/generate")
    assert gif_frames(video)[0] == 16


def test_generations_run_one_at_a_time(client, monkeypatch):
    running, most = [0], [0]
    lock = threading.Lock()
    original = demo.swap_scheduler

    def slow_swap(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.5)
        with lock:
            running[0] -= 1
        return original(*args, **kwargs)

    monkeypatch.setattr(demo, "swap_scheduler", slow_swap)
    jobs = [client.submit(prompt, show_attention=False, api_name="/generate") for prompt in ("A", "B", "C")]
    assert all(gif_frames(job.result()[0])[0] == 16 for job in jobs)
    assert most[0] == 1


def test_textvid_demo_listens_on_127_0_0_1_by_default(monkeypatch):
    seen = {}
    monkeypatch.setattr(demo, "launch", lambda model, host, port, compile: seen.update(
        model=model, host=host, port=port, compile=compile))
    main(["demo", "--model", "looks", "--port", "8123"])
    assert seen == {"model": "looks", "host": "127.0.0.1", "port": 8123, "compile": False}
    main(["demo", "--compile"])
    assert seen["compile"] is True


def test_a_compiling_demo_loads_its_models_with_the_transformer_compiled():
    assert demo.Demo({"default": "default"}, compile=True).pipeline("default").compiled_transformer is not None
    assert demo.Demo({"default": "default"}).pipeline("default").compiled_transformer is None


def test_the_page_generates_in_a_browser_and_shows_a_bad_prompts_message(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium: apt-get install chromium (as .ci/run does)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        prompt = page.get_by_label("Prompt")
        prompt.fill("AB12")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_selector("img[src$='video.gif']", timeout=60_000)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        prompt.fill("AB!")
        page.get_by_role("button", name="Generate").click()
        page.get_by_text("unknown character(s) '!'").first.wait_for(timeout=30_000)
        browser.close()
    with Image.open(tmp_path / "page.png") as screenshot:
        assert screenshot.size[0] == 1280


def test_the_space_folder_is_a_gradio_space_whose_app_builds_the_page():
    space = Path(__file__).resolve().parent.parent / "space"
    front_matter = (space / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    spec = importlib.util.spec_from_file_location("space_app", space / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # builds the page; launching is left to `python app.py`
    assert isinstance(app.demo, gr.Blocks)
    assert "/generate" in [f"/{d['api_name']}" for d in app.demo.config["dependencies"] if d.get("api_name")]
