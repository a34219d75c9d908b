"""The README's screenshot of `textvid demo`: the page in headless Chromium after generating HELLO with
3 seeds side by side, from the shipped default model. The GIF plays on the page: of 16 screenshots an
eighth of a second apart, the one whose video shows the most ink is kept (a full-page capture would restart the GIF, so the window is tall enough instead).

    apt-get install chromium && pip install playwright && python docs/demo_screenshot.py
"""

import io
import socket
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import sync_playwright

from diffusers_textvid.demo import build_demo

HERE = Path(__file__).resolve().parent


def main():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    page = build_demo("default")
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 1280, "height": 1600})
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.get_by_label("Prompt").fill("HELLO")
        tab.get_by_text("Sampling").click()
        tab.get_by_label("number input for Seeds side by side").fill("3")
        tab.get_by_label("number input for Seeds side by side").press("Tab")
        tab.get_by_role("button", name="Generate").click()
        tab.wait_for_selector("img[src$='cross_attention.png']", timeout=120_000)
        video = tab.locator("img[src$='video.gif']").bounding_box()
        shots = []
        for _ in range(16):
            shots.append(Image.open(io.BytesIO(tab.screenshot())).convert("RGB"))
            tab.wait_for_timeout(125)
        browser.close()
    page.close()
    box = tuple(round(v) for v in (video["x"], video["y"], video["x"] + video["width"], video["y"] + video["height"]))
    inkiest = max(shots, key=lambda shot: np.asarray(shot.crop(box).convert("L")).mean())
    inkiest.quantize(128).save(HERE / "demo.png", optimize=True)
    print(f"wrote {HERE / 'demo.png'}")


if __name__ == "__main__":
    main()
