"""Chart history from Polygon's aggregates, within one deadline for every symbol together.

massive's `RESTClient` (retries off: its urllib3 retries would honour any Retry-After, however
long) fetches the newest 1-minute bars before `end`, following `next_url` pages. A 429, a 5xx,
a refused connection or a read timeout is retried with a jittered backoff while the deadline
allows; a 4xx other than 429 (a bad key, a plan without the data) is not retried. A symbol
whose history fails is named in the result's problems; the others still load.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from massive import RESTClient
from massive.exceptions import BadResponse
from urllib3.exceptions import HTTPError

from engine.clock import Clock
from engine.venues.net import Backoff

log = logging.getLogger(__name__)
LOOKBACK_S = 5 * 86_400  # far enough back that a weekend or a holiday still finds bars


class PlanRefused(Exception):
    """Polygon answered 403: the key's plan does not include this data."""


@dataclass
class Fetched:
    bars: dict[str, list[Any]] = field(default_factory=dict)  # ticker -> massive Aggs, oldest first
    problems: list[str] = field(default_factory=list)


def newest_minutes(
    rest: RESTClient,
    ticker: str,
    end: float,
    count: int,
    *,
    clock: Clock,
    deadline: float,
    backoff: Backoff,
    wait: Callable[[float], bool],
) -> list[Any]:
    """Up to `count` 1-minute aggregates of `ticker` opening before `end`, oldest first.

    Raises PlanRefused (403), BadResponse (any other 4xx), or the last error once the
    deadline (on `clock.monotonic()`) leaves no time for another try; `wait(s)` pauses
    between tries and returns True when the caller is stopping."""
    start_ms, end_ms = int((end - max(LOOKBACK_S, count * 60)) * 1000), int(end * 1000) - 1
    while True:
        try:
            pages = rest.list_aggs(ticker, 1, "minute", start_ms, end_ms, sort="desc", limit=count)
            newest = list(itertools.islice(pages, count))  # type: ignore[arg-type]
            return sorted(newest, key=lambda a: a.timestamp or 0)
        except BadResponse as exc:
            if '"NOT_AUTHORIZED"' in str(exc) or "not entitled" in str(exc).lower():
                raise PlanRefused(str(exc)) from None
            raise
        except HTTPError as exc:
            delay = backoff.next_delay()
            if clock.monotonic() + delay >= deadline:
                raise
            log.info("polygon history %s: %s; retrying in %.1f s", ticker, exc, delay)
            if wait(delay):
                raise


def describe(exc: BaseException) -> str:
    """One short line for the activity log (urllib3's messages repeat the whole URL)."""
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
        if "too many" in text:  # "too many 429 error responses"
            return text
        if "timed out" in text.lower():
            return "timed out"
        return f"{type(reason).__name__}"
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."
