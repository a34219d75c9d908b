"""The Hugging Face Space of diffusers-textvid: the page of `textvid demo`, with the shipped models.

Locally, from the repository root: `python space/app.py` (http://127.0.0.1:7860). A Space sets
GRADIO_SERVER_NAME=0.0.0.0, which Gradio's `launch` reads.
"""

import sys
from pathlib import Path

try:
    from diffusers_textvid.demo import build_demo
except ImportError:  # run from a checkout without installing: the package lies one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from diffusers_textvid.demo import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
