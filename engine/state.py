"""DashboardState: the one authoritative, versioned snapshot the engine writes and all read."""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import Any

ACTIVITY_LIMIT = 200


class DashboardState:
    """Written only by the engine thread; read from any thread as a deep copy.

    Every write bumps `version` so a reader can tell whether anything changed since it last
    looked. Values are JSON-ready (dicts, lists, str, float) so a snapshot can be emitted as is.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._sections: dict[str, Any] = {
            "account": {},
            "positions": [],
            "orders": [],
            "trades": [],
            "performance": {},
            "equity_curve": [],
            "regime": {},
            "health": {},
            "safety": {},
            "breakers": [],
            "market": {"symbols": [], "quotes": {}, "books": {}},
            "alerts": [],
            "signals": {"mode": "auto", "pending": []},
            "strategies": {"strategies": []},
        }
        self._activity: deque[dict[str, Any]] = deque(maxlen=ACTIVITY_LIMIT)
        self._symbols: tuple[str, ...] = ()

    @property
    def version(self) -> int:
        return self._version

    @property
    def symbols(self) -> tuple[str, ...]:
        """The market section's symbols, kept apart when the section is set: every request
        checks a symbol against them, and `get("market")` would deep-copy every quote and
        book for that."""
        return self._symbols

    def set(self, section: str, value: Any) -> None:
        if section not in self._sections:
            raise KeyError(f"unknown state section {section!r}")
        with self._lock:
            self._sections[section] = value
            if section == "market":
                self._symbols = tuple(value["symbols"])
            self._version += 1

    def set_market(self, kind: str, symbol: str, value: dict[str, Any]) -> None:
        """Per-symbol market data (`quotes` or `books`) without copying the other symbols."""
        with self._lock:
            self._sections["market"][kind][symbol] = value
            self._version += 1

    def add_activity(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._activity.append(entry)
            self._version += 1

    def get(self, section: str) -> Any:
        with self._lock:
            return copy.deepcopy(self._sections[section])

    def peek(self, section: str, key: str, default: Any = None) -> Any:
        """One plain (immutable) value of a dict section, without copying the section."""
        with self._lock:
            return self._sections[section].get(key, default)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data = copy.deepcopy(self._sections)
            data["activity"] = list(self._activity)
            data["version"] = self._version
        return data
