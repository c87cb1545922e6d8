"""Client fleets for the benchmarks: N bench/wsclients.py connections spread over a target's web
ports and a few client processes, and their results merged (bench/harness.py starts the
servers they connect to)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from bench.harness import PER_ACCOUNT, PY, Proc, Target, wait_for


class Fleet:
    """N client connections spread round-robin over the target's web ports and `procs`
    client processes."""

    def __init__(
        self,
        target: Target,
        clients: int,
        procs: int,
        max_seconds: float,
        connect_seconds: float = 120.0,
    ) -> None:
        self.target = target
        self.control = target.control
        (self.control / "stop").unlink(missing_ok=True)
        self.tags: list[str] = []
        self.procs: list[Proc] = []
        procs = max(1, min(procs, clients))
        cookies = self.control / f"cookies-{time.monotonic_ns()}.json"
        cookies.write_text(json.dumps(target.cookies))
        first = 0
        for i in range(procs):
            count = clients // procs + (1 if i < clients % procs else 0)
            port = target.ports[i % len(target.ports)]
            tag = f"{i}-{time.monotonic_ns()}"
            argv = [PY, "-m", "bench.wsclients", "--port", str(port), "--clients", str(count)]
            argv += ["--first", str(first), "--cookies", str(cookies), "--dir", str(self.control)]
            argv += ["--per-account", str(PER_ACCOUNT)]
            argv += ["--tag", tag, "--max-seconds", str(max_seconds)]
            argv += ["--connect-seconds", str(connect_seconds)]
            self.procs.append(Proc(f"clients{i}", argv, {}, target.work / f"clients-{tag}.log"))
            self.tags.append(tag)
            first += count

    def wait_connected(self, timeout: float = 300.0) -> dict[str, Any]:
        def all_ready() -> bool:
            for proc in self.procs:
                if not proc.alive() and proc.popen.returncode != 0:
                    raise RuntimeError(f"client process failed:\n{proc.tail()}")
            return all((self.control / f"ready-{t}.json").exists() for t in self.tags)

        wait_for(all_ready, timeout, "the clients to connect", 0.1)
        connected, failed = 0, {}
        for tag in self.tags:
            ready = json.loads((self.control / f"ready-{tag}.json").read_text())
            connected += ready["connected"]
            for why, n in ready["failed"].items():
                failed[why] = failed.get(why, 0) + n
        return {"connected": connected, "failed": failed}

    def finish(self, timeout: float = 120.0) -> dict[str, Any]:
        """Stop the clients; merge their results."""
        (self.control / "stop").write_text("")
        for proc in self.procs:
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.stop()
        merged: dict[str, Any] = {"connected": 0, "dropped": 0, "failed": {}, "events": {}}
        merged["runs"], merged["safety"], merged["per_client_total"] = {}, {}, {}
        merged["connected_clients"] = []
        for tag in self.tags:
            path = self.control / f"result-{tag}.json"
            if not path.exists():
                raise RuntimeError(f"client process {tag} left no result")
            result = json.loads(path.read_text())
            merged["connected"] += result["connected"]
            merged["dropped"] += result["dropped"]
            for key in ("failed", "events"):
                for k, n in result[key].items():
                    merged[key][k] = merged[key].get(k, 0) + n
            for run, data in result["runs"].items():
                slot = merged["runs"].setdefault(run, {"ages": [], "per_client": {}})
                slot["ages"].extend(data["ages"])
                slot["per_client"].update(data["per_client"])
            merged["safety"].update(result["safety"])
            merged["per_client_total"].update(result["per_client_total"])
            merged["connected_clients"].extend(result["connected_clients"])
        (self.control / "stop").unlink(missing_ok=True)
        return merged
