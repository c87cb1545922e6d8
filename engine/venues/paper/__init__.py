"""The paper broker: a simulated venue that fills against the market it is fed."""
