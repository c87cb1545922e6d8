"""Requests check symbols against the cached list, never by deep-copying the market section."""

from __future__ import annotations

import copy
from typing import Any

from tests.dashboard.conftest import LiveApp


class DeepCopyProbe(dict[str, Any]):
    """A market entry that counts how often it is deep-copied (with the section around it)."""

    def __init__(self) -> None:
        super().__init__(price=1.0)
        self.copies = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        self.copies += 1
        return dict(self)


def test_symbol_list_then_the_market_sections_symbols(live: LiveApp) -> None:
    symbols = live.runtime.state.get("market")["symbols"]
    assert symbols and live.runtime.state.symbols == tuple(symbols)


def test_requests_naming_symbols_then_market_section_not_copied(live: LiveApp) -> None:
    symbol = live.runtime.state.get("market")["symbols"][0]
    http, socket = live.http("tina"), live.socket("tina")
    probe = DeepCopyProbe()
    live.runtime.state.set_market("quotes", "PROBE", probe)

    assert http.get(f"/api/chart?symbol={symbol}&timeframe=1m&limit=5").status_code == 200
    unknown = http.get("/api/chart?symbol=NOPE&timeframe=1m")
    assert unknown.status_code == 400
    assert unknown.get_json()["error"]["code"] == "UNKNOWN_SYMBOL"
    assert http.get(f"/api/ticks.csv?symbol={symbol}").status_code == 200
    assert http.get("/api/ticks.csv?symbol=NOPE").status_code == 400
    ack = socket.emit("subscribe_bars", {"symbol": symbol, "timeframe": "1m"}, callback=True)
    assert ack == {"ok": True}
    ack = socket.emit("subscribe_bars", {"symbol": "NOPE", "timeframe": "1m"}, callback=True)
    assert ack["error"]["code"] == "INVALID_PAYLOAD"
    ack = socket.emit("place_order", {"symbol": "NOPE", "side": "buy", "qty": 1}, callback=True)
    assert ack["error"]["code"] == "UNKNOWN_SYMBOL"

    assert probe.copies == 0
    copy.deepcopy(live.runtime.state.get("market"))  # the probe does see a copy when made
    assert probe.copies == 1
