"""The filters a signal passes before the inbox: symbols, confidence, trading windows, blackouts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from engine.settings_group import comma_list

if TYPE_CHECKING:
    from engine.signals.settings import SignalSettings

_HHMM = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
Window = tuple[int, int]  # minutes of the day, [start, end); start > end wraps past midnight
Dated = tuple[datetime, datetime]  # naive, in the session's zone


def parse_window(text: str) -> Window | None:
    match = _HHMM.match(text.strip())
    if match is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2) or (h1, m1) == (h2, m2):
        return None
    return h1 * 60 + m1, h2 * 60 + m2


def parse_blackout(text: str) -> Window | Dated | None:
    if "/" not in text:
        return parse_window(text)
    first, _, second = text.strip().partition("/")
    try:
        start, end = datetime.fromisoformat(first), datetime.fromisoformat(second)
    except ValueError:
        return None
    if start.tzinfo is not None or end.tzinfo is not None or end <= start:
        return None
    return start, end


def _inside(window: Window, minute: int) -> bool:
    start, end = window
    return start <= minute < end if start < end else minute >= start or minute < end


@dataclass(frozen=True)
class SignalFilters:
    allow: frozenset[str]
    deny: frozenset[str]
    min_confidence: float
    windows: tuple[Window, ...]
    blackouts: tuple[Window | Dated, ...]
    tz: str

    @classmethod
    def from_settings(cls, s: SignalSettings, tz: str) -> SignalFilters:
        windows = tuple(w for w in map(parse_window, comma_list(s.windows)) if w is not None)
        blackouts = tuple(b for b in map(parse_blackout, comma_list(s.blackouts)) if b is not None)
        return cls(s.allow_list, s.deny_list, s.min_confidence, windows, blackouts, tz)

    def refusal(self, symbol: str, confidence: float | None, now: float) -> tuple[str, str] | None:
        """(code, message) when the signal may not enter the inbox, else None."""
        if symbol in self.deny:
            return "SYMBOL_DENIED", f"{symbol} is on the signal deny list"
        if self.allow and symbol not in self.allow:
            return "SYMBOL_NOT_ALLOWED", f"{symbol} is not on the signal allow list"
        if self.min_confidence > 0 and confidence is None:
            return (
                "LOW_CONFIDENCE",
                f"no confidence given; the minimum is {self.min_confidence:.2f}",
            )
        if confidence is not None and confidence < self.min_confidence:
            return (
                "LOW_CONFIDENCE",
                f"confidence {confidence:.2f} is below the minimum {self.min_confidence:.2f}",
            )
        local = datetime.fromtimestamp(now, ZoneInfo(self.tz))
        minute = local.hour * 60 + local.minute
        if self.windows and not any(_inside(w, minute) for w in self.windows):
            return "OUTSIDE_WINDOW", f"{local:%H:%M} ({self.tz}) is outside the trading windows"
        naive = local.replace(tzinfo=None)
        for b in self.blackouts:
            hit = (
                b[0] <= naive < b[1]
                if isinstance(b[0], datetime) and isinstance(b[1], datetime)
                else _inside(b, minute)  # type: ignore[arg-type]
            )
            if hit:
                return "BLACKOUT", f"{local:%Y-%m-%d %H:%M} ({self.tz}) is in a blackout period"
        return None
