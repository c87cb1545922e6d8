"""The outbox file on its own, and building channels and the dispatcher from the alerts group."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.settings import load_settings
from engine.settings_group import SettingsError, load_group
from notifier.alerts import EMERGENCY, Alert
from notifier.apprise_channel import AppriseChannel
from notifier.config import build_channels, build_dispatcher
from notifier.outbox import Outbox
from notifier.pushover import DEFAULT_API_URL, PushoverChannel
from notifier.settings import AlertSettings
from tests.notifier.pushover_fake import TOKEN, USER


def _alert(key: str, created_ts: int) -> Alert:
    return Alert(key=key, title="t", message="m", priority=EMERGENCY, created_ts=created_ts)


def test_outbox_then_wal_full_sync_and_state_per_channel(outbox: Outbox, outbox_path: Path) -> None:
    alert_id = outbox.add(_alert("a", 1_000), ["pushover", "apprise"])
    outbox.record(alert_id, "pushover", delivered=True)
    outbox.record(alert_id, "apprise", delivered=False, error="HTTP 503", final=False)

    [(found_id, alert, channels)] = outbox.undelivered()

    assert found_id == alert_id and channels == ["apprise"]
    assert (alert.key, alert.priority, alert.created_ts) == ("a", EMERGENCY, 1_000)
    assert outbox.deliveries(alert_id)["apprise"] == ("pending", 1, "HTTP 503")
    with sqlite3.connect(outbox_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_outbox_prune_then_only_old_fully_delivered_alerts_removed(outbox: Outbox) -> None:
    old_done = outbox.add(_alert("old-done", 1_000), ["pushover"])
    old_pending = outbox.add(_alert("old-pending", 1_000), ["pushover"])
    new_done = outbox.add(_alert("new-done", 9_000), ["pushover"])
    outbox.record(old_done, "pushover", delivered=True)
    outbox.record(new_done, "pushover", delivered=True)

    removed = outbox.prune(before_ms=5_000)

    assert removed == 1
    assert outbox.deliveries(old_done) == {}
    assert [i for i, _, _ in outbox.undelivered()] == [old_pending]
    assert outbox.recent_keys(0) == {"old-pending": 1_000, "new-done": 9_000}


def test_build_channels_from_env_keys_then_pushover_and_apprise() -> None:
    env = {
        "PUSHOVER_USER_KEY": USER,
        "PUSHOVER_API_TOKEN": TOKEN,
        "VIGIL_PUSHOVER_API_URL": "http://127.0.0.1:9/1/messages.json",
        "VIGIL_APPRISE_URLS": "",
        "VIGIL_PUSHOVER_EMERGENCY_RETRY_S": "120",
    }

    pushover, apprise = build_channels(load_group(AlertSettings, env))

    assert isinstance(pushover, PushoverChannel) and isinstance(apprise, AppriseChannel)
    assert pushover.configured and pushover.api_url == "http://127.0.0.1:9/1/messages.json"
    assert pushover.emergency_retry_s == 120
    assert not apprise.configured and apprise.unconfigured_reason is None


def test_build_channels_from_the_process_settings_then_same_values(tmp_path: Path) -> None:
    settings = load_settings(
        {"PUSHOVER_USER_KEY": USER, "PUSHOVER_API_TOKEN": TOKEN, "VIGIL_DATA_DIR": str(tmp_path)}
    )

    pushover, _ = build_channels(settings.alerts)

    assert pushover.configured and pushover.api_url == DEFAULT_API_URL


def test_build_dispatcher_then_outbox_in_data_dir_and_rules_applied(tmp_path: Path) -> None:
    env = {"VIGIL_ALERT_MIN_PRIORITY": "high", "VIGIL_ALERT_DEDUPE_S": "60"}

    dispatcher = build_dispatcher(load_group(AlertSettings, env), tmp_path)
    dispatcher.handle_event("trade_executed", {"symbol": "SPY", "side": "buy"})
    dispatcher.handle_event("error", {"message": "x"})

    assert (tmp_path / "outbox.sqlite3").exists()
    assert dispatcher.dedupe_window_s == 60
    assert dispatcher.stats()["queued"] == 1
    assert [s["state"] for s in dispatcher.status()] == ["unconfigured", "unconfigured"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"VIGIL_ALERT_RULES": '{"nope": {}}'}, "VIGIL_ALERT_RULES"),
        ({"VIGIL_ALERT_MIN_PRIORITY": "urgent"}, "VIGIL_ALERT_MIN_PRIORITY"),
        ({"VIGIL_ALERT_DEDUPE_S": "soon"}, "VIGIL_ALERT_DEDUPE_S"),
        ({"VIGIL_ALERT_QUEUE_SIZE": "0"}, "VIGIL_ALERT_QUEUE_SIZE"),
    ],
)
def test_build_dispatcher_with_bad_value_then_error_names_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        build_dispatcher(load_group(AlertSettings, env), tmp_path)


def test_import_notifier_then_no_web_framework_loaded() -> None:
    code = (
        "import sys, notifier, notifier.watchdog; "
        "web = ('flask', 'flask_socketio', 'socketio', 'dashboard'); "
        "print([m for m in web if m in sys.modules])"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )

    assert out.stdout.strip() == "[]"
