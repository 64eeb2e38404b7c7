"""Shared fixtures. Every test gets its own cost folder, so none touches a real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.anthropic_server import FakeAnthropicServer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def costs_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SCENEWRIGHT_COSTS_DIR at a fresh folder and keep API keys out of tests."""
    path = tmp_path_factory.mktemp("costs")
    monkeypatch.setenv("SCENEWRIGHT_COSTS_DIR", str(path))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    # The SDK's other credential sources, so no developer's own setup leaks into a test.
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


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
