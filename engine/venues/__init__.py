"""Brokers and market feeds, one folder per venue."""
