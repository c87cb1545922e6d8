"""VIGIL_LOG_FORMAT=json: every log line is one JSON object (ts, level, logger, message,
exc_info), in a bare process and in the served one (gunicorn's lines too), and no secret."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD, wait_until
from tests.server_process import ROOT, ServerProcess

LOGGING_PROCESS = """
import logging
from dashboard.logging_setup import configure_logging
configure_logging("INFO", "json")
log = logging.getLogger("vigil.test")
log.debug("not shown at INFO")
log.info("order %s for %d shares", "P-1", 3)
try:
    raise ValueError("the cause")
except ValueError:
    log.exception("it failed")
log.warning("quote: \\"SPY\\"\\nsecond line")
"""


def parse(line: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(line)
    assert {"ts", "level", "logger", "message"} <= set(entry), entry
    stamp = datetime.fromisoformat(entry["ts"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0, entry["ts"]
    return entry


def test_json_format_then_each_line_one_object_with_the_exception_as_text() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_PROCESS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    entries = [parse(line) for line in done.stderr.splitlines()]

    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("INFO", "vigil.test", "order P-1 for 3 shares"),
        ("ERROR", "vigil.test", "it failed"),
        ("WARNING", "vigil.test", 'quote: "SPY"\nsecond line'),
    ]
    failed = entries[1]["exc_info"]
    assert failed.startswith("Traceback") and "ValueError: the cause" in failed
    assert "exc_info" not in entries[0] and "exc_info" not in entries[2]
    assert abs(datetime.fromisoformat(entries[0]["ts"]) - datetime.now(UTC)).total_seconds() < 600


@pytest.mark.slow
def test_served_with_json_logs_then_every_log_line_parses_and_holds_no_secret(
    tmp_path: Path,
) -> None:
    secret_key = "a-session-key-that-must-stay-private-0123456789"
    server = ServerProcess(
        tmp_path / "var",
        VIGIL_LOG_FORMAT="json",
        VIGIL_SIM_HISTORY_S="0",
        VIGIL_SECRET_KEY=secret_key,
    ).start()
    try:
        bad = requests.post(
            f"{server.url}/api/login",
            json={"username": "admin", "password": f"{ADMIN_PASSWORD}-wrong"},
            timeout=10,
        )
        assert bad.status_code == 401
        session = server.login()
        assert session.get(f"{server.url}/metrics", timeout=10).status_code == 200
        # An alert with no channel configured: the notifier says so in a warning.
        halted = session.post(
            f"{server.url}/api/kill-switch",
            json={"level": "halt", "reason": "log drill"},
            headers={"Origin": server.url},
            timeout=10,
        )
        assert halted.json()["ok"], halted.text
        wait_until(lambda: "no notification channel" in server.output(), 10, "the warning")
    finally:
        server.stop()

    output = server.output()
    # The banner is printed (stdout), not logged: it is the one plain text.
    banner = ("Vigil is serving on ", "Log in as 'admin'")
    lines = [line for line in output.splitlines() if line and not line.startswith(banner)]
    entries = [parse(line) for line in lines]
    assert "gunicorn.error" in {e["logger"] for e in entries}, output[-3000:]
    warned = [e for e in entries if "no notification channel" in e["message"]]
    assert [(e["level"], e["logger"]) for e in warned] == [("WARNING", "notifier.dispatcher")]
    assert ADMIN_PASSWORD not in output and secret_key not in output
