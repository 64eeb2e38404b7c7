"""Small, careful file helpers shared by the ledger and the run artifacts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import simplejson

# Owner-only: cost records and manifests are nobody else's business on a shared machine.
PRIVATE_FILE_MODE = 0o600


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable; a no-op where the OS cannot (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    The text goes to a temporary file in the same folder, is fsynced, then renamed over
    the target, so a crash at any point leaves one complete version on disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """``atomic_write_text`` of pretty UTF-8 JSON; ``Decimal`` money stays an exact number."""
    text = simplejson.dumps(data, indent=2, ensure_ascii=False, use_decimal=True)
    atomic_write_text(path, text + "\n", mode=mode)


def read_json(path: Path) -> Any:
    """Parse JSON with every non-integer number as an exact ``Decimal``."""
    return simplejson.loads(path.read_text(encoding="utf-8"), use_decimal=True)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync before returning, so the line survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
