"""Alerts end to end: the served app, a kill switch, and a loopback Pushover receiving it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.notifier.pushover_fake import TOKEN, USER, PushoverFake
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow


def test_kill_switch_on_embedded_default_then_emergency_alert_reaches_pushover(
    tmp_path: Path,
) -> None:
    with PushoverFake() as pushover:
        server = ServerProcess(
            tmp_path / "var",
            PUSHOVER_USER_KEY=USER,
            PUSHOVER_API_TOKEN=TOKEN,
            VIGIL_PUSHOVER_API_URL=pushover.url,
            VIGIL_SIM_HISTORY_S="0",
            VIGIL_ALERT_RULES='{"trade_executed": {"enabled": false}}',
        ).start()
        try:
            session = server.login()
            answer = session.post(
                f"{server.url}/api/kill-switch",
                json={"level": "halt", "reason": "alert drill"},
                headers={"Origin": server.url},
                timeout=10,
            )
            assert answer.json()["ok"], answer.text
            emergency = wait_until(
                lambda: [f for f in pushover.delivered if f.get("priority") == "2"],
                20,
                "the emergency push",
            )
            alert = emergency[0]
            assert alert["sound"] == "siren"
            assert int(alert["retry"]) >= 30 and int(alert["expire"]) <= 10800
            assert "alert drill" in alert["message"]
            assert alert["token"] == TOKEN and alert["user"] == USER

            tested = session.post(
                f"{server.url}/api/control/test_notification",
                json={"message": "hello phone"},
                headers={"Origin": server.url},
                timeout=20,
            ).json()
            assert tested["ok"] and tested["results"]["pushover"]["delivered"] is True
            state = session.get(f"{server.url}/api/state", timeout=10).json()
            pushover_status = next(c for c in state["alerts"] if c["name"] == "pushover")
            assert pushover_status["state"] == "ok" and pushover_status["quota_remaining"]
        finally:
            server.stop()
