"""Vigil's durable record in SQLite: orders, fills, trades, equity, audit, key-values."""

from engine.store.migrations import SCHEMA_VERSION
from engine.store.sqlite import Store, StoreError

__all__ = ["SCHEMA_VERSION", "Store", "StoreError"]
