"""The latch under faults against the real server (gunicorn) and the real CLI: a deleted,
forged or unwritable latch never opens the kill switch; only a recorded reset does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engine.models import KillLevel
from engine.safety.latch import KillSwitchLatch
from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.server_process import ServerProcess
from tests.storage_faults import fill, frozen, require_freezable, small_disk
from tests.test_crash_restart import cli

pytestmark = pytest.mark.slow
T = TypeVar("T")


class Operator:
    """A logged-in admin talking HTTP to the server, as the page's fallback and scripts do."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.session = server.login()

    def get(self, path: str) -> Any:
        return self.session.get(f"{self.server.url}{path}", timeout=10).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.session.post(
            f"{self.server.url}{path}", json=body, headers={"Origin": self.server.url}, timeout=10
        )
        return answer.json()

    def state(self) -> dict[str, Any]:
        return self.get("/api/state")

    def safety(self) -> dict[str, Any]:
        return self.state()["safety"]

    def audit(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.get("/api/audit?limit=500")["entries"] if e["action"] == action]

    def engage(self, level: str = "halt", reason: str = "drill") -> dict[str, Any]:
        return self.post("/api/kill-switch", {"level": level, "reason": reason})

    def reset(self) -> dict[str, Any]:
        body = {"reason": "checked", "confirm": "RESET", "password": ADMIN_PASSWORD}
        return self.post("/api/kill-switch/reset", body)

    def rest_orders(self, count: int) -> None:
        quotes = wait_until(
            lambda: self.state()["market"]["quotes"].get("QQQ"), 15.0, "a QQQ quote"
        )
        for i in range(count):
            price = round(quotes["bid"] * (0.98 - i * 0.001), 2)
            order = {"symbol": "QQQ", "side": "buy", "qty": 0.1, "type": "limit"}
            answer = self.post("/api/control/place_order", {**order, "limit_price": price})
            assert answer["ok"], answer
        assert len(self.state()["orders"]) == count


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    yield proc
    proc.stop()


def latch_status(data_dir: Path) -> dict[str, Any]:
    return json.loads(cli(data_dir, "kill-switch", "status").stdout)


def test_latch_deleted_while_engaged_then_halted_audited_alerted_and_after_restart(
    server: ServerProcess, data_dir: Path
) -> None:
    op = Operator(server)
    assert op.engage()["ok"]
    (data_dir / "kill_switch.json").unlink()
    seen_states: list[str] = []

    def noticed() -> list[dict[str, Any]]:
        seen_states.append(op.safety()["trading_state"])
        return op.audit("latch_untrusted")

    rows = wait_until(noticed, 15.0, "the server to audit the deleted latch")
    assert set(seen_states) == {"HALTED"}, seen_states  # never ACTIVE, not for one poll
    assert "deleted" in rows[0]["reason"]
    state = op.state()
    assert state["safety"]["trading_state"] == "HALTED"
    assert "deleted" in state["safety"]["state_reason"]
    codes = [a.get("code") for a in state["activity"] if a["type"] == "risk_limit"]
    assert "FAIL_CLOSED" in codes  # what notifier/rules.py turns into an alert
    assert latch_status(data_dir)["engaged"] is True  # rewritten: the CLI shows the truth
    server.kill()
    again = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    try:
        assert again.health()["trading_state"] == "HALTED"
    finally:
        again.stop()


def test_released_latch_written_by_hand_then_halted(server: ServerProcess, data_dir: Path):
    op = Operator(server)
    assert op.engage()["ok"]
    # Checksummed and well-formed: only the missing reset record gives it away.
    KillSwitchLatch(data_dir / "kill_switch.json").reset("mallory", "by hand", time.time())
    rows = wait_until(lambda: op.audit("latch_untrusted"), 15.0, "the forged latch to be refused")
    assert "released outside a reset" in rows[0]["reason"]
    assert op.safety()["trading_state"] == "HALTED"
    assert latch_status(data_dir)["engaged"] is True
    denied = op.post("/api/control/place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.1})
    assert denied["error"]["code"] == "TRADING_HALTED"


def test_cli_reset_wrong_password_refused_then_admin_password_releases_and_audits(
    server: ServerProcess, data_dir: Path
) -> None:
    op = Operator(server)
    assert op.engage()["ok"]
    latch_bytes = (data_dir / "kill_switch.json").read_bytes()
    args = ["kill-switch", "reset", "--user", "admin", "--reason", "drill over", "--confirm"]
    wrong = cli(data_dir, *args, "RESET", "--password-stdin", stdin="not-it\n")
    assert wrong.returncode == 1 and "admin" in wrong.stderr
    assert (data_dir / "kill_switch.json").read_bytes() == latch_bytes
    assert op.audit("reset_kill_switch_denied")
    assert op.safety()["trading_state"] == "HALTED"

    done = cli(data_dir, *args, "RESET", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: op.safety()["trading_state"] == "ACTIVE", 15.0, "the CLI reset to apply")
    assert not op.audit("latch_untrusted")
    recorded = op.audit("kill_switch_reset")[0]
    assert recorded["actor"] == "admin" and recorded["details"]["source"] == "cli"
    assert op.audit("kill_switch_reset_applied")[0]["actor"] == "admin"
    resets = [a for a in op.state()["activity"] if a["type"] == "kill_switch_reset"]
    assert resets and resets[-1]["actor"] == "admin"


def test_cli_engage_then_immediate_http_engage_both_engaged_then_reset_works(
    server: ServerProcess, data_dir: Path
) -> None:
    op = Operator(server)
    op.rest_orders(2)
    # The CLI's first step, then the page's engage at once: before the server's next poll.
    KillSwitchLatch(data_dir / "kill_switch.json").engage(
        KillLevel.HALT, "from the shell", "cli:ops", time.time()
    )
    answer = op.engage(reason="from the page")
    state = op.state()
    assert answer["ok"], answer
    assert state["safety"]["trading_state"] == "HALTED"
    assert state["orders"] == []
    assert answer["trading_state"] == "HALTED", answer  # it answers what is in force
    noticed = [a for a in state["activity"] if a["type"] == "kill_switch_activated"]
    assert noticed and noticed[-1]["actor"] == "cli:ops"  # the outside engage, with its actor
    assert op.audit("kill_switch_engaged")[0]["actor"] == "cli:ops"
    reset = op.reset()
    assert reset["ok"] and reset["trading_state"] == "ACTIVE", reset
    assert latch_status(data_dir)["engaged"] is False


def test_engage_with_data_dir_unwritable_then_halted_not_durable_then_saved_when_writable(
    server: ServerProcess, data_dir: Path, tmp_path: Path
) -> None:
    require_freezable(tmp_path)
    op = Operator(server)
    op.rest_orders(2)
    with frozen(data_dir):
        answer = op.engage(reason="storage drill")
        assert answer["ok"] and answer["trading_state"] == "HALTED", answer
        assert answer["durable"] is False and "NOT DURABLE" in answer["warning"]
        state = op.state()
        assert state["orders"] == []
        assert state["safety"]["durable"] is False
        assert "NOT DURABLE" in state["safety"]["state_reason"]
        assert any(
            a.get("code") == "NOT_DURABLE" for a in state["activity"] if a["type"] == "risk_limit"
        )
        wait_until(lambda: server.health()["status"] == "ERROR", 15.0, "health ERROR")
        assert not (data_dir / "kill_switch.json").exists()
        refused = op.reset()
        assert refused["error"]["code"] == "NOT_DURABLE"
    wait_until(lambda: server.health()["status"] == "OK", 15.0, "health to recover once writable")
    assert op.safety()["durable"] is True
    assert latch_status(data_dir)["engaged"] is True
    assert op.audit("durability_restored")
    server.kill()
    again = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    try:
        assert again.health()["trading_state"] == "HALTED"
    finally:
        again.stop()


def test_engage_with_the_disk_full_then_halted_not_durable_then_saved_when_space_returns(
    data_dir: Path,
) -> None:
    with small_disk(data_dir) as filler:
        server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
        try:
            op = Operator(server)
            op.rest_orders(2)
            fill(filler)
            answer = op.engage(reason="disk full drill")
            assert answer["ok"] and answer["trading_state"] == "HALTED", answer
            assert answer["durable"] is False, answer
            assert op.state()["orders"] == []
            wait_until(lambda: server.health()["status"] == "ERROR", 15.0, "health ERROR")
            safety = op.safety()
            assert safety["trading_state"] == "HALTED" and safety["durable"] is False
            filler.unlink()
            wait_until(lambda: server.health()["status"] != "ERROR", 15.0, "health to recover")
            assert op.safety()["durable"] is True
            assert latch_status(data_dir)["engaged"] is True
            assert op.audit("kill_switch_engaged") and op.audit("durability_restored")
        finally:
            server.stop()


def test_cli_reset_when_the_latch_cannot_be_written_then_refused_and_still_halted(
    data_dir: Path, tmp_path: Path
) -> None:
    require_freezable(tmp_path)
    data_dir.mkdir(parents=True)
    added = cli(
        data_dir, "users", "add", "admin", "--role", "admin", "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert cli(data_dir, "kill-switch", "engage", "--reason", "drill").returncode == 0
    args = ["kill-switch", "reset", "--user", "admin", "--reason", "over", "--confirm", "RESET"]
    with frozen(data_dir):
        refused = cli(data_dir, *args, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    # Refused, at the settings' writability check or at the latch write, in one line.
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "Traceback" not in refused.stderr
    assert latch_status(data_dir)["engaged"] is True
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    try:
        assert server.health()["trading_state"] == "HALTED"
    finally:
        server.stop()
