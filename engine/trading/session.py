"""Trading-session arithmetic: when did the current session start in the configured zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def session_start(now: float, tz: str, start_hhmm: str = "00:00") -> float:
    """Epoch seconds of the most recent session start at or before `now`.

    The session opens every day at `start_hhmm` local time in `tz`, so a daily loss limit is
    anchored to the operator's trading day rather than to UTC midnight or to process start.
    """
    zone = ZoneInfo(tz)
    hour, minute = (int(part) for part in start_hhmm.split(":"))
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if start > local:
        start = (start - timedelta(days=1)).replace(hour=hour, minute=minute)
    return start.timestamp()
