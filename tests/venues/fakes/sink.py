"""What a feed or broker under test hands the engine: every event, kept in order, thread-safe."""

from __future__ import annotations

import threading
from typing import Any


class EventSink:
    """Pass as the venue's sink; read back with `of(kind)` from the test's thread."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]
