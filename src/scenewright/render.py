"""The render stage: one SDXL image per prompt in a run's ``prompts.json``.

It reads the prompt manifest the prompt stage left in the output folder and writes::

    images/ch001/s0003-keyword-1a2b3c4d5e.png   one image per prompt entry
    images.json                                 the images manifest: path, seed, settings, model

Everything that decides an image's pixels (model, prompt, negative prompt, steps,
guidance, size and seed) goes into its key, and the key into its file name. An image
whose file exists is therefore already done: a second run renders nothing, a run with
other settings renders new files beside the old ones, and an interrupted run loses only
the images in flight (each file is written to a temporary name and renamed when whole).

Seeds are derived from the base seed (``--seed``), the chapter and the sentence, so an
image can be re-rendered alone (delete its file and run again) and comes out the same.

torch and diffusers are imported only when something is rendered (``scenewright.sdxl``),
so the CLI starts fast and a prompts-only install never needs them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from scenewright import __version__, config
from scenewright.errors import (
    ConfigError,
    MissingDependencyError,
    ScenewrightWarning,
)
from scenewright.fileio import atomic_write_json, fsync_dir, read_json, replace_file
from scenewright.manifest import MANIFEST_FILENAME, PromptEntry, prompt_key

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGES_DIRNAME = "images"
IMAGES_MANIFEST_FILENAME = "images.json"
# Bumped when images.json changes in a way readers must know about.
IMAGES_FORMAT = 1
# Names how seeds and keys are derived; changing either would re-render every image.
SEED_SCHEME = "sha256(scenewright-seed-v1:base:chapter:sentence)[:4]"
KEY_VERSION = "scenewright-image-v1"
# Images are for looking at and sharing; manifests stay owner-only (fileio's default).
IMAGE_FILE_MODE = 0o644

# The optional packages rendering needs: import name -> distribution name.
RENDER_PACKAGES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "safetensors": "safetensors",
    "PIL": "pillow",
}
INSTALL_HINT = 'pip install "scenewright[images]"'

DEVICES = ("auto", "cuda", "mps", "cpu")
# The largest --width or --height: SDXL was trained up to about 1.5 megapixels, and one
# image of 4096x4096 already needs tens of GB of memory.
MAX_SIZE = 4096
# SDXL's scheduler has 1000 training timesteps: more denoising steps than that are noise.
MAX_STEPS = 1000
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


# --- Settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    """How ``scenewright illustrate`` renders (its --sdxl-model, --steps, ... options)."""

    sdxl_model: str = config.DEFAULT_SDXL_MODEL  # diffusers folder, .safetensors file or hub id
    steps: int = config.DEFAULT_SDXL_STEPS
    guidance: float = config.DEFAULT_SDXL_GUIDANCE
    width: int = config.DEFAULT_SDXL_WIDTH
    height: int = config.DEFAULT_SDXL_HEIGHT
    negative_prompt: str | None = None  # None: SDXL's own default (no negative prompt)
    seed: int = config.DEFAULT_RENDER_SEED  # the base seed; each image's is derived from it
    batch_size: int = config.DEFAULT_RENDER_BATCH_SIZE
    device: str = "auto"  # auto (cuda, then mps, then cpu), cuda, cuda:N, mps or cpu

    def image_settings(self) -> dict[str, Any]:
        """The settings that decide an image's pixels, besides model, prompt and seed."""
        return {
            "steps": self.steps,
            "guidance": self.guidance,
            "width": self.width,
            "height": self.height,
            "negative_prompt": self.negative_prompt,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_settings(settings: RenderSettings) -> RenderSettings:
    """``validate_settings``, and a warning for a size SDXL renders badly."""
    settings = validate_settings(settings)
    size = (settings.width, settings.height)
    if size not in config.SDXL_SIZE_BUCKETS:
        bucket = nearest_bucket(*size)
        warnings.warn(
            f"{settings.width}x{settings.height} is not one of the sizes SDXL was trained at, "
            "so images may be oddly framed (cut-off heads, doubled figures). The nearest "
            f"size with this shape is --width {bucket[0]} --height {bucket[1]}.",
            ScenewrightWarning,
            stacklevel=2,
        )
    return settings


def validate_settings(settings: RenderSettings) -> RenderSettings:
    """Refuse settings SDXL cannot render; return them normalized (an empty negative
    prompt is no negative prompt, the device in lower case)."""
    if settings.steps < 1:
        raise ConfigError(f"--steps {settings.steps}: give at least 1 (SDXL's default is 50).")
    if settings.steps > MAX_STEPS:
        raise ConfigError(
            f"--steps {settings.steps}: give at most {MAX_STEPS}, the number of timesteps "
            "SDXL's scheduler was trained with (more would only add hours, and noise). "
            "SDXL's default is 50; 20 to 60 is the useful range."
        )
    if not math.isfinite(settings.guidance) or settings.guidance < 0:
        raise ConfigError(
            f"--guidance {settings.guidance}: give a number of 0 or more (SDXL's default is 5.0)."
        )
    if settings.batch_size < 1:
        raise ConfigError(f"--batch-size {settings.batch_size}: give at least 1.")
    if not 0 <= settings.seed < 2**63:
        raise ConfigError(f"--seed {settings.seed}: give a whole number from 0 to 2**63 - 1.")
    multiple = config.SDXL_SIZE_MULTIPLE
    for name, value in (("--width", settings.width), ("--height", settings.height)):
        if value < multiple:
            raise ConfigError(
                f"{name} {value}: SDXL needs at least {multiple} pixels (and a multiple of "
                f"{multiple}); its trained sizes, such as 1024, frame best."
            )
        if value > MAX_SIZE:
            raise ConfigError(
                f"{name} {value}: the largest size rendered is {MAX_SIZE} pixels (SDXL was "
                "trained at about 1024x1024, and larger images need tens of GB of memory). "
                "Render at 1024 and upscale the image with another tool."
            )
        if value % multiple:
            nearest = max(multiple, round(value / multiple) * multiple)
            raise ConfigError(
                f"{name} {value}: SDXL needs a multiple of {multiple} pixels; try {nearest}."
            )
    device = settings.device.strip().lower()
    if not _DEVICE_PATTERN.match(device):
        raise ConfigError(
            f"--device {settings.device!r}: use auto, cuda, cuda:N (a GPU number), mps or cpu."
        )
    negative = (settings.negative_prompt or "").strip() or None
    return replace(settings, device=device, negative_prompt=negative)


def nearest_bucket(width: int, height: int) -> tuple[int, int]:
    """The SDXL training size closest in shape, then in area, to ``width`` x ``height``."""
    aspect = math.log(width / height)
    return min(
        config.SDXL_SIZE_BUCKETS,
        key=lambda b: (
            round(abs(math.log(b[0] / b[1]) - aspect), 3),
            abs(b[0] * b[1] - width * height),
        ),
    )


def missing_packages() -> list[str]:
    """Distribution names of the rendering packages that are not installed."""
    return [
        dist for name, dist in RENDER_PACKAGES.items() if importlib.util.find_spec(name) is None
    ]


def check_dependencies() -> None:
    """Raise ``MissingDependencyError`` naming the install command when something is missing."""
    missing = missing_packages()
    if missing:
        raise MissingDependencyError(
            f"Rendering images needs the optional packages {', '.join(missing)}, which are not "
            f"installed. Install them with:  {INSTALL_HINT}  (from a clone: "
            'pip install -e ".[images]"), or add --dry-run to write the prompts only.'
        )


def choose_device(requested: str, *, cuda: bool, mps: bool, cuda_count: int | None = None) -> str:
    """``auto``: CUDA, then Apple's MPS, then the CPU. Asking for an absent GPU is an error.

    ``cuda_count``: how many CUDA GPUs there are, to check ``cuda:N`` (None: not checked).
    """
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda") and not cuda:
        raise ConfigError(
            f"--device {requested}: PyTorch sees no CUDA GPU here. Install a CUDA build of "
            "PyTorch (see the README's rendering section), or use --device auto."
        )
    number = requested.partition(":")[2]
    if number and cuda_count is not None and int(number) >= cuda_count:
        raise ConfigError(
            f"--device {requested}: PyTorch sees {cuda_count} CUDA GPU(s) here, numbered from "
            f"0 to {cuda_count - 1}. Give one of those, or use --device cuda."
        )
    if requested == "mps" and not mps:
        raise ConfigError(
            "--device mps: Apple's Metal (MPS) is not available here; it needs a Mac with "
            "Apple Silicon and macOS 12.3 or newer. Use --device auto."
        )
    return requested


# --- Models -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSource:
    """Where the SDXL weights come from."""

    kind: Literal["folder", "file", "hub"]
    location: str  # an absolute path, or a hub id
    spec: str  # what the user gave

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "location": self.location, "spec": self.spec}


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model(spec: str) -> ModelSource:
    """A diffusers folder, a single ``.safetensors`` file, or a Hugging Face hub id."""
    text = spec.strip()
    if not text:
        raise ConfigError(
            "--sdxl-model is empty: give a diffusers folder, .safetensors file or hub id."
        )
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ConfigError(
                f"--sdxl-model {text}: this folder is not a diffusers pipeline (it has no "
                "model_index.json). Give the folder that save_pretrained wrote, a single "
                ".safetensors file, or a hub id such as " + config.DEFAULT_SDXL_MODEL + "."
            )
        return ModelSource("folder", str(path.resolve()), text)
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise ConfigError(
                f"--sdxl-model {text}: only .safetensors checkpoints are loaded (a .ckpt or .bin "
                "file can run code when opened). Convert it, or download the .safetensors "
                "version of the model."
            )
        return ModelSource("file", str(path.resolve()), text)
    looks_like_path = (
        text.startswith((".", "~", "/", "\\"))
        or "\\" in text
        or re.match(r"^[A-Za-z]:", text) is not None
        or text.lower().endswith((".safetensors", ".ckpt"))
        or text.count("/") > 1
    )
    if looks_like_path or not _HUB_ID.match(text):
        raise ConfigError(
            f"--sdxl-model {text}: no such file or folder. Give a diffusers folder, a "
            f".safetensors file, or a Hugging Face hub id such as {config.DEFAULT_SDXL_MODEL}."
        )
    return ModelSource("hub", text, text)


def check_model_available(source: ModelSource) -> None:
    """Fail before any prompt is written when a hub model cannot be had offline."""
    if source.kind != "hub":
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    if not offline:
        return
    # Imported here: only hub models need it, and it comes with diffusers.
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source.location, "model_index.json")
    if not isinstance(cached, str):
        raise ConfigError(
            f"The SDXL model {source.location} is not downloaded on this computer, and "
            "HF_HUB_OFFLINE is set, so it cannot be fetched. Unset HF_HUB_OFFLINE to download "
            "it once (about 7 GB), point --sdxl-model at a local diffusers folder or "
            ".safetensors file, or add --dry-run to write the prompts only."
        )


def check_device(requested: str) -> None:
    """Fail before any prompt is written when the asked-for device is not here.

    ``auto`` and ``cpu`` are always there; the others need torch, imported only for them.
    """
    if requested in {"auto", "cpu"}:
        return
    import torch

    backend = getattr(torch.backends, "mps", None)
    cuda = torch.cuda.is_available()
    choose_device(
        requested,
        cuda=cuda,
        mps=bool(backend is not None and backend.is_available()),
        cuda_count=torch.cuda.device_count() if cuda else 0,
    )


def prepare(settings: RenderSettings) -> RenderSettings:
    """Everything a run checks before it spends anything: the settings, the optional
    packages, the device, and that the model can be found. Returns the settings normalized."""
    settings = check_settings(settings)
    check_dependencies()
    check_device(settings.device)
    check_model_available(resolve_model(settings.sdxl_model))
    return settings


# --- Seeds, keys and file names -----------------------------------------------------


def image_seed(base_seed: int, chapter: int, index: int) -> int:
    """The seed of sentence ``index`` of ``chapter``: the same on every run and machine.

    A hash, not ``base + n``, so that neighbouring sentences and neighbouring base seeds
    get unrelated noise. 32 bits, the range other SDXL tools accept, so a seed can be
    typed into them.
    """
    text = f"scenewright-seed-v1:{base_seed}:{chapter}:{index}"
    return int.from_bytes(hashlib.sha256(text.encode("ascii")).digest()[:4], "big")


def image_key(model: ModelSource, prompt: str, seed: int, settings: RenderSettings) -> str:
    """Hash of everything that decides an image's pixels."""
    return prompt_key(KEY_VERSION, model.location, prompt, seed, settings.image_settings())


def image_relpath(entry: PromptEntry, key: str) -> str:
    """``images/ch001/s0003-keyword-1a2b3c4d5e.png``: sorted by chapter and sentence."""
    method = re.sub(r"[^a-z0-9]+", "-", entry.method.lower()).strip("-") or "prompt"
    return f"{IMAGES_DIRNAME}/ch{entry.chapter:03d}/s{entry.index:04d}-{method}-{key[:10]}.png"


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 20 s``, ``2 h 5 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# --- Records --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRecord:
    """One image in ``images.json``: enough to find it, and to render it again exactly."""

    chapter: int
    index: int
    method: str
    prompt_key: str  # the PromptEntry's key: which prompt this image shows
    key: str  # image_key: which pixels
    path: str  # relative to the output folder, with forward slashes
    seed: int
    base_seed: int
    model: str  # folder or file path, or hub id
    settings: dict[str, Any]  # RenderSettings.image_settings()
    status: str  # "rendered" this run, or "skipped" (already there)
    prompt_tokens: int | None = None  # CLIP tokens, start and end excluded
    chunks: int | None = None  # CLIP windows the prompt was encoded in; > 1 is a long prompt
    device: str | None = None
    dtype: str | None = None
    scheduler: str | None = None
    duration_s: float | None = None  # per image; a batch's time shared among its images
    created: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageRecord:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if values.get("duration_s") is not None:
            values["duration_s"] = float(values["duration_s"])
        return cls(**values)


@dataclass
class RenderReport:
    """What a render stage did."""

    out_dir: Path
    settings: RenderSettings
    model: ModelSource
    records: list[ImageRecord] = field(default_factory=list)
    total: int = 0  # images this run asked for
    missing: int = 0  # of those, images not rendered (the stage stopped early)
    complete: bool = False
    device: str | None = None
    dtype: str | None = None
    seconds: float = 0.0

    @property
    def rendered(self) -> int:
        return sum(1 for r in self.records if r.status == "rendered")

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.records if r.status == "skipped")

    @property
    def long_prompts(self) -> int:
        """Images whose prompt was longer than CLIP's window, encoded in chunks, not cut."""
        return sum(1 for r in self.records if (r.chunks or 0) > 1)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / IMAGES_MANIFEST_FILENAME

    def summary(self) -> dict[str, Any]:
        return {
            "images": self.total,
            "listed": len(self.records),
            "rendered": self.rendered,
            "skipped": self.skipped,
            "missing": self.missing,
            "long_prompts": self.long_prompts,
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": IMAGES_FORMAT,
            "scenewright_version": __version__,
            "complete": self.complete,
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": self.model.to_json(),
            "settings": self.settings.to_json(),
            "seed_scheme": SEED_SCHEME,
            "device": self.device,
            "dtype": self.dtype,
            "summary": self.summary(),
            "images": [r.to_json() for r in self.records],
        }


def read_images_manifest(out_dir: Path) -> dict[str, Any] | None:
    """``images.json`` of ``out_dir``, or None when there is none or it cannot be read."""
    path = out_dir / IMAGES_MANIFEST_FILENAME
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_record(images: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The render stage's part of ``run.json``, from ``images.json``: its settings, model,
    device and the seed of every sentence, so that any image can be rendered again."""
    if not images:
        return None
    seeds: dict[tuple[int, int], int] = {}
    for item in images.get("images") or ():
        with suppress(KeyError, TypeError, ValueError):
            seeds.setdefault((int(item["chapter"]), int(item["index"])), int(item["seed"]))
    return {
        "complete": images.get("complete"),
        "model": images.get("model"),
        "settings": images.get("settings"),
        "seed_scheme": images.get("seed_scheme"),
        "device": images.get("device"),
        "dtype": images.get("dtype"),
        "summary": images.get("summary"),
        "seeds": [{"chapter": c, "index": i, "seed": s} for (c, i), s in sorted(seeds.items())],
    }


def _previous_records(out_dir: Path) -> dict[str, ImageRecord]:
    data = read_images_manifest(out_dir) or {}
    found: dict[str, ImageRecord] = {}
    for item in data.get("images") or ():
        with suppress(TypeError, ValueError, AttributeError):
            record = ImageRecord.from_json(item)
            found[record.key] = record
    return found


# --- The backend ------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    """One image to render."""

    entry: PromptEntry
    seed: int
    key: str
    path: str


@dataclass(frozen=True)
class Encoding:
    """How a prompt went into CLIP: its length in tokens and the windows it took."""

    tokens: int
    chunks: int


class Renderer(Protocol):
    """What the render stage needs from a loaded model (``scenewright.sdxl.SDXLRenderer``)."""

    device: str
    dtype: str
    scheduler: str

    def encoding(self, prompt: str) -> Encoding: ...

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        settings: RenderSettings,
        on_step: Callable[[int, int], None],
    ) -> list[Image]: ...


RendererFactory = Callable[[ModelSource, RenderSettings], Renderer]


def load_sdxl(source: ModelSource, settings: RenderSettings) -> Renderer:
    """Load the real SDXL pipeline (imports torch and diffusers, which takes seconds)."""
    from scenewright.sdxl import SDXLRenderer

    return SDXLRenderer(source, device=settings.device)


# --- Progress -------------------------------------------------------------------------


class RenderProgress:
    """Callbacks from the render stage; the default does nothing."""

    def loading(self, source: ModelSource) -> None:
        """The model is about to be loaded."""

    def start(self, total: int, to_render: int, steps: int) -> None:
        """``to_render`` of ``total`` images will be rendered, ``steps`` steps each."""

    def step(self, step: int, steps: int) -> None:
        """A denoising step of the images in flight finished."""

    def image(self, record: ImageRecord) -> None:
        """An image was rendered and saved, or found already there."""

    def close(self) -> None:
        """The stage is over (done, failed or interrupted)."""


class TqdmRenderProgress(RenderProgress):
    """Two bars on stderr, images and denoising steps, and one line per image on stdout."""

    def __init__(self, *, bars: bool, lines: bool) -> None:
        self.bars = bars
        self.lines = lines
        self._images: Any = None
        self._steps: Any = None

    def loading(self, source: ModelSource) -> None:
        where = (
            f"{source.location} (downloaded from the Hugging Face hub on first use, about 7 GB)"
            if source.kind == "hub"
            else f"from {source.location}"
        )
        message = f"Loading the SDXL model {where} ..."
        if self.bars:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)  # above the prompts' bar, if it is still up
        else:
            print(message, file=sys.stderr)

    def start(self, total: int, to_render: int, steps: int) -> None:
        if not self.bars:
            return
        from tqdm import tqdm

        # No fixed positions: the prompts' bar may still be on the screen above these.
        self._images = tqdm(total=total, desc="images", unit="image", file=sys.stderr, leave=False)
        if to_render:
            self._steps = tqdm(total=steps, desc="steps", unit="step", file=sys.stderr, leave=False)

    def step(self, step: int, steps: int) -> None:
        if self._steps is not None:
            if step == 1:
                self._steps.reset(total=steps)
            self._steps.update(1)

    def image(self, record: ImageRecord) -> None:
        if self._images is not None:
            self._images.update(1)
        if self.lines and record.status == "rendered":
            line = f"[{record.chapter}.{record.index}] {record.method}: {record.path}"
            if self._images is not None:
                from tqdm import tqdm

                tqdm.write(line, file=sys.stdout)
            else:
                print(line, flush=True)

    def close(self) -> None:
        for bar in (self._steps, self._images):
            if bar is not None:
                bar.close()
        self._steps = self._images = None


# --- The stage ----------------------------------------------------------------------------


def load_entries(out_dir: Path) -> list[PromptEntry]:
    """The prompt entries of ``out_dir/prompts.json``."""
    path = out_dir / MANIFEST_FILENAME
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{out_dir} has no {MANIFEST_FILENAME}: run `scenewright illustrate` for it first."
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{path} cannot be read ({error}). Run `scenewright illustrate` again to rewrite it."
        ) from error
    try:
        return [PromptEntry.from_json(item) for item in data.get("entries") or ()]
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(
            f"{path} is not a scenewright prompt manifest ({error}). Run `scenewright "
            "illustrate` again to rewrite it."
        ) from error


def plan_jobs(
    entries: Sequence[PromptEntry], settings: RenderSettings, model: ModelSource
) -> list[RenderJob]:
    jobs = []
    for entry in entries:
        seed = image_seed(settings.seed, entry.chapter, entry.index)
        key = image_key(model, entry.prompt, seed, settings)
        jobs.append(RenderJob(entry, seed, key, image_relpath(entry, key)))
    return jobs


def _batches(jobs: Sequence[RenderJob], renderer: Renderer, size: int) -> Iterator[list[RenderJob]]:
    """Batches of up to ``size`` jobs whose prompts take the same number of CLIP windows.

    Prompts in one batch must be padded to one length, and padding changes the picture;
    batching only equal lengths keeps each image the same whatever it was batched with.
    """
    pending: dict[int, list[RenderJob]] = {}
    for job in jobs:
        group = pending.setdefault(renderer.encoding(job.entry.prompt).chunks, [])
        group.append(job)
        if len(group) == size:
            yield list(group)
            group.clear()
    for group in pending.values():
        if group:
            yield list(group)


def save_png(image: Image, path: Path, text: Mapping[str, str]) -> None:
    """Write ``image`` as PNG, with ``text`` chunks, so that the file is whole or absent."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for name, value in text.items():
        info.add_itxt(name, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            tmp.chmod(IMAGE_FILE_MODE & ~_umask())
        replace_file(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _png_text(job: RenderJob, record: ImageRecord, settings: RenderSettings) -> dict[str, str]:
    """The image's recipe inside the PNG, in the ``parameters`` form other SDXL tools read."""
    lines = [job.entry.prompt]
    if settings.negative_prompt:
        lines.append(f"Negative prompt: {settings.negative_prompt}")
    lines.append(
        f"Steps: {settings.steps}, Sampler: {record.scheduler}, CFG scale: {settings.guidance}, "
        f"Seed: {job.seed}, Size: {settings.width}x{settings.height}, Model: {record.model}"
    )
    return {
        "parameters": "\n".join(lines),
        "Software": f"scenewright {__version__}",
        "Description": job.entry.sentence,
    }


def _expected_time_warning(
    first_step_s: float, step_s: float, batch: int, settings: RenderSettings, to_render: int
) -> None:
    """``first_step_s``: the first step with the prompt's encoding; ``step_s``: each later one."""
    per_image = (first_step_s + step_s * (settings.steps - 1)) / max(1, batch)
    why = "no GPU found; " if settings.device == "auto" else ""
    warnings.warn(
        f"Rendering on the CPU ({why}{os.cpu_count() or 1} cores), which is slow. Expect about "
        f"{format_duration(per_image)} per image at {settings.width}x{settings.height} with "
        f"{settings.steps} steps (measured on the first steps), about "
        f"{format_duration(per_image * to_render)} for the {to_render} image(s) to render. An "
        "NVIDIA GPU (CUDA) or an Apple Silicon Mac (mps) takes seconds per image.",
        ScenewrightWarning,
        stacklevel=2,
    )


def render_images(
    out_dir: Path,
    settings: RenderSettings,
    *,
    only: Collection[str] | None = None,
    progress: RenderProgress | None = None,
    load: RendererFactory | None = None,
) -> RenderReport:
    """Render the prompts of ``out_dir/prompts.json`` that have no image yet.

    ``only`` (prompt keys) limits the rendering to one run's prompts; the images of the
    manifest's other prompts (chapters an earlier run illustrated) are listed when their
    files exist. ``images.json`` is written however the stage ends (done, error, Ctrl+C).
    The model is loaded only when an image is missing, so a second run costs no time.
    """
    settings = validate_settings(settings)
    progress = progress or RenderProgress()
    model = resolve_model(settings.sdxl_model)
    jobs = plan_jobs(load_entries(out_dir), settings, model)
    wanted = [job for job in jobs if only is None or job.entry.key in only]
    earlier = {
        record.prompt_key: record
        for record in _previous_records(out_dir).values()
        if (out_dir / record.path).is_file()
    }
    report = RenderReport(out_dir=out_dir, settings=settings, model=model, total=len(wanted))
    started = time.perf_counter()
    todo: list[RenderJob] = []
    try:
        for job in jobs:
            if (out_dir / job.path).is_file():
                report.records.append(_skipped_record(job, settings, model, earlier))
            elif only is None or job.entry.key in only:
                todo.append(job)
            elif job.entry.key in earlier:
                # Another run's chapter, rendered with its own settings: listed as it is.
                report.records.append(replace(earlier[job.entry.key], status="skipped"))
        renderer: Renderer | None = None
        if todo:
            check_dependencies()
            progress.loading(model)
            renderer = (load or load_sdxl)(model, settings)
            report.device, report.dtype = renderer.device, renderer.dtype
        progress.start(len(wanted), len(todo), settings.steps)
        for record in report.records:
            progress.image(record)
        if renderer is not None:
            _render_jobs(todo, renderer, settings, model, report, progress)
    finally:
        report.seconds = time.perf_counter() - started
        progress.close()
        done = {record.key for record in report.records}
        report.missing = sum(1 for job in wanted if job.key not in done)
        report.complete = report.missing == 0
        order = {job.entry.key: n for n, job in enumerate(jobs)}
        report.records.sort(key=lambda r: order.get(r.prompt_key, len(order)))
        atomic_write_json(report.manifest_path, report.to_json())
    return report


def _job_record(
    job: RenderJob, settings: RenderSettings, model: ModelSource, *, status: str
) -> ImageRecord:
    """What every image record says, whether the image was rendered now or earlier."""
    return ImageRecord(
        chapter=job.entry.chapter,
        index=job.entry.index,
        method=job.entry.method,
        prompt_key=job.entry.key,
        key=job.key,
        path=job.path,
        seed=job.seed,
        base_seed=settings.seed,
        model=model.location,
        settings=settings.image_settings(),
        status=status,
    )


def _skipped_record(
    job: RenderJob,
    settings: RenderSettings,
    model: ModelSource,
    earlier: Mapping[str, ImageRecord],
) -> ImageRecord:
    base = _job_record(job, settings, model, status="skipped")
    old = earlier.get(job.entry.key)
    if old is None or old.path != job.path:
        return base
    # How it was made (device, timing, tokens) is only known to the run that made it.
    return replace(
        base,
        prompt_tokens=old.prompt_tokens,
        chunks=old.chunks,
        device=old.device,
        dtype=old.dtype,
        scheduler=old.scheduler,
        duration_s=old.duration_s,
        created=old.created,
    )


def _render_jobs(
    todo: Sequence[RenderJob],
    renderer: Renderer,
    settings: RenderSettings,
    model: ModelSource,
    report: RenderReport,
    progress: RenderProgress,
) -> None:
    warned = renderer.device != "cpu"
    for batch in _batches(todo, renderer, settings.batch_size):
        batch_started = time.perf_counter()
        step_times: list[float] = [batch_started]

        def on_step(
            step: int, steps: int, size: int = len(batch), step_times: list[float] = step_times
        ) -> None:
            nonlocal warned
            step_times.append(time.perf_counter())
            # Timed over two steps: the first also encodes the prompt and warms up.
            if not warned and (step == 2 or step == steps):
                warned = True
                first = step_times[1] - step_times[0]
                later = step_times[2] - step_times[1] if step == 2 else first
                _expected_time_warning(first, later, size, settings, len(todo))
            progress.step(step, steps)

        images = renderer.render(
            [job.entry.prompt for job in batch], [job.seed for job in batch], settings, on_step
        )
        per_image = (time.perf_counter() - batch_started) / len(batch)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for job, image in zip(batch, images, strict=True):
            encoding = renderer.encoding(job.entry.prompt)
            record = replace(
                _job_record(job, settings, model, status="rendered"),
                prompt_tokens=encoding.tokens,
                chunks=encoding.chunks,
                device=renderer.device,
                dtype=renderer.dtype,
                scheduler=renderer.scheduler,
                duration_s=round(per_image, 4),
                created=created,
            )
            save_png(image, report.out_dir / job.path, _png_text(job, record, settings))
            report.records.append(record)
            progress.image(record)
