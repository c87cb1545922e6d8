"""The simulated market feed."""
