"""The simulated market's file in the data directory: its process state and recent 1m bars.

Written atomically (temporary file, fsync, rename, fsync of the directory) so a crash leaves
either the previous state or the new one, never half of one. Market data is not safety
state: a missing or unreadable file means a new market, with a warning, never a refusal.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

STATE_FILE = "sim_market.json"
VERSION = 1


class SimStateError(ValueError):
    """The state file cannot be used; the message says why in one line."""


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_state(path: Path, state: dict[str, Any]) -> None:
    write_atomic(path, json.dumps({"version": VERSION, **state}, separators=(",", ":")).encode())


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, None when there is none; SimStateError when it cannot be used."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SimStateError(f"cannot read {path.name}: {exc.strerror}") from None
    try:
        state = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimStateError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise SimStateError(f"{path.name} is not a version {VERSION} simulated-market state")
    _check(state)
    return state


def _check(state: dict[str, Any]) -> None:
    """Shape and value checks: a bad number here would become a bad price on the page."""
    try:
        for key in ("now", "vix"):
            _finite(state[key], key, positive=True)
        if state["regime"] not in ("calm", "normal", "stressed"):
            raise SimStateError(f"unknown regime {state['regime']!r}")
        for symbol, value in state["log_prices"].items():
            _finite(value, f"log price of {symbol}")
        for symbol, value in state["shocks"].items():
            _finite(value, f"shock of {symbol}")
        for name in ("process", "trades", "books"):
            version, internal, gauss = state["rng"][name]
            if not (isinstance(internal, list) and len(internal) == 625):
                raise SimStateError(f"random state {name} is malformed")
            if not all(isinstance(x, int) for x in internal) or not isinstance(version, int):
                raise SimStateError(f"random state {name} is malformed")
            if gauss is not None:
                _finite(gauss, f"random state {name}")
        for symbol, bars in state["bars"].items():
            for bar in bars:
                if len(bar) != 6:
                    raise SimStateError(f"a 1m bar of {symbol} is malformed")
                for value in bar:
                    _finite(value, f"a 1m bar of {symbol}")
    except SimStateError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SimStateError(f"the state is incomplete or malformed ({exc!r})") from None


def _finite(value: Any, what: str, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SimStateError(f"{what} is not a number")
    if positive and value <= 0:
        raise SimStateError(f"{what} must be positive")
