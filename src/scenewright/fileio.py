"""Careful file helpers shared by the ledger, the journals and the run artifacts.

JSON here keeps money exact: ``Decimal`` is written as a plain JSON number (``0.00000084``,
never ``8.4E-7`` and never a rounded float), and every non-integer number reads back as
a ``Decimal``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplejson

# Owner-only: cost records and manifests are nobody else's business on a shared machine.
PRIVATE_FILE_MODE = 0o600
# Seconds to retry a rename that Windows refuses while another process has the file open.
REPLACE_RETRY_SECONDS = 3.0


def _plain_decimal(value: object) -> simplejson.RawJSON:
    if isinstance(value, Decimal) and value.is_finite():
        return simplejson.RawJSON(format(value.normalize() if value else Decimal(0), "f"))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps_json(value: Any, *, pretty: bool = True) -> str:
    """JSON text with exact, plain-notation Decimals; one line when ``pretty`` is false."""
    return str(
        simplejson.dumps(
            value,
            default=_plain_decimal,
            use_decimal=False,
            ensure_ascii=False,
            indent=2 if pretty else None,
            separators=None if pretty else (",", ":"),
        )
    )


def loads_json(text: str) -> Any:
    """Parse JSON with every non-integer number as an exact ``Decimal``."""
    return simplejson.loads(text, use_decimal=True)


def read_json(path: Path) -> Any:
    """``loads_json`` of a UTF-8 file."""
    return loads_json(path.read_text(encoding="utf-8"))


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file inside ``path`` durable."""
    if os.name != "posix":
        return  # Windows cannot open a folder to fsync it; NTFS journals the rename itself.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(source: Path, target: Path) -> None:
    """``source.replace(target)``, retried briefly while Windows reports the file in use."""
    deadline = time.monotonic() + REPLACE_RETRY_SECONDS
    while True:
        try:
            source.replace(target)
            return
        except PermissionError:
            if os.name != "nt" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def atomic_write_text(path: Path, text: str, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    The text goes to a temporary file in the same folder, is fsynced, then renamed over
    the target, so a crash at any point leaves one complete version on disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            tmp.chmod(mode)
        replace_file(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """``atomic_write_text`` of pretty JSON with exact money."""
    atomic_write_text(path, dumps_json(data) + "\n", mode=mode)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync before returning, so the line survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
