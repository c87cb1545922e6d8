"""send_on_every_channel: one alert sent at once on every configured channel, each on its own
thread, waiting a bounded time for all of them (the operator's test notification)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from notifier.alerts import Alert, Channel, SendResult


def send_on_every_channel(
    channels: Sequence[Channel],
    alert: Alert,
    send: Callable[[Channel, Alert], SendResult],
    timeout: float,
) -> dict[str, dict[str, Any]]:
    """Per channel {"delivered": bool, "error": str | None}, in the channels' order."""
    results: dict[str, dict[str, Any]] = {}

    def one(channel: Channel) -> None:
        result = send(channel, alert)
        results.setdefault(channel.name, {"delivered": result.ok, "error": result.error})

    threads: list[tuple[Channel, threading.Thread]] = []
    for channel in channels:
        if not channel.configured:
            reason = channel.unconfigured_reason or "not configured"
            results[channel.name] = {"delivered": False, "error": reason}
            continue
        thread = threading.Thread(target=one, args=(channel,), daemon=True)
        thread.start()
        threads.append((channel, thread))
    # Real time, not an injected clock: this bounds how long a web request waits.
    deadline = time.monotonic() + timeout
    for channel, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            error = f"no answer within {timeout:g} s"
            results.setdefault(channel.name, {"delivered": False, "error": error})
    return {c.name: results[c.name] for c in channels if c.name in results}
