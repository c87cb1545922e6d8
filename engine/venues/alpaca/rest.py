"""Every call to Alpaca's trading REST API: bounded in time, counted against the budget, and
its failure sorted into a refusal (Alpaca's 4xx and message) or a fault (VenueError).

alpaca-py's RESTClient sets no timeout and, on 429 or 504, sleeps three seconds and retries
up to three times, whatever `retry_attempts` says (0 is read as "use the default"). Neither
may happen on the kill path: the client gets a TimeoutSession and its retries are switched
off after construction, so a 429 comes back at once as a VenueError.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient

from engine.venues.base import VenueError
from engine.venues.net import RequestBudget, TimeoutSession

log = logging.getLogger(__name__)
T = TypeVar("T")


class AlpacaRefused(Exception):
    """Alpaca answered 4xx (other than 429): it understood and said no, with a reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def build_client(
    api_key: str, secret_key: str, base_url: str, timeout_s: float, *, paper: bool
) -> TradingClient:
    client = TradingClient(api_key, secret_key, paper=paper, raw_data=True, url_override=base_url)
    # Private attributes of alpaca-py 0.44 (pinned): the session it sends with and its retry
    # loop. tests/venues/test_alpaca_broker.py proves a 429 is not retried and a hang times out.
    client._session = TimeoutSession(timeout_s)
    client._retry = 0
    client._retry_codes = []
    return client


def _message(exc: APIError) -> str:
    try:
        body = json.loads(str(exc))
    except ValueError:
        return str(exc).strip() or "no message"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)


class AlpacaRest:
    """Runs one SDK call under the request budget and sorts its failure."""

    def __init__(self, client: TradingClient, budget: RequestBudget, timeout_s: float) -> None:
        self.client, self.budget, self.timeout_s = client, budget, timeout_s

    def call(self, what: str, fn: Callable[[], T], *, urgent: bool = False) -> T:
        if not self.budget.try_take(urgent=urgent):
            raise self._fault(
                f"alpaca: {what} not sent, the request budget for this minute is spent"
            )
        try:
            return fn()
        except APIError as exc:
            status = exc.status_code or 0
            if status == 429:
                raise self._fault(f"alpaca: {what} refused, rate limit reached (429)") from None
            if 400 <= status < 500:
                raise AlpacaRefused(status, _message(exc)) from None
            raise self._fault(f"alpaca: {what} failed ({status}): {_message(exc)}") from None
        except requests.Timeout:
            raise self._fault(f"alpaca: {what} got no answer within {self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise self._fault(
                f"alpaca: {what} could not reach Alpaca ({type(exc).__name__})"
            ) from None

    def get(self, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call(what, lambda: self.client.get(path, params))

    def _fault(self, message: str) -> VenueError:
        log.warning("%s", message)
        return VenueError(message)
