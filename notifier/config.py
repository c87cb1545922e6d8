"""Builds channels and the dispatcher from environment-style settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.clock import Clock
from notifier.alerts import Channel
from notifier.apprise_channel import AppriseChannel, split_urls
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import DEFAULT_API_URL, PushoverChannel
from notifier.rules import parse_priority, rules_from_json

OUTBOX_FILE = "outbox.sqlite3"

# Env key -> attribute name on engine.settings.Settings, so either can be passed in.
_ATTRS = {
    "PUSHOVER_USER_KEY": "pushover_user_key",
    "PUSHOVER_API_TOKEN": "pushover_api_token",
    "VIGIL_PUSHOVER_API_URL": "pushover_api_url",
    "VIGIL_APPRISE_URLS": "apprise_urls",
}


class NotifierConfigError(ValueError):
    """One line naming the variable at fault, like engine.settings.SettingsError."""


def _get(source: Mapping[str, Any] | object, key: str) -> str | None:
    if isinstance(source, Mapping):
        value = source.get(key)
    else:
        value = getattr(source, _ATTRS.get(key, key.lower()), None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(source: Mapping[str, Any] | object, key: str, default: float) -> float:
    raw = _get(source, key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise NotifierConfigError(f"{key}: expected a number (got {raw!r})") from None
    if value < 0:
        raise NotifierConfigError(f"{key}: must not be negative (got {raw!r})")
    return value


def build_channels(settings: Mapping[str, Any] | object) -> list[Channel]:
    """Pushover and Apprise, configured or not, so the page can show both states.

    Keys: PUSHOVER_USER_KEY, PUSHOVER_API_TOKEN, VIGIL_PUSHOVER_API_URL, VIGIL_APPRISE_URLS,
    VIGIL_PUSHOVER_EMERGENCY_RETRY_S (default 60), VIGIL_PUSHOVER_EMERGENCY_EXPIRE_S (3600).
    """
    pushover = PushoverChannel(
        _get(settings, "PUSHOVER_USER_KEY"),
        _get(settings, "PUSHOVER_API_TOKEN"),
        _get(settings, "VIGIL_PUSHOVER_API_URL") or DEFAULT_API_URL,
        emergency_retry_s=int(_number(settings, "VIGIL_PUSHOVER_EMERGENCY_RETRY_S", 60)),
        emergency_expire_s=int(_number(settings, "VIGIL_PUSHOVER_EMERGENCY_EXPIRE_S", 3600)),
    )
    apprise = AppriseChannel(split_urls(_get(settings, "VIGIL_APPRISE_URLS")))
    return [pushover, apprise]


def build_dispatcher(
    settings: Mapping[str, Any] | object,
    data_dir: Path | str,
    *,
    clock: Clock | None = None,
    channels: list[Channel] | None = None,
) -> Dispatcher:
    """A dispatcher with its outbox at `<data_dir>/outbox.sqlite3` (not started, not attached).

    Keys besides build_channels': VIGIL_ALERT_MIN_PRIORITY (-2..2 or lowest..emergency),
    VIGIL_ALERT_DEDUPE_S (300), VIGIL_ALERT_QUEUE_SIZE (1000), VIGIL_ALERT_RULES (JSON object
    keyed by alert kind, e.g. {"trade_executed": {"enabled": false}}).
    """
    try:
        rules = rules_from_json(_get(settings, "VIGIL_ALERT_RULES"))
    except ValueError as exc:
        raise NotifierConfigError(f"VIGIL_ALERT_RULES: {exc}") from None
    raw_min = _get(settings, "VIGIL_ALERT_MIN_PRIORITY")
    try:
        min_priority = parse_priority(raw_min) if raw_min is not None else -2
    except ValueError as exc:
        raise NotifierConfigError(f"VIGIL_ALERT_MIN_PRIORITY: {exc}") from None
    queue_size = int(_number(settings, "VIGIL_ALERT_QUEUE_SIZE", 1000))
    if queue_size < 1:
        raise NotifierConfigError("VIGIL_ALERT_QUEUE_SIZE: must be at least 1")
    return Dispatcher(
        channels if channels is not None else build_channels(settings),
        Outbox(Path(data_dir) / OUTBOX_FILE),
        clock=clock,
        dedupe_window_s=_number(settings, "VIGIL_ALERT_DEDUPE_S", 300),
        queue_size=queue_size,
        rules=rules,
        min_priority=min_priority,
    )
