"""Trading strategies, one module each."""
