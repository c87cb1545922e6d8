"""ccxt's exceptions, sorted by their class tree into what Vigil does about each.

NetworkError (RequestTimeout, DDoSProtection for 418/429, ExchangeNotAvailable) and
OperationFailed (Binance's -1001 on a 5xx) are faults: retry with backoff and count them for
the error-rate breaker. AuthenticationError (and PermissionDenied, AccountSuspended) halts.
Every other ExchangeError (InsufficientFunds, InvalidOrder, BadRequest...) is the exchange
refusing this request: the order is rejected with the exchange's own message.
"""

from __future__ import annotations

import json
from enum import StrEnum

import ccxt


class Fate(StrEnum):
    RETRY = "retry"  # a fault: try again later, count it
    REFUSED = "refused"  # the exchange said no to this request
    AUTH = "auth"  # the keys do not work: halt and say so
    BUG = "bug"  # anything else: not ccxt's, report and count it


def classify(exc: BaseException) -> Fate:
    # Order matters: AuthenticationError and OperationFailed are both ExchangeError kin.
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return Fate.AUTH
    if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed) or clock_skew(exc):
        return Fate.RETRY
    if isinstance(exc, ccxt.ExchangeError):
        return Fate.REFUSED
    return Fate.BUG


def clock_skew(exc: BaseException) -> bool:
    """The exchange refused our timestamp (Binance -1021: InvalidNonce on futures, BadRequest
    on spot): measure the clock difference again and retry, it is not the order's fault."""
    return isinstance(exc, ccxt.InvalidNonce) or '"code": -1021' in str(exc).replace(":-", ": -")


def message(exc: BaseException) -> str:
    """The exchange's own words: ccxt's text is "<exchange> [<status> <reason>] <body>", the
    body often JSON with a "msg" (Binance) or "retMsg" (Bybit)."""
    text = str(exc).strip()
    start = text.find("{")
    if start >= 0:
        try:
            parsed = json.loads(text[start:])
        except ValueError:
            return text
        if isinstance(parsed, dict):
            for key in ("msg", "retMsg", "message"):
                if parsed.get(key):
                    return str(parsed[key])
    return text or type(exc).__name__


def describe(exc: BaseException) -> str:
    """One line for the page and the log: the class and the exchange's words."""
    return f"{type(exc).__name__}: {message(exc)}"
