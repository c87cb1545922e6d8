"""The order path and its books: desk, ledger, reconciliation, performance metrics."""
