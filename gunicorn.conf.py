"""gunicorn settings for Vigil: one gthread worker holding the engine (one engine may trade an
account); with VIGIL_REDIS_URL a web process without engine: VIGIL_WEB_WORKERS gevent workers."""

import os
import sys
from pathlib import Path

# gunicorn reads this file before it puts the project on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

if os.environ.get("VIGIL_REDIS_URL"):
    # Web processes over Redis run gevent workers: patch before anything imports ssl or
    # socket (the settings below pull in the venues' clients), not after, as the worker would.
    from gevent import monkey

    monkey.patch_all()

from dashboard.logging_setup import gunicorn_logconfig
from dashboard.redis_settings import RedisSettings
from dashboard.settings import WebSettings
from engine.settings_group import SettingsError, load_group

try:
    _web = load_group(WebSettings)
    _redis = load_group(RedisSettings)
except SettingsError as exc:  # as wsgi.serve() would say it, before gunicorn binds the port
    print(f"vigil: configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None  # gunicorn's WORKER_BOOT_ERROR, as in wsgi.py

_port = os.environ.get("PORT") or _web.port  # PORT: set by platforms such as Heroku
bind = [f"[{_web.host}]:{_port}" if ":" in _web.host else f"{_web.host}:{_port}"]
if _redis.enabled:
    # The engine is its own process (`flask --app wsgi engine`): a web worker holds pages
    # only, thousands each, on greenlets (dashboard/connection_guard.py caps them below this).
    workers = _redis.web_workers
    worker_class = "gevent"
    worker_connections = _redis.max_connections + 100
else:
    workers = 1  # never more: a second worker would be a second engine trading the account
    worker_class = "gthread"
    # Each websocket holds one thread; dashboard/connection_guard.py keeps a quarter free.
    threads = _web.threads
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = _web.log_level.lower()
if _web.log_format == "json":  # VIGIL_LOG_FORMAT: gunicorn's lines and Vigil's, one JSON each
    logconfig_dict = gunicorn_logconfig(_web.log_level)
# gunicorn's control socket sits at one fixed path per user; Vigil does not use it, and
# several instances (tests, a second account) would fight over it.
control_socket_disable = True
# Forwarded headers (X-Forwarded-Proto, ...) are trusted only when the operator says a proxy
# sets them; by default gunicorn would trust them from 127.0.0.1.
forwarded_allow_ips = "127.0.0.1,::1" if _web.trust_proxy else ""
