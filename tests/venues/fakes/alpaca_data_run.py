"""Run the Alpaca market-data fakes by hand: `python -m tests.venues.fakes.alpaca_data_run`.

Serves an hour of minute bars for each symbol and a ticking stream, prints the variables that
point Vigil at them, and runs until interrupted. For trying VIGIL_FEED=alpaca without an
account; nothing here reaches the internet.
"""

from __future__ import annotations

import argparse
import time

from tests.venues.fakes.alpaca_data import API_KEY, SECRET_KEY, FakeAlpacaData
from tests.venues.fakes.alpaca_data_stream import FakeAlpacaStream

PRICES = {"SPY": 500.0, "QQQ": 430.0, "BTC/USD": 60_000.0, "ETH/USD": 3_000.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="SPY,BTC/USD")
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    symbols = args.symbols.split(",")
    with FakeAlpacaData() as rest, FakeAlpacaStream() as stream:
        start = time.time() // 60 * 60 - args.minutes * 60
        for symbol in symbols:
            base = PRICES.get(symbol, 100.0)
            closes = [round(base * (1 + 0.001 * ((i % 17) - 8)), 2) for i in range(args.minutes)]
            rest.add_minutes(symbol, start, closes)
        stream.start_ticking({s: PRICES.get(s, 100.0) for s in symbols}, interval_s=0.25)
        print(f"VIGIL_FEED=alpaca VIGIL_SYMBOLS={','.join(symbols)}")
        print(f"ALPACA_API_KEY={API_KEY} ALPACA_SECRET_KEY={SECRET_KEY}")
        print(f"VIGIL_ALPACA_DATA_URL={rest.url} VIGIL_ALPACA_STREAM_URL={stream.url}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
