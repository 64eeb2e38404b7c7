"""The render stage: settings, seeds, resume and interruption, and the real SDXL path.

The real path runs diffusers' StableDiffusionXLPipeline on the CPU with a tiny
random-weight pipeline built in this session (``fakes/tiny_sdxl.py``): nothing comes
from a model hub. Tests of the stage's bookkeeping use a fake renderer that paints each
image one colour, so they need neither torch nor time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import require_images_extra
from scenewright import config
from scenewright.errors import ConfigError, MissingDependencyError, ScenewrightWarning
from scenewright.manifest import PromptEntry, write_manifest
from scenewright.render import (
    IMAGES_MANIFEST_FILENAME,
    Encoding,
    ImageRecord,
    ModelSource,
    RenderProgress,
    RenderSettings,
    check_dependencies,
    check_model_available,
    check_settings,
    choose_device,
    format_duration,
    image_key,
    image_seed,
    nearest_bucket,
    render_images,
    resolve_model,
    run_record,
    validate_settings,
)

# Sizes and CPUs the tiny model renders at draw these warnings on purpose; the tests
# that are about them check them with pytest.warns.
pytestmark = [
    pytest.mark.filterwarnings("ignore:64x64 is not one of the sizes:UserWarning"),
    pytest.mark.filterwarnings("ignore:Rendering on the CPU:UserWarning"),
]

TINY = {"steps": 2, "width": 64, "height": 64}
LONG_PROMPT = ", ".join(["a lighthouse keeper climbs the iron stairs in a storm"] * 14)


def entry(
    chapter: int, index: int, prompt: str, method: str = "keyword", **extra: Any
) -> PromptEntry:
    values: dict[str, Any] = {
        "chapter": chapter,
        "chapter_title": f"Chapter {chapter}",
        "index": index,
        "sentence": f"Sentence {index} of chapter {chapter}.",
        "method": method,
        "model": None,
        "prompt": prompt,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": Decimal(0),
        "duration_s": 0.0,
        "response_id": None,
        "reused": False,
        "key": f"{method}-{chapter}-{index}-{len(prompt)}",
    }
    values.update(extra)
    return PromptEntry(**values)


def write_prompts(out_dir: Path, entries: Sequence[PromptEntry]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = list(dict.fromkeys(e.method for e in entries))
    write_manifest(out_dir, entries, run={"methods": methods}, complete=True)


def images_json(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / IMAGES_MANIFEST_FILENAME).read_text(encoding="utf-8"))


# --- Settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"steps": 0}, "--steps 0"),
        ({"guidance": -1.0}, "--guidance"),
        ({"guidance": float("nan")}, "--guidance"),
        ({"batch_size": 0}, "--batch-size 0"),
        ({"seed": -5}, "--seed -5"),
        ({"width": 1001}, "try 1000"),
        ({"height": 4}, "multiple of 8"),
        ({"width": 0}, "--width 0: SDXL needs at least 8 pixels .and a multiple of 8"),
        ({"height": -64}, "--height -64: SDXL needs at least 8 pixels"),
        ({"width": 100000, "height": 100000}, "--width 100000: the largest size rendered is 4096"),
        ({"height": 4104}, "--height 4104: the largest size rendered is 4096"),
        ({"steps": 1001}, "--steps 1001: give at most 1000"),
        ({"device": "gpu"}, "--device 'gpu'"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        validate_settings(RenderSettings(**changes))


def test_settings_are_normalized() -> None:
    settings = validate_settings(RenderSettings(device=" CUDA:1 ", negative_prompt="  "))
    assert settings.device == "cuda:1"
    assert settings.negative_prompt is None


@pytest.mark.parametrize("size", [(1024, 1024), (832, 1216), (1344, 768), (640, 1536)])
def test_sdxl_sizes_draw_no_warning(size: tuple[int, int]) -> None:
    check_settings(RenderSettings(width=size[0], height=size[1]))


def test_an_untrained_size_warns_and_names_the_nearest() -> None:
    with pytest.warns(ScenewrightWarning, match="--width 1216 --height 832"):
        check_settings(RenderSettings(width=1200, height=800))
    assert nearest_bucket(64, 64) == (1024, 1024)
    assert nearest_bucket(512, 2048) == (512, 2048)


def test_auto_device_prefers_cuda_then_mps_then_cpu() -> None:
    assert choose_device("auto", cuda=True, mps=True) == "cuda"
    assert choose_device("auto", cuda=False, mps=True) == "mps"
    assert choose_device("auto", cuda=False, mps=False) == "cpu"
    assert choose_device("cuda:1", cuda=True, mps=False) == "cuda:1"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        choose_device("cuda", cuda=False, mps=True)
    with pytest.raises(ConfigError, match="Apple Silicon"):
        choose_device("mps", cuda=True, mps=False)
    assert choose_device("cuda:1", cuda=True, mps=False, cuda_count=2) == "cuda:1"
    with pytest.raises(ConfigError, match=r"sees 1 CUDA GPU\(s\) here, numbered from 0 to 0"):
        choose_device("cuda:1", cuda=True, mps=False, cuda_count=1)


def test_size_and_steps_limits_are_named_and_allowed() -> None:
    validate_settings(RenderSettings(width=4096, height=4096, steps=1000))
    validate_settings(RenderSettings(width=8, height=8, steps=1))


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_an_absent_device_is_refused_before_any_prompt_is_written(
    device: str, in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_images_extra()
    import torch
    from click.testing import CliRunner

    from scenewright.cli import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    args = ["illustrate", "--sample", "--chapters", "1", "--device", device]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"--device {device}:" in result.output
    assert "Traceback" not in result.output
    assert not (in_tmp_cwd / "scenewright-out").exists()


def test_a_size_too_large_is_refused_before_any_prompt_is_written(in_tmp_cwd: Path) -> None:
    from click.testing import CliRunner

    from scenewright.cli import cli

    args = ["illustrate", "--sample", "--chapters", "1", "--width", "100000"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "the largest size rendered is 4096" in result.output
    assert not (in_tmp_cwd / "scenewright-out").exists()


def test_missing_packages_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in {"torch", "diffusers"} else real(name, *a),
    )
    with pytest.raises(MissingDependencyError) as caught:
        check_dependencies()
    message = str(caught.value)
    assert 'pip install "scenewright[images]"' in message
    assert "torch, diffusers" in message
    assert "--dry-run" in message


def test_format_duration() -> None:
    assert format_duration(0.42) == "0.4 s"
    assert format_duration(42) == "42 s"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(7500) == "2 h 5 min"


# --- Models ---------------------------------------------------------------------------


def test_model_sources(tmp_path: Path) -> None:
    assert resolve_model(config.DEFAULT_SDXL_MODEL) == ModelSource(
        "hub", config.DEFAULT_SDXL_MODEL, config.DEFAULT_SDXL_MODEL
    )
    folder = tmp_path / "my model"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"model_index\.json"):
        resolve_model(str(folder))
    (folder / "model_index.json").write_text("{}", encoding="utf-8")
    assert resolve_model(str(folder)).kind == "folder"
    checkpoint = tmp_path / "sdxl.safetensors"
    checkpoint.write_bytes(b"")
    assert resolve_model(str(checkpoint)) == ModelSource("file", str(checkpoint), str(checkpoint))
    pickle = tmp_path / "sdxl.ckpt"
    pickle.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"only \.safetensors"):
        resolve_model(str(pickle))
    for missing in ("./nowhere", str(tmp_path / "gone.safetensors"), "C:\\models\\x", "a/b/c"):
        with pytest.raises(ConfigError, match="no such file or folder"):
            resolve_model(missing)


def test_offline_hub_model_that_is_not_downloaded_fails_before_any_prompt() -> None:
    # conftest sets HF_HUB_OFFLINE and an empty HF_HOME.
    pytest.importorskip("huggingface_hub")
    with pytest.raises(ConfigError, match="--dry-run") as caught:
        check_model_available(resolve_model(config.DEFAULT_SDXL_MODEL))
    assert "HF_HUB_OFFLINE" in str(caught.value)


# --- Seeds and keys -----------------------------------------------------------------------


def test_seeds_are_stable_and_distinct() -> None:
    assert image_seed(42, 1, 1) == image_seed(42, 1, 1)
    seeds = {image_seed(42, c, i) for c in range(1, 4) for i in range(1, 50)}
    assert len(seeds) == 3 * 49
    assert image_seed(42, 1, 1) != image_seed(43, 1, 1)
    assert all(0 <= s < 2**32 for s in seeds)
    # Pinned: a change here re-renders every image of every user.
    assert image_seed(42, 1, 1) == 0x09385202


def test_key_covers_everything_that_decides_the_pixels() -> None:
    model = resolve_model(config.DEFAULT_SDXL_MODEL)
    base = RenderSettings()
    key = image_key(model, "a boat", 1, base)
    assert image_key(model, "a boat", 1, base) == key
    assert image_key(model, "a ship", 1, base) != key
    assert image_key(model, "a boat", 2, base) != key
    for change in (
        {"steps": 30},
        {"guidance": 7.0},
        {"width": 832, "height": 1216},
        {"negative_prompt": "blurry"},
    ):
        assert image_key(model, "a boat", 1, RenderSettings(**change)) != key
    # Not the device or the batch size: they do not change what the image shows.
    assert image_key(model, "a boat", 1, RenderSettings(device="cpu", batch_size=4)) == key


# --- The stage, with a fake renderer ------------------------------------------------------


class PaintRenderer:
    """Paints each image one colour from its seed; counts what it was asked to do."""

    device = "cuda"
    dtype = "float16"
    scheduler = "FakeScheduler"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encoding(self, prompt: str) -> Encoding:
        tokens = len(prompt.split())
        return Encoding(tokens=tokens, chunks=max(1, -(-tokens // 75)))

    def render(
        self,
        prompts: Sequence[str],
        seeds: Sequence[int],
        settings: RenderSettings,
        on_step: Callable[[int, int], None],
    ) -> list[Any]:
        from PIL import Image

        self.batches.append(list(prompts))
        for step in range(settings.steps):
            on_step(step + 1, settings.steps)
        return [
            Image.new(
                "RGB", (settings.width, settings.height), color=tuple(seed.to_bytes(4, "big")[:3])
            )
            for seed in seeds
        ]


@pytest.fixture
def pil(images_extra: None) -> None:
    pytest.importorskip("PIL", reason='the images extra: pip install -e ".[images]"')


def fake_settings(**changes: Any) -> RenderSettings:
    return RenderSettings(sdxl_model=config.DEFAULT_SDXL_MODEL, **{**TINY, **changes})


def test_stage_renders_missing_images_then_skips_them(tmp_path: Path, pil: None) -> None:
    entries = [entry(1, i, f"prompt number {i}") for i in range(1, 6)]
    write_prompts(tmp_path, entries)
    painter = PaintRenderer()
    report = render_images(tmp_path, fake_settings(), load=lambda *_: painter)
    assert (report.rendered, report.skipped, report.complete) == (5, 0, True)
    data = images_json(tmp_path)
    assert data["complete"] is True
    assert data["summary"]["rendered"] == 5
    for item, e in zip(data["images"], entries, strict=True):
        assert item["prompt_key"] == e.key
        assert (tmp_path / item["path"]).is_file()
        assert item["path"].startswith(f"images/ch001/s{e.index:04d}-keyword-")
        assert item["seed"] == image_seed(config.DEFAULT_RENDER_SEED, 1, e.index)
        assert item["settings"] == {**TINY, "guidance": 5.0, "negative_prompt": None}
        assert item["model"] == config.DEFAULT_SDXL_MODEL
        assert item["device"] == "cuda"
    assert not list(tmp_path.rglob("*.tmp"))

    def no_model(*_: object) -> PaintRenderer:
        raise AssertionError("a finished run must not load the model")

    again = render_images(tmp_path, fake_settings(), load=no_model)
    assert (again.rendered, again.skipped, again.complete) == (0, 5, True)
    # What only the rendering run knew is kept.
    assert [r.device for r in again.records] == ["cuda"] * 5

    # Other settings are other images, beside the old ones.
    other = render_images(tmp_path, fake_settings(steps=3), load=lambda *_: PaintRenderer())
    assert other.rendered == 5
    assert len(list((tmp_path / "images").rglob("*.png"))) == 10


def test_interrupted_stage_keeps_finished_images(tmp_path: Path, pil: None) -> None:
    write_prompts(tmp_path, [entry(1, i, f"prompt {i}") for i in range(1, 6)])

    class StopOnThird(RenderProgress):
        images = 0

        def image(self, record: ImageRecord) -> None:
            self.images += 1

        def step(self, step: int, steps: int) -> None:
            if self.images == 2 and step == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_images(
            tmp_path, fake_settings(), progress=StopOnThird(), load=lambda *_: PaintRenderer()
        )
    data = images_json(tmp_path)
    assert data["complete"] is False
    assert len(data["images"]) == 2
    assert len(list((tmp_path / "images").rglob("*.png"))) == 2
    assert not list(tmp_path.rglob("*.tmp"))
    report = render_images(tmp_path, fake_settings(), load=lambda *_: PaintRenderer())
    assert (report.rendered, report.skipped, report.complete) == (3, 2, True)


def test_batches_hold_prompts_of_one_length(tmp_path: Path, pil: None) -> None:
    long = " ".join(["word"] * 100)  # two CLIP windows for the fake
    prompts = ["short one", long, "short two", long + " more", "short three"]
    write_prompts(tmp_path, [entry(1, i + 1, p) for i, p in enumerate(prompts)])
    painter = PaintRenderer()
    report = render_images(tmp_path, fake_settings(batch_size=2), load=lambda *_: painter)
    assert painter.batches == [
        ["short one", "short two"],
        [long, long + " more"],
        ["short three"],
    ]
    assert report.long_prompts == 2
    # The manifest keeps the prompts' order, whatever the batches were.
    assert [r.index for r in report.records] == [1, 2, 3, 4, 5]


def test_every_method_of_a_sentence_shares_its_seed(tmp_path: Path, pil: None) -> None:
    entries = [entry(1, 1, "a red boat", m) for m in ("keyword", "haiku", "ollama")]
    write_prompts(tmp_path, entries)
    report = render_images(tmp_path, fake_settings(), load=lambda *_: PaintRenderer())
    assert len({r.seed for r in report.records}) == 1
    assert len({r.path for r in report.records}) == 3
    record = run_record(images_json(tmp_path))
    assert record is not None
    assert record["seeds"] == [{"chapter": 1, "index": 1, "seed": image_seed(42, 1, 1)}]
    assert record["settings"]["seed"] == 42


def test_a_run_of_other_chapters_keeps_earlier_images_listed(tmp_path: Path, pil: None) -> None:
    chapter_1 = [entry(1, i, f"first {i}") for i in (1, 2)]
    chapter_2 = [entry(2, i, f"second {i}") for i in (1, 2)]
    write_prompts(tmp_path, chapter_1)
    render_images(tmp_path, fake_settings(steps=3), load=lambda *_: PaintRenderer())
    # A later run illustrates chapter 2 only, with other settings, into the same folder.
    write_prompts(tmp_path, [*chapter_1, *chapter_2])
    painter = PaintRenderer()
    report = render_images(
        tmp_path, fake_settings(), only={e.key for e in chapter_2}, load=lambda *_: painter
    )
    assert painter.batches == [["second 1"], ["second 2"]]
    assert (report.total, report.rendered, report.complete) == (2, 2, True)
    listed = images_json(tmp_path)["images"]
    assert [(r["chapter"], r["index"], r["settings"]["steps"]) for r in listed] == [
        (1, 1, 3),
        (1, 2, 3),
        (2, 1, 2),
        (2, 2, 2),
    ]


def test_missing_prompt_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scenewright illustrate"):
        render_images(tmp_path, fake_settings(), load=lambda *_: PaintRenderer())


# --- The real SDXL pipeline, tiny, on the CPU ---------------------------------------------


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight SDXL pipeline saved with save_pretrained, built once per session."""
    pytest.importorskip("diffusers", reason='the images extra: pip install -e ".[images]"')
    import torch

    from fakes.tiny_sdxl import save_tiny_sdxl

    # One thread: the tiny model gains nothing from more, and a busy machine's other
    # threads then cannot stall it.
    torch.set_num_threads(1)
    return save_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def tiny_renderer(tiny_model: Path) -> Iterator[Any]:
    from scenewright.sdxl import SDXLRenderer

    yield SDXLRenderer(resolve_model(str(tiny_model)), device="cpu")


def tiny_settings(model: Path, **changes: Any) -> RenderSettings:
    return RenderSettings(**{"sdxl_model": str(model), "device": "cpu", **TINY, **changes})


def pixels(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def test_short_prompts_are_encoded_exactly_as_diffusers_encodes_them(tiny_renderer: Any) -> None:
    import torch

    prompt = "a young woman with short copper-red hair, lighthouse in a storm"
    pipe = tiny_renderer.pipe
    for negative in (None, "blurry, low quality"):
        settings = RenderSettings(negative_prompt=negative, **TINY)
        with torch.inference_mode():
            ours = tiny_renderer._embeddings([prompt], settings)
            theirs = pipe.encode_prompt(
                prompt, device="cpu", do_classifier_free_guidance=True, negative_prompt=negative
            )
        for name, tensor in zip(
            (
                "prompt_embeds",
                "negative_prompt_embeds",
                "pooled_prompt_embeds",
                "negative_pooled_prompt_embeds",
            ),
            theirs,
            strict=True,
        ):
            assert torch.equal(ours[name], tensor), name
    assert tiny_renderer.encoding(prompt) == Encoding(tokens=14, chunks=1)


def test_long_prompts_are_encoded_in_chunks_not_cut(
    tiny_model: Path, tiny_renderer: Any, tmp_path: Path
) -> None:
    encoding = tiny_renderer.encoding(LONG_PROMPT)
    assert encoding.tokens > 75 * 2
    assert encoding.chunks == 3
    # Only the end differs, far past the first 77 tokens: a cut prompt would give equal images.
    entries = [entry(1, 1, LONG_PROMPT + ", red sky"), entry(2, 1, LONG_PROMPT + ", green sea")]
    write_prompts(tmp_path, entries)
    report = render_images(
        tmp_path, tiny_settings(tiny_model, seed=7), load=lambda *_: tiny_renderer
    )
    assert report.long_prompts == 2
    assert {r.chunks for r in report.records} == {3}
    assert all((r.prompt_tokens or 0) > 150 for r in report.records)
    # Chapters 1 and 2, sentence 1 have different seeds; compare the prompts' effect alone.
    import torch

    settings = tiny_settings(tiny_model)
    with torch.inference_mode():
        a = tiny_renderer._embeddings([entries[0].prompt], settings)["prompt_embeds"]
        b = tiny_renderer._embeddings([entries[1].prompt], settings)["prompt_embeds"]
    assert a.shape == b.shape == (1, 3 * 77, 64)
    assert torch.equal(a[:, :77], b[:, :77])
    assert not torch.equal(a[:, 154:], b[:, 154:])


def test_seeds_reproduce_pixels_and_batches_do_not_change_them(
    tiny_model: Path, tiny_renderer: Any, tmp_path: Path
) -> None:
    entries = [
        entry(1, i, p) for i, p in enumerate(["a red boat", "a green lamp", "a calm sea"], 1)
    ]
    write_prompts(tmp_path / "one", entries)
    write_prompts(tmp_path / "two", entries)
    one = render_images(tmp_path / "one", tiny_settings(tiny_model), load=lambda *_: tiny_renderer)
    two = render_images(
        tmp_path / "two", tiny_settings(tiny_model, batch_size=3), load=lambda *_: tiny_renderer
    )
    assert [r.path for r in one.records] == [r.path for r in two.records]
    first = [pixels(tmp_path / "one" / r.path) for r in one.records]
    assert first[0].shape == (64, 64, 3)
    assert not (first[0] == first[1]).all()
    for record, image in zip(two.records, first, strict=True):
        difference = abs(pixels(tmp_path / "two" / record.path).astype(int) - image.astype(int))
        assert difference.max() <= 2  # batched matrix products may round differently
    # Delete one image: the next run renders it alone, and exactly as before.
    (tmp_path / "one" / one.records[1].path).unlink()
    again = render_images(
        tmp_path / "one", tiny_settings(tiny_model), load=lambda *_: tiny_renderer
    )
    assert (again.rendered, again.skipped) == (1, 2)
    assert (pixels(tmp_path / "one" / one.records[1].path) == first[1]).all()


def test_png_carries_its_recipe(tiny_model: Path, tiny_renderer: Any, tmp_path: Path) -> None:
    from PIL import Image

    write_prompts(tmp_path, [entry(3, 9, "a brass key <on> a table")])
    report = render_images(
        tmp_path,
        tiny_settings(tiny_model, negative_prompt="blurry"),
        load=lambda *_: tiny_renderer,
    )
    record = report.records[0]
    with Image.open(tmp_path / record.path) as image:
        text = dict(image.text)
    assert text["parameters"].startswith("a brass key <on> a table\nNegative prompt: blurry\n")
    assert f"Seed: {record.seed}," in text["parameters"]
    assert "Steps: 2," in text["parameters"] and "Size: 64x64" in text["parameters"]
    assert text["Description"] == "Sentence 9 of chapter 3."


def test_cpu_rendering_warns_with_the_expected_time(
    tiny_model: Path, tiny_renderer: Any, tmp_path: Path
) -> None:
    write_prompts(tmp_path, [entry(1, 1, "a red boat"), entry(1, 2, "a green lamp")])
    expected = (
        r"Rendering on the CPU \(no GPU found; \d+ cores\), .* per image at 64x64 with 2 steps"
    )
    with pytest.warns(ScenewrightWarning, match=expected) as caught:
        render_images(
            tmp_path, tiny_settings(tiny_model, device="auto"), load=lambda *_: tiny_renderer
        )
    ours = [w for w in caught if issubclass(w.category, ScenewrightWarning)]
    assert len(ours) == 1  # once per run, not per image
    assert "for the 2 image(s) to render" in str(ours[0].message)


@pytest.mark.parametrize(
    ("device", "error"),
    [
        (
            "cpu",
            RuntimeError(
                "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4e10 bytes"
            ),
        ),
        (
            "cpu",
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory"
            ),
        ),
        ("cpu", MemoryError()),
        ("cuda", RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")),
    ],
)
def test_running_out_of_memory_gives_advice_that_fits_the_device(
    tiny_model: Path,
    tiny_renderer: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    error: BaseException,
) -> None:
    from scenewright.errors import RenderError

    def fail(*_: Any) -> Any:
        raise error

    monkeypatch.setattr(tiny_renderer, "_embeddings", fail)
    monkeypatch.setattr(tiny_renderer, "device", device)
    settings = tiny_settings(tiny_model)
    with pytest.raises(RenderError) as caught:
        tiny_renderer.render(["a", "b"], [1, 2], settings, lambda *_: None)
    message = str(caught.value)
    assert "ran out of memory" in message
    assert "--batch-size 1" in message and "smaller --width/--height" in message
    if device == "cpu":
        assert "(RAM)" in message and "--device cpu" not in message
    else:
        assert "The GPU (cuda)" in message


def test_other_render_failures_on_the_cpu_do_not_advise_the_cpu(
    tiny_model: Path, tiny_renderer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenewright.errors import RenderError

    def fail(*_: Any) -> Any:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(tiny_renderer, "_embeddings", fail)
    with pytest.raises(RenderError, match="another --sdxl-model") as caught:
        tiny_renderer.render(["a"], [1], tiny_settings(tiny_model), lambda *_: None)
    assert "--device cpu" not in str(caught.value)


def test_a_folder_that_is_not_sdxl_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from scenewright.errors import RenderError
    from scenewright.sdxl import SDXLRenderer

    (tmp_path / "model_index.json").write_text('{"_class_name": "Nothing"}', encoding="utf-8")
    with pytest.raises(RenderError, match="must be a Stable Diffusion XL pipeline"):
        SDXLRenderer(resolve_model(str(tmp_path)), device="cpu")


# --- `scenewright illustrate` end to end ---------------------------------------------------


def test_illustrate_renders_every_sentence_then_nothing_new(
    tiny_model: Path, in_tmp_cwd: Path
) -> None:
    import subprocess
    import sys

    from click.testing import CliRunner
    from PIL import Image

    from scenewright.cli import cli

    args = [
        "illustrate",
        "--sample",
        "--chapters",
        "1",
        "--llm",
        "keyword",
        "--sdxl-model",
        str(tiny_model),
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
    ]
    # Its warnings (the size, the CPU) are ignored here; the second run below shows them.
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = in_tmp_cwd / "scenewright-out" / "sample"
    summary = json.loads(result.stdout)
    sentences = json.loads((out / "sentences.json").read_text(encoding="utf-8"))["sentences"]
    assert summary["images"]["rendered"] == summary["images"]["images"] == len(sentences) > 10
    data = images_json(out)
    assert data["complete"] is True
    paths = [out / item["path"] for item in data["images"]]
    assert [(i["chapter"], i["index"]) for i in data["images"]] == [
        (s["chapter"], s["index"]) for s in sentences
    ]
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (64, 64)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "complete"
    assert run["settings"]["render"]["steps"] == 2
    assert run["render"]["seeds"][0] == {"chapter": 1, "index": 1, "seed": image_seed(42, 1, 1)}
    assert len(run["render"]["seeds"]) == len(sentences)
    page = (out / "storyboard.html").read_text(encoding="utf-8")
    assert summary["storyboard"] == str(Path("scenewright-out/sample/storyboard.html"))
    assert all(f'src="{item["path"]}"' in page for item in data["images"])
    mtimes = [path.stat().st_mtime_ns for path in paths]

    # The same command again, as a user runs it: nothing is rendered, torch is not even loaded.
    again = subprocess.run(
        [sys.executable, "-m", "scenewright", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=in_tmp_cwd,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 0, again.stderr
    assert f"{len(sentences)} image(s): 0 rendered, {len(sentences)} already there" in again.stderr
    assert "Warning: 64x64 is not one of the sizes" in again.stderr
    assert "Loading the SDXL model" not in again.stderr
    assert "Traceback" not in again.stderr
    assert [path.stat().st_mtime_ns for path in paths] == mtimes


def test_illustrate_without_the_images_extra_names_the_install(
    in_tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from click.testing import CliRunner

    from scenewright.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "diffusers" else real(name, *a),
    )
    result = CliRunner().invoke(cli, ["illustrate", "--sample", "--chapters", "1"])
    assert result.exit_code == 1
    assert 'pip install "scenewright[images]"' in result.output
    assert "Traceback" not in result.output
    # Refused before anything was written.
    assert not (in_tmp_cwd / "scenewright-out").exists()


def test_interrupted_render_marks_the_run_and_still_writes_the_storyboard(
    tiny_model: Path, in_tmp_cwd: Path
) -> None:
    from scenewright.cli import sample_paths
    from scenewright.pipeline import IllustrateOptions, IllustrationRun

    class StopAtThirdImage(RenderProgress):
        done = 0

        def image(self, record: ImageRecord) -> None:
            self.done += 1

        def step(self, step: int, steps: int) -> None:
            if self.done == 2:
                raise KeyboardInterrupt

    novel, _ = sample_paths()
    options = IllustrateOptions(
        chapters="1", dry_run=False, out_dir=in_tmp_cwd / "out", render=tiny_settings(tiny_model)
    )
    run = IllustrationRun(novel, options)
    run.render_progress = StopAtThirdImage()
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    out = in_tmp_cwd / "out"
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted"
    assert record["render"]["summary"]["listed"] == 2
    assert len(record["render"]["seeds"]) == 2
    assert (out / "storyboard.html").read_text(encoding="utf-8").count("<img ") == 2
    assert len(list((out / "images").rglob("*.png"))) == 2
    # Run again: only the rest is rendered.
    result = IllustrationRun(novel, options).execute()
    assert result.images is not None
    assert result.images.skipped == 2
    assert result.images.rendered == result.images.total - 2
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["status"] == "complete"
