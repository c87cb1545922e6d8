"""The replay feed: recorded OHLCV bars played back as trades and quotes."""
