"""Crypto exchanges through ccxt (Binance, Bybit; spot or USDT perpetuals): a broker and a feed."""
