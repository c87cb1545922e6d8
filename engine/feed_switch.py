"""FeedSwitch: starts the market feed once and stops it once, never both at the same time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from engine.venues.base import MarketFeed, MarketSink


class FeedSwitch:
    """The engine thread starts the feed when the history ends, perhaps while another thread
    stops the runtime: the two never overlap, and a feed is stopped only if it was started."""

    def __init__(
        self, feed: MarketFeed | None, symbols: Callable[[], Sequence[str]], sink: MarketSink
    ) -> None:
        self._feed, self._symbols, self._sink = feed, symbols, sink
        self._lock = threading.Lock()
        self.started = False

    def start(self, stopping: threading.Event) -> None:
        with self._lock:
            if self.started or stopping.is_set() or self._feed is None:
                return
            self.started = True
            self._feed.subscribe(list(self._symbols()))
            self._feed.start(self._sink)

    def stop(self) -> bool:
        """Stop a started feed; whether there was one to stop."""
        with self._lock:
            if not self.started or self._feed is None:
                return False
            self._feed.stop()
            return True
