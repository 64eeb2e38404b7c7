"""Shared fixtures. Every test gets its own cost folder, so none touches a real ledger."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.anthropic_server import FakeAnthropicServer
from fakes.ollama_server import FakeOllamaServer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# No test reaches a model hub (the rendering tests build their model here), and none finds a
# model a developer downloaded: an empty Hugging Face home, offline. Set at import, before
# huggingface_hub is imported, as it reads them once.
_HF_HOME = tempfile.TemporaryDirectory(prefix="scenewright-test-hf-")
os.environ["HF_HOME"] = _HF_HOME.name
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    _HF_HOME.cleanup()


@pytest.fixture(autouse=True)
def costs_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SCENEWRIGHT_COSTS_DIR at a fresh folder and keep API keys out of tests."""
    path = tmp_path_factory.mktemp("costs")
    monkeypatch.setenv("SCENEWRIGHT_COSTS_DIR", str(path))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    # A developer's own default budget must not stop, or fail to stop, a test's run.
    monkeypatch.delenv("SCENEWRIGHT_BUDGET_USD", raising=False)
    monkeypatch.delenv("SCENEWRIGHT_MAX_TOTAL_USD", raising=False)
    # The SDK's other credential sources, so no developer's own setup leaks into a test.
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def require_images_extra() -> None:
    """Skip the test, saying why and how to fix it, when the images extra is not installed.

    ``make test`` installs it (torch, diffusers, transformers, ...), so there these tests
    run; ``pip install -e ".[test]"`` alone does not, and then they skip instead of failing.
    """
    from scenewright.render import missing_packages

    missing = missing_packages()
    if missing:
        pytest.skip(
            f"needs the images extra ({', '.join(missing)} not installed): "
            'pip install -e ".[test,images,charts]", or run make test'
        )


@pytest.fixture
def images_extra() -> None:
    """A test that renders (even with a fake model) needs the images extra; see above."""
    require_images_extra()


def shared_novel(name: str) -> Path:
    """Path to a novel in ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is not present on this machine")
    return path


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[FakeAnthropicServer]:
    # One server for the whole run: starting and stopping one per test costs more
    # than the tests themselves. fake_anthropic resets it for every test.
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def fake_anthropic(
    _anthropic_server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeAnthropicServer]:
    """A fake Messages API on 127.0.0.1, with ANTHROPIC_BASE_URL and a key pointing at it.

    Script it with ``fake_anthropic.reply(...)`` / ``.fail(status, ...)``; read
    ``fake_anthropic.requests``. See ``tests/fakes/anthropic_server.py``.
    """
    server = _anthropic_server
    server.reset()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", server.api_key)
    # A proxy set on the machine must not intercept calls to the fake.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield server
    server.reset()


@pytest.fixture(scope="session")
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_real_ollama(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own Ollama must never answer a test: point OLLAMA_HOST at a closed
    # port unless the test asks for fake_ollama.
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port}")
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)


@pytest.fixture(scope="session")
def _ollama_server() -> Iterator[FakeOllamaServer]:
    # One server for the whole run, like the Anthropic fake; fake_ollama resets it.
    with FakeOllamaServer() as server:
        yield server


@pytest.fixture
def fake_ollama(
    _ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeOllamaServer]:
    """A fake Ollama on 127.0.0.1 with OLLAMA_HOST pointing at it; it has ``llama3.2``.

    Script it with ``fake_ollama.reply(...)`` / ``.fail(status, ...)`` / ``.garbage(...)``;
    read ``fake_ollama.requests``. See ``tests/fakes/ollama_server.py``.
    """
    server = _ollama_server
    server.reset()
    monkeypatch.setenv("OLLAMA_HOST", server.host)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield server
    server.reset()
