"""Crash safety with real processes: SIGKILL while HALTED, and the CLI while the server is down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.server_process import ROOT, ServerProcess, serve_once

pytestmark = pytest.mark.slow
ROUNDS = 20


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def order_answer(server: ServerProcess) -> dict:
    session = server.login()
    answer = session.post(
        f"{server.url}/api/control/place_order",
        json={"symbol": "QQQ", "side": "buy", "qty": 0.1},
        headers={"Origin": server.url},
        timeout=10,
    )
    return answer.json()


# Twenty server starts, and nine CLI runs (each a fresh interpreter and argon2 hashes), take
# over the default 120 s hang guard when the machine is saturated (two test workers and more).
@pytest.mark.timeout(300)
def test_sigkill_while_halted_then_every_restart_is_halted_before_any_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    session = server.login()
    engaged = session.post(
        f"{server.url}/api/kill-switch",
        json={"level": "halt", "reason": "crash drill"},
        headers={"Origin": server.url},
        timeout=10,
    )
    assert engaged.json()["ok"], engaged.text
    for round_no in range(ROUNDS):
        server.kill()
        server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
        assert server.health()["trading_state"] == "HALTED", f"round {round_no}"
        answer = order_answer(server)
        assert answer["ok"] is False and answer["error"]["code"] == "TRADING_HALTED", answer
    server.stop()


def test_cli_engage_while_server_down_then_server_starts_halted(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    out = cli(data_dir, "kill-switch", "engage", "--level", "halt", "--reason", "maintenance")
    assert out.returncode == 0, out.stderr
    assert "engaged" in out.stdout
    server = ServerProcess(data_dir, VIGIL_SIM_HISTORY_S="0").start()
    try:
        assert server.health()["trading_state"] == "HALTED"
        assert order_answer(server)["error"]["code"] == "TRADING_HALTED"
    finally:
        server.stop()


@pytest.mark.timeout(300)  # nine CLI runs: see the first test
def test_cli_reset_needs_admin_password_then_clears_latch(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(parents=True)
    assert (
        cli(
            data_dir,
            "users",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        ).returncode
        == 0
    )
    assert (
        cli(
            data_dir,
            "users",
            "add",
            "tina",
            "--role",
            "trader",
            "--password-stdin",
            stdin="trader-pass-1\n",
        ).returncode
        == 0
    )
    cli(data_dir, "kill-switch", "engage", "--reason", "drill")
    refused = cli(
        data_dir,
        "kill-switch",
        "reset",
        "--user",
        "tina",
        "--reason",
        "try",
        "--confirm",
        "RESET",
        "--password-stdin",
        stdin="trader-pass-1\n",
    )
    assert refused.returncode == 1 and "admin" in refused.stderr
    wrong = cli(
        data_dir,
        "kill-switch",
        "reset",
        "--user",
        "admin",
        "--reason",
        "try",
        "--confirm",
        "RESET",
        "--password-stdin",
        stdin="wrong\n",
    )
    assert wrong.returncode == 1
    assert '"engaged": true' in cli(data_dir, "kill-switch", "status").stdout
    done = cli(
        data_dir,
        "kill-switch",
        "reset",
        "--user",
        "admin",
        "--reason",
        "drill over",
        "--confirm",
        "RESET",
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert '"engaged": false' in cli(data_dir, "kill-switch", "status").stdout


def test_users_cli_then_list_shows_roles(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    for name, role in (("vic", "viewer"), ("tina", "trader")):
        out = cli(
            data_dir,
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            stdin="long-enough-1\n",
        )
        assert out.returncode == 0, out.stderr
    listed = cli(data_dir, "users", "list").stdout.split("\n")
    assert "tina\ttrader" in listed and "vic\tviewer" in listed
    short = cli(
        data_dir, "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    assert "Traceback" not in short.stderr


def test_bad_configuration_then_one_clear_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "var"), "VIGIL_PORT": "abc"}
    out = serve_once(env)
    assert out.returncode == 3  # wsgi.BOOT_ERROR: gunicorn's arbiter stops on it
    assert out.stderr.count("VIGIL_PORT") == 1 and "Traceback" not in out.stderr
    env.update(VIGIL_PORT="5000", VIGIL_BROKER="robinhood")
    out = serve_once(env)
    assert "VIGIL_BROKER" in out.stderr and "Traceback" not in out.stderr
