"""HTTP endpoints with a live engine: chart data, CSV exports, audit, metrics, health."""

from __future__ import annotations

import csv
import io

from engine.market.indicators import ema, macd, rsi
from tests.dashboard.conftest import LiveApp


def test_chart_endpoint_then_bars_with_aligned_reference_indicators(live: LiveApp) -> None:
    live.push_market(30.0, dt=1.0)
    client = live.http("vic")
    body = client.get("/api/chart?symbol=SPY&timeframe=1s&limit=20").get_json()
    bars = body["bars"]
    assert 1 <= len(bars) <= 20
    for key in ("ema20", "ema50", "rsi14", "macd", "macd_signal", "macd_hist"):
        assert len(body[key]) == len(bars), key
    assert [b["t"] for b in bars] == sorted(b["t"] for b in bars)
    for bar in bars:
        assert bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]
        assert abs(bar["buy_v"] + bar["sell_v"] - bar["v"]) < 1e-6
    # The same numbers as the reference implementations over the full bar history.
    full = client.get("/api/chart?symbol=SPY&timeframe=1s&limit=1500").get_json()
    closes = [b["c"] for b in full["bars"]]
    expected_ema = ema(closes, 20)
    expected_rsi = rsi(closes, 14)
    expected_macd = macd(closes)[0]
    for got, want in (
        (full["ema20"], expected_ema),
        (full["rsi14"], expected_rsi),
        (full["macd"], expected_macd),
    ):
        for a, b in zip(got, want, strict=True):
            assert (a is None and b is None) or abs(a - b) <= 1e-6 * max(abs(b), 1.0)


def test_chart_endpoint_with_bad_arguments_then_structured_400(live: LiveApp) -> None:
    client = live.http("vic")
    for query in (
        "symbol=NOPE&timeframe=1m",
        "symbol=SPY&timeframe=2m",
        "symbol=SPY&timeframe=1m&limit=0",
        "symbol=SPY&timeframe=1m&limit=x",
    ):
        answer = client.get(f"/api/chart?{query}")
        assert answer.status_code == 400, query
        assert set(answer.get_json()["error"]) == {"code", "message"}


def test_trades_csv_then_filters_apply(live: LiveApp) -> None:
    trader = live.socket("tina")
    for symbol in ("QQQ", "ETH/USD"):
        qty = 0.5 if symbol == "QQQ" else 0.05
        assert trader.emit(
            "place_order", {"symbol": symbol, "side": "buy", "qty": qty}, callback=True
        )["ok"]
        live.wait_idle()  # the venue's fill arrives after the answer: the position exists now
        assert trader.emit("close_position", {"symbol": symbol}, callback=True)["ok"]
        live.wait_idle()
    client = live.http("vic")
    rows = list(csv.DictReader(io.StringIO(client.get("/api/trades.csv").get_data(as_text=True))))
    assert {r["symbol"] for r in rows} == {"QQQ", "ETH/USD"}
    only = client.get("/api/trades.csv?symbol=QQQ").get_data(as_text=True)
    assert [r["symbol"] for r in csv.DictReader(io.StringIO(only))] == ["QQQ"]


def test_ticks_csv_then_header_and_rows(live: LiveApp) -> None:
    text = live.http("vic").get("/api/ticks.csv?symbol=BTC/USD").get_data(as_text=True)
    lines = text.strip().split("\n")
    assert lines[0] == "ts_ms,symbol,price,size,aggressor"
    assert len(lines) > 1 and all(",BTC/USD," in line for line in lines[1:])


def test_metrics_then_prometheus_text_for_logged_in_users_only(live: LiveApp) -> None:
    assert live.http().get("/metrics").status_code == 401
    text = live.http("vic").get("/metrics").get_data(as_text=True)
    assert "# TYPE vigil_equity gauge" in text
    assert "vigil_trading_state 0" in text


def test_audit_endpoint_then_newest_first_with_logins(live: LiveApp) -> None:
    client = live.http("admin")
    entries = client.get("/api/audit?limit=5").get_json()["entries"]
    assert entries[0]["action"] == "login" and entries[0]["actor"] == "admin"
    assert client.get("/api/audit?limit=0").status_code == 400
