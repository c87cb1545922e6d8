"""Builds the channels and the dispatcher from the notifier's settings group."""

from __future__ import annotations

from pathlib import Path

from engine.clock import Clock
from notifier.alerts import Channel
from notifier.apprise_channel import AppriseChannel, split_urls
from notifier.dispatcher import Dispatcher
from notifier.outbox import Outbox
from notifier.pushover import PushoverChannel
from notifier.settings import AlertSettings

OUTBOX_FILE = "outbox.sqlite3"


def build_channels(alerts: AlertSettings) -> list[Channel]:
    """Pushover and Apprise, configured or not, so the page can show both states."""
    pushover = PushoverChannel(
        alerts.pushover_user_key,
        alerts.pushover_api_token,
        alerts.pushover_api_url,
        emergency_retry_s=alerts.emergency_retry_s,
        emergency_expire_s=alerts.emergency_expire_s,
        public_url=alerts.public_url,
    )
    apprise = AppriseChannel(split_urls(alerts.apprise_urls))
    return [pushover, apprise]


def build_dispatcher(
    alerts: AlertSettings,
    data_dir: Path | str,
    *,
    clock: Clock | None = None,
    channels: list[Channel] | None = None,
) -> Dispatcher:
    """A dispatcher with its outbox at `<data_dir>/outbox.sqlite3` (not started, not attached)."""
    return Dispatcher(
        channels if channels is not None else build_channels(alerts),
        Outbox(Path(data_dir) / OUTBOX_FILE),
        clock=clock,
        dedupe_window_s=alerts.dedupe_s,
        queue_size=alerts.queue_size,
        rules=alerts.rules,
        min_priority=alerts.min_priority,
    )
