"""What every remote venue needs from the network: reconnect backoff, a request budget, timeouts.

Shared by the Alpaca, Polygon and crypto venues so each applies the same rules: a stream that
drops reconnects after an exponentially growing, jittered delay; REST calls stay under the
provider's rate limit by a client-side budget that keeps a reserve for the kill path (cancels,
closes), so a busy account never delays a halt; every HTTP call has a timeout.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Any

import requests

from engine.clock import Clock, SystemClock


class Backoff:
    """Delays between reconnect attempts: base * 2**attempt, capped, with "equal jitter"
    (half fixed, half random) so many clients that dropped together do not return together."""

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")
        self.base_s, self.cap_s = base_s, cap_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failed attempt."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """A connection held: the next drop starts again from the base delay."""
        self.attempt = 0


class RequestBudget:
    """At most `limit` requests per sliding `window_s`; the last `reserve` of them are kept for
    urgent calls (the kill path), which ordinary calls cannot spend. Thread-safe."""

    def __init__(
        self,
        limit: int = 200,
        window_s: float = 60.0,
        *,
        reserve: int = 20,
        clock: Clock | None = None,
    ) -> None:
        if limit < 1 or not 0 <= reserve < limit or window_s <= 0:
            raise ValueError("budget needs limit >= 1, 0 <= reserve < limit, window_s > 0")
        self.limit, self.window_s, self.reserve = limit, window_s, reserve
        self._clock = clock or SystemClock()
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def try_take(self, *, urgent: bool = False) -> bool:
        """Count one request now if the budget allows it; False means: do not send it."""
        with self._lock:
            now = self._clock.monotonic()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            allowed = self.limit if urgent else self.limit - self.reserve
            if len(self._sent) >= allowed:
                return False
            self._sent.append(now)
            return True

    def used(self) -> int:
        """Requests counted in the current window."""
        with self._lock:
            now = self._clock.monotonic()
            return sum(1 for ts in self._sent if ts > now - self.window_s)


class TimeoutSession(requests.Session):
    """A requests session whose every call has a timeout (an SDK that sets none gets one)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(method, url, *args, **kwargs)
