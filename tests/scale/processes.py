"""Real processes for the scale-out tests: a redis-server on a free loopback port (stopped and
started again on the same port for the outage test) and the Procfile's `engine:` command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.server_process import ROOT, free_port, procfile_command


def redis_server_binary() -> str:
    """redis-server's path; fails under CI (it must run these tests), else skips."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the scale-out tests, never skip them
        pytest.skip(message)
    return found


class RedisServer:
    """`redis-server --port P --save '' --appendonly no` on 127.0.0.1; nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / f"redis-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, 10, "redis-server answering PING")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class EngineProcess:
    """The Procfile's `engine:` line (`flask --app wsgi engine`) on a data directory."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(data_dir),
            "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "VIGIL_SIM_HISTORY_S": "60",
            **env,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / f"engine-{time.monotonic_ns()}.log"

    def spawn(self) -> subprocess.Popen[str]:
        with self.log.open("a") as handle:
            self.proc = subprocess.Popen(
                procfile_command("engine"),
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        return self.proc

    def start(self, timeout: float = 60.0) -> EngineProcess:
        """Start and wait until its heartbeat is in Redis."""
        self.spawn()
        url, prefix = self.env["VIGIL_REDIS_URL"], self.env.get("VIGIL_REDIS_PREFIX", "vigil")
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)

        def beating() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited early:\n{self.output()[-3000:]}")
            return client.get(f"{prefix}:health") is not None

        wait_until(beating, timeout, "the engine's heartbeat in Redis")
        return self

    def run_to_exit(self, timeout: float = 60.0) -> int:
        proc = self.spawn()
        return proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


def stop_all(webs: list[Any], engine: EngineProcess | None, server: RedisServer) -> None:
    """A cluster's teardown: web processes first, then the engine, then Redis."""
    for web in webs:
        web.stop()
    if engine is not None:
        engine.stop()
    server.stop()


def snapshot_in_redis(server: RedisServer, prefix: str = "vigil") -> dict[str, Any] | None:
    import json

    raw = server.client().get(f"{prefix}:snapshot")
    return None if raw is None else json.loads(raw)["snapshot"]
