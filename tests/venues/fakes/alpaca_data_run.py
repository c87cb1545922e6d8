"""Run the Alpaca fakes by hand: `python -m tests.venues.fakes.alpaca_data_run`.

Serves the trading API with its trade_updates stream (a paper account, market open) and the
market data (an hour of minute bars per symbol and a ticking stream), prints the variables that
point Vigil at them, and runs until interrupted. For trying VIGIL_BROKER=alpaca and
VIGIL_FEED=alpaca without an account; nothing here reaches the internet.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time

from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY, FakeAlpacaData
from tests.venues.fakes.alpaca_data_stream import FakeAlpacaStream
from tests.venues.fakes.alpaca_trading import FakeAlpacaTrading

PRICES = {"SPY": 500.0, "QQQ": 430.0, "BTC/USD": 60_000.0, "ETH/USD": 3_000.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="SPY,BTC/USD")
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--position", default="", help="e.g. AAPL:3:190 (held outside Vigil)")
    args = parser.parse_args()
    symbols = args.symbols.split(",")
    with (
        FakeAlpacaData() as rest,
        FakeAlpacaStream() as stream,
        FakeAlpacaTrading() as trading,
    ):
        trading.set_market_open(True)
        if args.position:
            symbol, qty, price = args.position.split(":")
            trading.add_position(symbol, float(qty), float(price))
        start = time.time() // 60 * 60 - args.minutes * 60
        for symbol in symbols:
            base = PRICES.get(symbol, 100.0)
            closes = [round(base * (1 + 0.001 * ((i % 17) - 8)), 2) for i in range(args.minutes)]
            rest.add_minutes(symbol, start, closes)
            trading.set_price(symbol, base * 0.9999, base * 1.0001)
        stream.start_ticking({s: PRICES.get(s, 100.0) for s in symbols}, interval_s=0.25)
        print(f"VIGIL_BROKER=alpaca VIGIL_FEED=alpaca VIGIL_SYMBOLS={','.join(symbols)}")
        print(f"ALPACA_API_KEY={API_KEY} ALPACA_SECRET_KEY={SECRET_KEY}")
        print(f"VIGIL_ALPACA_TRADING_URL={trading.url}")
        print(f"VIGIL_ALPACA_TRADING_STREAM_URL={trading.stream_url}")
        print(f"VIGIL_ALPACA_DATA_URL={rest.url} VIGIL_ALPACA_STREAM_URL={stream.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()  # until Ctrl-C


if __name__ == "__main__":
    main()
