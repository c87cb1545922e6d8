"""Vigil's durable record in SQLite: orders, fills, trades, equity, audit, key-values."""

from engine.store.sqlite import SCHEMA_VERSION, Store, StoreError

__all__ = ["SCHEMA_VERSION", "Store", "StoreError"]
