"""Vigil's web layer: the Flask app factory, Socket.IO, and the bridge from the engine's bus."""

from dashboard.app import create_app

__all__ = ["create_app"]
