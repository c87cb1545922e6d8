"""Start the real server as the Procfile does (gunicorn, gthread, one worker) on a free port."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ADMIN_PASSWORD, wait_until

ROOT = Path(__file__).resolve().parents[1]
# gunicorn's words when the port is bound by someone else (it retries, then exits), and the
# line each of its starts begins with: only the last start's lines count.
PORT_TAKEN = "Connection in use"
STARTING = "Starting gunicorn"
PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def procfile_command(kind: str = "web") -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            argv = shlex.split(line.split(":", 1)[1])
            # Run the venv's own copy: the test's interpreter, same packages.
            return [sys.executable, "-m", argv[0], *argv[1:]]
    raise AssertionError(f"no {kind}: line in the Procfile")


class ServerProcess:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = self._picked_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(data_dir),
            "VIGIL_PORT": str(self.port),
            "VIGIL_HOST": "127.0.0.1",
            "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "VIGIL_SIM_HISTORY_S": "600",
            "VIGIL_THREADS": "8",
            **env,
        }
        self.env.pop("PORT", None)
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    def spawn(self) -> subprocess.Popen[str]:
        """Start the Procfile's web command; do not wait for anything."""
        with self.log.open("a") as handle:
            self.proc = subprocess.Popen(
                procfile_command(),
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        return self.proc

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start and wait until /readyz says ready (the snapshot is complete)."""
        # A restart keeps its port, as does a port the test chose: the page must find it again.
        movable = self.proc is None and self.port == self._picked_port
        for _ in range(PORT_ATTEMPTS):
            if self._start(timeout):
                return self
            if not movable:
                break
            # Another test (a parallel worker) took the free port before gunicorn bound it.
            self._wait_group_gone()
            self.port = self._picked_port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.env["VIGIL_PORT"] = str(self.port)
        raise AssertionError(f"port {self.port} is taken:\n{self.output()[-3000:]}")

    def _start(self, timeout: float) -> bool:
        """True once ready; False when gunicorn could not bind the port (taken meanwhile)."""
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                if PORT_TAKEN in output.rsplit(STARTING, 1)[-1]:
                    return False
                raise AssertionError(
                    f"server exited early (exit code {self.proc.returncode}):\n{output[-3000:]}"
                )
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready within {timeout}s:\n{self.output()[-3000:]}")

    def run_to_exit(self, timeout: float = 60.0) -> int:
        """Start a server that is expected to refuse; its exit code (fails if it keeps running)."""
        proc = self.spawn()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"server still running after {timeout}s:\n{self.output()[-3000:]}"
            ) from None

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def ready(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/readyz", timeout=5).json()

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/healthz", timeout=5).json()

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> requests.Session:
        session = requests.Session()
        answer = session.post(
            f"{self.url}/api/login", json={"username": username, "password": password}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return session

    def reset_kill_switch(self, session: requests.Session | None = None) -> None:
        """Release the kill switch as the admin (a test leaves it as it found it)."""
        answer = (session or self.login()).post(
            f"{self.url}/api/kill-switch/reset",
            json={"reason": "test done", "confirm": "RESET", "password": ADMIN_PASSWORD},
            headers={"Origin": self.url},
            timeout=15,
        )
        assert answer.status_code == 200, answer.text

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._wait_group_gone()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._wait_group_gone()

    def _wait_group_gone(self, timeout: float = 10.0) -> None:
        """The master is reaped; wait for its worker too: it holds the data-dir lock until
        the kernel has torn it down, and the next server on this directory needs it."""
        if self.proc is None:
            return
        wait_until(lambda: not _live_members(self.proc.pid), timeout, "the server's processes")


def _live_members(group: int) -> list[int]:
    """PIDs in process group `group` that have not exited (zombies have let go of their files)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            alive.append(int(stat.parent.name))
    return alive


def serve_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `wsgi.serve()` in a fresh interpreter: for starts that must stop with one line."""
    return subprocess.run(
        [sys.executable, "-c", "import wsgi; wsgi.serve()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
