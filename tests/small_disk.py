"""A real, tiny file system (size-limited tmpfs) that tests can fill to the last byte."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run_privileged(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args) if os.geteuid() == 0 else ["sudo", "-n", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / "filler"

    def fill(self) -> None:
        """Write a file until the file system says ENOSPC, down to the last byte."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * 65536
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        return
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink()


@contextmanager
def small_disk_at(root: Path, size: str = "16m") -> Iterator[SmallDisk]:
    """Mount a tmpfs of `size` at `root` (root or passwordless sudo needed).

    Without that it skips, except under CI, where it fails: the test must run there.
    """
    root.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=1777"
    mounted = _run_privileged("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(root))
    if mounted.returncode != 0:
        why = f"cannot mount a size-limited tmpfs: {mounted.stderr.strip() or mounted.returncode}"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI must run this test: root or passwordless sudo is needed)")
        pytest.skip(why)
    try:
        yield SmallDisk(root)
    finally:
        _run_privileged("umount", "-l", str(root))
