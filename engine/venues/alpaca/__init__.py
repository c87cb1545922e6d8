"""Alpaca: a broker (trading API and its trade_updates stream) and a market feed (market data)."""
