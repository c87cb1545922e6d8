"""Vigil's trading engine: state, market data, brokers and safety, with no web or notifier imports."""
