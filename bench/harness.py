"""Servers for the issue-15 benchmarks: the floor (one process, or an emitter
and web processes over Redis), Vigil in one process, Vigil as one engine plus web processes
over Redis; all on 127.0.0.1, all stopped at the end.

A `Target` starts its processes (each in its own session, output in a log file next to the
control directory), waits for every web process's /readyz, logs in once and keeps the
cookie; `Target.pace` asks the pacer inside the server for a run at a rate. The clients that
connect to it are bench/fleet.py's.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from bench.pacer import ENV_DIR, rss_kib, write_json

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ADMIN_PASSWORD = "bench-admin-password"
PER_ACCOUNT = 30  # sockets per account: below the event guard's burst of 40 connects
GUNICORN = [PY, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
HOOKED_GUNICORN = [PY, "-m", "bench.hook", "gunicorn", "-c", "gunicorn.conf.py"]
# As bench_kill_switch.SERVER_ENV: no history to generate, no strategy trading on its own.
VIGIL_ENV = {
    "VIGIL_SIM_HISTORY_S": "0",
    "VIGIL_STRATEGY": "none",
    "VIGIL_LOG_LEVEL": "WARNING",
    "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "VIGIL_HOST": "127.0.0.1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


class Proc:
    """One command in its own session; stop() ends its whole process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("a") as handle:
            self.popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def pids(self) -> list[int]:
        """The leader and its children (a gunicorn master and its worker)."""
        pid = self.popen.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [pid, *(int(c) for c in children)]

    def rss_kib(self) -> int:
        """The worker's RSS for gunicorn (the master holds no state), else the process's."""
        pids = self.pids()
        return max((rss_kib(p) for p in (pids[1:] or pids)), default=0)

    def master_rss_kib(self) -> int:
        return rss_kib(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            with _suppress():
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _suppress() -> contextlib.suppress:
    return contextlib.suppress(ProcessLookupError)


class Target:
    """A server under test: its processes, its web ports, a logged-in cookie."""

    def __init__(self, name: str, work: Path, threads: int = 32) -> None:
        self.name = name
        self.work = work
        self.control = work / f"control-{name}"
        self.control.mkdir(parents=True)
        self.data_dir = work / f"data-{name}"
        self.data_dir.mkdir()
        self.threads = threads
        self.procs: list[Proc] = []
        self.web: list[Proc] = []
        self.engine: Proc | None = None
        self.ports: list[int] = []
        self.cookie = ""
        self.cookies: list[str] = []  # one per account; cookie i serves clients i*PER_ACCOUNT..
        self.accounts: list[tuple[str, str]] = []
        self._run = 0

    def env(self, port: int | None = None) -> dict[str, str]:
        env = {
            ENV_DIR: str(self.control),
            "VIGIL_DATA_DIR": str(self.data_dir),
            "VIGIL_THREADS": str(self.threads),
            "VIGIL_MAX_CONNECTIONS_PER_IP": "1024",
            **VIGIL_ENV,
        }
        if port is not None:
            env["VIGIL_PORT"] = str(port)
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str], web: bool) -> Proc:
        proc = Proc(name, argv, env, self.work / f"{self.name}-{name}.log")
        self.procs.append(proc)
        if web:
            self.web.append(proc)
            self.ports.append(int(env["VIGIL_PORT"]))
        return proc

    def wait_ready(self, timeout: float = 90.0) -> None:
        for proc, port in zip(self.web, self.ports, strict=True):

            def ready(proc: Proc = proc, port: int = port) -> bool:
                if not proc.alive():
                    raise RuntimeError(f"{self.name}/{proc.name} exited:\n{proc.tail()}")
                try:
                    url = f"http://127.0.0.1:{port}/readyz"
                    return requests.get(url, timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(ready, timeout, f"{self.name}/{proc.name} /readyz", 0.2)
        self.cookie = self.login("admin", ADMIN_PASSWORD)
        self.cookies = [self.login(u, p) for u, p in self.accounts] or [self.cookie]

    def login(self, username: str, password: str) -> str:
        session = requests.Session()
        answer = session.post(
            f"http://127.0.0.1:{self.ports[0]}/api/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"{self.name}: login refused: {answer.text[:200]}")
        return "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    def add_viewers(self, clients: int) -> None:
        """Viewer accounts, one per PER_ACCOUNT clients, before the server starts.

        Vigil's event guard counts a socket's namespace connect against its account's token
        bucket (20/s, bursts of 40): a thousand sockets of one account would mostly be refused
        "too many messages" at connect. A desk's viewers have their own accounts anyway.
        """
        from engine.users import UserStore

        store = UserStore(self.data_dir / "vigil.sqlite3")
        for i in range(math.ceil(clients / PER_ACCOUNT)):
            name, password = f"viewer{i:04d}", f"bench-viewer-{i:04d}-password"
            store.add(name, password, "viewer")
            self.accounts.append((name, password))

    def pace(self, rate: float, seconds: float) -> dict[str, Any]:
        """One run of the pacer; returns its done file (how many it published)."""
        self._run += 1
        run = self._run
        write_json(self.control / f"go-{run}.json", {"run": run, "rate": rate, "seconds": seconds})
        done = self.control / f"done-{run}.json"
        wait_for(done.exists, seconds + 60, f"{self.name}: pacer run {run}", 0.05)
        return {"run": run, **json.loads(done.read_text())}

    def status(self) -> list[dict[str, Any]]:
        """The pacer's status files (the engine's RSS and tick counts)."""
        out = []
        for path in sorted(self.control.glob("status-*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def rss_mib(self) -> dict[str, float]:
        return {f"{self.name}/{p.name}": round(p.rss_kib() / 1024, 1) for p in self.procs}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def floor(work: Path, threads: int = 32, worker: str = "") -> Target:
    """The bare emitter under Vigil's gunicorn.conf.py; `worker` overrides its worker class
    (gunicorn's command line wins over the config file), e.g. gevent, for comparison."""
    target = Target("floor" if not worker else f"floor-{worker}", work, threads)
    port = free_port()
    extra = ["-k", worker, "--worker-connections", "10000"] if worker else []
    argv = [*GUNICORN, *extra, "bench.floor_server:create_app()"]
    target.spawn("web", argv, target.env(port), True)
    target.wait_ready()
    return target


def floor_redis(work: Path, webs: int, threads: int = 32) -> Target:
    """The floor through Redis: its own redis-server, `webs` bare web processes (floor_server
    with VIGIL_REDIS_URL: gunicorn.conf.py gives them Vigil's web worker class, gevent) and
    bench/floor_emitter.py, a separate write-only emitter with the pacer."""
    target = Target(f"floor-redis{webs}", work, threads)
    try:
        url = {"VIGIL_REDIS_URL": start_redis(target)}
        for i in range(webs):
            port = free_port()
            argv = [*GUNICORN, "bench.floor_server:create_app()"]
            target.spawn(f"web{i + 1}", argv, {**target.env(port), **url}, True)
        emitter = target.spawn(
            "emitter", [PY, "-m", "bench.floor_emitter"], {**target.env(), **url}, False
        )
        target.wait_ready()
        if not emitter.alive():
            raise RuntimeError(f"{target.name}/emitter exited:\n{emitter.tail()}")
    except BaseException:
        target.stop()
        raise
    return target


def start_redis(target: Target) -> str:
    """A private redis-server (no persistence) on a free port, once it answers; its URL."""
    port = free_port()
    argv = ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no"]
    proc = target.spawn("redis", argv, {}, False)

    def answers() -> bool:
        if not proc.alive():
            raise RuntimeError(f"{target.name}/redis exited:\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False

    wait_for(answers, 30, f"{target.name}/redis", 0.05)
    return f"redis://127.0.0.1:{port}/0"


def vigil_one(work: Path, threads: int = 32, clients: int = 0, **env: str) -> Target:
    """Today's one-process server (the Procfile's web line), with the probe in its engine."""
    target = Target("vigil", work, threads)
    target.add_viewers(clients)
    port = free_port()
    target.spawn("web", [*HOOKED_GUNICORN, "wsgi:serve()"], {**target.env(port), **env}, True)
    target.wait_ready()
    return target


def vigil_redis(
    work: Path,
    webs: int,
    threads: int = 32,
    clients: int = 0,
    *,
    name: str = "",
    web_argv: Sequence[str] = GUNICORN,
    web_env: dict[str, str] | None = None,
    **env: str,
) -> Target:
    """Redis mode (issue 15): redis-server, `flask --app wsgi engine` with the probe, and
    `webs` web processes (the Procfile's web line, or `web_argv` + `wsgi:serve()`, with
    `web_env` on top) on their own ports, one data directory."""
    target = Target(name or f"vigil-redis{webs}", work, threads)
    target.add_viewers(clients)
    # Every web process runs ensure_admin at its start; started together, two of them can
    # both find no admin and both add it, and the loser exits "user 'admin' already exists"
    # (seen on i15-redis at 9842050). The admin exists before they start.
    from engine.users import UserStore

    UserStore(target.data_dir / "vigil.sqlite3").add("admin", ADMIN_PASSWORD, "admin")
    url = {"VIGIL_REDIS_URL": start_redis(target)}
    engine_argv = [PY, "-m", "bench.hook", "flask", "--app", "wsgi", "engine"]
    target.engine = target.spawn("engine", engine_argv, {**target.env(), **url, **env}, False)
    for i in range(webs):
        port = free_port()
        argv = [*web_argv, "wsgi:serve()"]
        web = {**target.env(port), **url, **env, **(web_env or {})}
        target.spawn(f"web{i + 1}", argv, web, True)
    try:
        target.wait_ready(120)
    except BaseException:
        target.stop()
        raise
    return target
