"""The notifier's own settings: the alerts group and the watchdog's, read from a mapping."""

from __future__ import annotations

import logging

import pytest

from engine.settings_group import SettingsError, load_group
from notifier.alerts import HIGH
from notifier.rules import DEFAULT_RULES
from notifier.settings import AlertSettings, WatchdogSettings
from notifier.watchdog import main


def test_alert_settings_from_a_mapping_then_typed_values() -> None:
    alerts = load_group(
        AlertSettings,
        {
            "VIGIL_ALERT_MIN_PRIORITY": " high ",
            "VIGIL_ALERT_DEDUPE_S": "60",
            "VIGIL_ALERT_QUEUE_SIZE": "2.7",
            "VIGIL_PUSHOVER_EMERGENCY_RETRY_S": "120",
            "VIGIL_ALERT_RULES": '{"trade_executed": {"enabled": false}}',
        },
    )

    assert alerts.min_priority == HIGH
    assert alerts.dedupe_s == 60 and alerts.queue_size == 2  # whole numbers, as before
    assert alerts.emergency_retry_s == 120
    assert alerts.rules["trade_executed"].enabled is False
    assert alerts.rules["error"] == DEFAULT_RULES["error"]


def test_alert_settings_when_unset_then_the_defaults() -> None:
    alerts = load_group(AlertSettings, {})
    assert (alerts.min_priority, alerts.dedupe_s, alerts.queue_size) == (-2, 300, 1000)
    assert (alerts.emergency_retry_s, alerts.emergency_expire_s) == (60, 3600)
    assert alerts.rules == DEFAULT_RULES and alerts.pushover_user_key is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_ALERT_DEDUPE_S": "soon"}, "VIGIL_ALERT_DEDUPE_S: expected a number (got 'soon')"),
        (
            {"VIGIL_PUSHOVER_EMERGENCY_EXPIRE_S": "-1"},
            "VIGIL_PUSHOVER_EMERGENCY_EXPIRE_S: must not be negative (got '-1')",
        ),
        ({"VIGIL_ALERT_QUEUE_SIZE": "0"}, "VIGIL_ALERT_QUEUE_SIZE: must be at least 1"),
        (
            {"VIGIL_ALERT_MIN_PRIORITY": "urgent"},
            "VIGIL_ALERT_MIN_PRIORITY: priority must be -2..2 or a name, got 'urgent'",
        ),
        (
            {"VIGIL_ALERT_RULES": "[1]"},
            "VIGIL_ALERT_RULES: expected a JSON object keyed by alert kind",
        ),
    ],
)
def test_bad_alert_setting_then_the_same_one_line_as_before(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_group(AlertSettings, env)
    assert str(caught.value) == message


def test_watchdog_settings_from_a_mapping() -> None:
    watch = load_group(WatchdogSettings, {"VIGIL_WATCHDOG_STALE_S": "45"})
    assert (watch.url, watch.stale_s, watch.interval_s) == ("", 45, 5)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VIGIL_WATCHDOG_INTERVAL_S", "often"), ("VIGIL_ALERT_DEDUPE_S", "soon")],
)
def test_watchdog_with_bad_setting_then_exit_2_and_one_line_naming_it(
    caplog: pytest.LogCaptureFixture, variable: str, value: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="notifier.watchdog"):
        code = main(["--once"], env={variable: value})

    assert code == 2
    [record] = [r for r in caplog.records if r.name == "notifier.watchdog"]
    assert record.getMessage().startswith(f"configuration error: {variable}: ")
