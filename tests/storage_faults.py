"""Real storage faults for tests: a directory nothing new can be written into (chattr +i).

As root, chmod does not stop writes; the immutable flag does (ext4, xfs, btrfs). Files that
already exist stay writable through their open descriptors (SQLite's database and WAL), so
a frozen data directory fails exactly the writes that create or rename files: the latch's
temp file and its atomic rename. Where the flag is unavailable the test skips, except under
CI, where it fails: CI runs as root on a filesystem that supports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    return done.returncode == 0


def require_freezable(directory: Path) -> None:
    """Skip (fail under CI) unless `directory` can be made immutable and back."""
    probe = directory / ".freeze-probe"
    probe.mkdir(parents=True, exist_ok=True)
    works = _chattr("+i", probe)
    if works:
        try:
            (probe / "x").touch()
            works = False  # the flag is accepted but does not stop writes (not as root?)
        except OSError:
            pass
        _chattr("-i", probe)
    probe.rmdir()
    if not works:
        message = f"chattr +i does not stop writes in {directory} (needs root and ext4/xfs)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def frozen(directory: Path) -> Iterator[None]:
    """Nothing can be created, renamed or deleted in `directory` until the block ends."""
    assert _chattr("+i", directory), f"chattr +i {directory} failed"
    try:
        yield
    finally:
        _chattr("-i", directory)


def thaw(directory: Path) -> None:
    assert _chattr("-i", directory), f"chattr -i {directory} failed"


@contextmanager
def small_disk(directory: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a size-limited tmpfs on `directory` (a disk that can fill up); unmount after.

    Yields a filler file path: `fill(...)` writes it until the disk is full, deleting it frees
    the space again. Skips (fails under CI) where mounting is not allowed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = f"cannot mount a small tmpfs: {done.stderr.strip()} (needs root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield directory / ".filler"
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def fill(filler: Path) -> None:
    """Write `filler` until the filesystem has no space left."""
    chunk = b"\0" * 65536
    with filler.open("ab") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    # Sub-chunk leftovers: fill them too, byte blocks at a time.
    with filler.open("ab", buffering=0) as handle:
        for size in (4096, 512, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                continue
