"""DataDirLock: one engine process per data directory, held by an OS lock for the engine's life.

Two engines on one `VIGIL_DATA_DIR` would both trade the account and overwrite each other's
store, so the engine takes an exclusive `flock` on `<data dir>/engine.lock` before it reads or
writes anything there and writes its PID into the file. The kernel drops the lock when the
process dies, however it dies (SIGKILL included), so a crash never leaves a stale lock behind;
the PID in the file is only there to name the holder in the refusal.

The lock is exclusive between processes and shared inside one process: tests build engine
after engine on one directory in one interpreter, and a process can only ever run one server.
Tools that only write the latch or the users table (the `flask --app wsgi ...` CLI) never take
it, so the kill-switch CLI keeps working while the server runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

LOCK_NAME = "engine.lock"


class DataDirLocked(RuntimeError):
    """Another process holds the data directory; the message is one line naming its PID."""

    def __init__(self, data_dir: Path, holder: int | None) -> None:
        who = f"pid {holder}" if holder else "a process whose pid could not be read"
        super().__init__(
            f"VIGIL_DATA_DIR: {data_dir} is in use by another Vigil engine ({who}); "
            "stop it first or use another data directory"
        )
        self.holder = holder


# path -> [fd, users]; guarded by _LOCK so two threads of one process agree on one fd.
_HELD: dict[Path, list[int]] = {}
_LOCK = threading.Lock()


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = (self.data_dir / LOCK_NAME).resolve()
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> None:
        """Take the lock or raise DataDirLocked. Idempotent for one holder."""
        if self._held:
            return
        with _LOCK:
            entry = _HELD.get(self.path)
            if entry is not None:
                entry[1] += 1
                self._held = True
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise DataDirLocked(self.data_dir, holder) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _HELD[self.path] = [fd, 1]
            self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        with _LOCK:
            entry = _HELD.get(self.path)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[self.path]
            fd = entry[0]
            # Empty the file before unlocking, so a reader never names a PID that has let go.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
