"""Market data kept by the engine: bars, indicators, levels, the market view, regime."""
