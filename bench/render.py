"""How fast does scenewright render? ``python bench/render.py`` (or ``make bench-render``).

On a CUDA GPU it measures SDXL as users run it: the model from ``--model`` (default SDXL
base, which must be downloaded or downloadable), 1024x1024, 30 steps, float16, batch 1,
through scenewright's own renderer (prompt encoding included), first as it is and then
with the UNet compiled by ``torch.compile``. Compiling takes minutes the first time and
is not counted; each mode renders one warm-up image first.

Without a GPU it renders the tiny random-weight pipeline the tests use (built here in a
scratch folder, nothing downloaded), at its own 64x64, in float32: figures for the
pipeline's overhead on this machine, not for SDXL.

Prints one row per mode: seconds per image and images per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from scenewright import config  # noqa: E402
from scenewright.render import RenderSettings, resolve_model  # noqa: E402

PROMPT = (
    "a lighthouse keeper climbs the iron stairs in a storm, a lantern in one hand, rain on "
    "the round windows, detailed illustration, cinematic lighting, high quality"
)


def measure(renderer: Any, settings: RenderSettings, images: int) -> list[float]:
    """Seconds per image for ``images`` images, after one warm-up image."""
    renderer.render([PROMPT], [0], settings, lambda step, steps: None)
    times = []
    for n in range(images):
        if renderer.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        start = time.perf_counter()
        renderer.render([PROMPT], [n + 1], settings, lambda step, steps: None)
        times.append(time.perf_counter() - start)
    return times


def compile_unet(renderer: Any) -> str | None:
    """Compile the UNet as diffusers' guide suggests; the error text if it cannot be."""
    import torch

    try:
        renderer.pipe.unet.to(memory_format=torch.channels_last)
        renderer.pipe.unet = torch.compile(renderer.pipe.unet, mode="max-autotune", fullgraph=True)
    except Exception as error:  # a bench reports what failed and goes on
        return f"{type(error).__name__}: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="SDXL model (GPU only). Default: SDXL base.")
    parser.add_argument("--images", type=int, help="Images timed per mode. Default: 5 (GPU), 10.")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--no-compile", action="store_true", help="Skip the torch.compile run.")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print('bench/render.py needs the images extra: pip install -e ".[images]"')
        return 2
    from scenewright.sdxl import SDXLRenderer

    # The schedulers' numpy conversion warns with torch 2.13 and numpy 2 (harmless).
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    gpu = torch.cuda.is_available()
    scratch = tempfile.TemporaryDirectory(prefix="scenewright-bench-")
    if gpu:
        model = resolve_model(args.model or config.DEFAULT_SDXL_MODEL)
        size, images, what = 1024, args.images or 5, torch.cuda.get_device_name(0)
    else:
        from fakes.tiny_sdxl import save_tiny_sdxl

        model = resolve_model(str(save_tiny_sdxl(Path(scratch.name))))
        size, images = 64, args.images or 10
        what = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (tiny model)"
    settings = RenderSettings(
        sdxl_model=model.location, steps=args.steps, width=size, height=size, device="auto"
    )
    renderer = SDXLRenderer(model, device="auto")
    print(
        f"# {what}; torch {torch.__version__}; {renderer.device} {renderer.dtype}; "
        f"{size}x{size}, {args.steps} steps, batch 1, {images} images per mode"
    )
    print("| mode | s per image (median) | images per s |")
    print("|---|---|---|")
    modes = ["eager"] if args.no_compile else ["eager", "torch.compile"]
    for mode in modes:
        if mode == "torch.compile":
            failure = compile_unet(renderer)
            if failure:
                print(f"| {mode} | failed: {failure[:200]} | |")
                continue
        try:
            times = measure(renderer, settings, images)
        except Exception as error:  # e.g. no C++ compiler for inductor on this machine
            print(f"| {mode} | failed: {type(error).__name__}: {str(error)[:200]} | |")
            continue
        median = statistics.median(times)
        print(f"| {mode} | {median:.3f} | {1 / median:.2f} |")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
