"""Vigil's trading engine: state, market data, brokers and safety; no web or notifier code."""
