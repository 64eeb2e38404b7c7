"""Shared fixtures. Every test gets its own cost folder, so none touches a real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def costs_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SCENEWRIGHT_COSTS_DIR at a fresh folder and keep API keys out of tests."""
    path = tmp_path_factory.mktemp("costs")
    monkeypatch.setenv("SCENEWRIGHT_COSTS_DIR", str(path))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
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
