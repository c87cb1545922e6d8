"""gunicorn settings for Vigil: one gthread worker (one engine may trade an account)."""

import os

_host = os.environ.get("VIGIL_HOST", "127.0.0.1")
_port = os.environ.get("PORT") or os.environ.get("VIGIL_PORT", "5000")
bind = [f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"]
workers = 1  # never more: a second worker would be a second engine trading the same account
worker_class = "gthread"
# Each websocket holds one thread; dashboard/connection_guard.py keeps a quarter of them free.
threads = int(os.environ.get("VIGIL_THREADS", "32"))
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = os.environ.get("VIGIL_LOG_LEVEL", "info").lower()
# gunicorn's control socket sits at one fixed path per user; Vigil does not use it, and
# several instances (tests, a second account) would fight over it.
control_socket_disable = True
# Forwarded headers (X-Forwarded-Proto, ...) are trusted only when the operator says a proxy
# sets them; by default gunicorn would trust them from 127.0.0.1.
forwarded_allow_ips = "127.0.0.1,::1" if os.environ.get("VIGIL_TRUST_PROXY") == "1" else ""
