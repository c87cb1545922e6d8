"""create_app: builds the Flask-SocketIO app and its Services from settings, the engine runtime
and the notifier; it starts no thread."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from dashboard import auth, metrics, routes, security, share_links, sockets, webhook
from dashboard.bridge import SocketBridge
from dashboard.connection_guard import BoundedWebSocket, ConnectionGuard
from dashboard.engine_link import EngineLink, LocalEngine
from dashboard.event_guard import EventGuard
from dashboard.services import Notifier, Services
from dashboard.settings import VigilSettings
from dashboard.share_links import ShareLinks
from engine.users import UserStore

if TYPE_CHECKING:
    from dashboard.shared_limits import SharedLimits
    from engine.runtime import EngineRuntime


def create_app(
    settings: VigilSettings,
    runtime: EngineRuntime | None,
    *,
    notifier: Notifier | None = None,
    users: UserStore | None = None,
    link: EngineLink | None = None,
) -> Flask:
    """Build the app; start nothing. `runtime` may be None for CLI-only use (no engine, no
    broker), or for a web process over Redis, which passes its `link` (RedisEngine) instead.
    The serving process starts the bridge (`Services.start_bridge`), see wsgi.serve."""
    remote = runtime is None and link is not None
    # gunicorn's gevent worker (web processes over Redis) has patched the standard library
    # before loading the app; everything else runs real threads.
    cooperative = remote and _gevent_patched()
    if link is None and runtime is not None:
        link = LocalEngine(runtime, notifier)
    web, files = settings.web, settings.engine.store
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=web.secret_key or load_or_create_secret(files.data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=web.secure_cookies,
        SESSION_COOKIE_NAME="vigil_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=web.max_message_bytes,
        VIGIL_ORIGINS=web.origins,
        JSON_SORT_KEYS=False,
    )
    app.json = security.BoundedJSONProvider(app)

    socketio = SocketIO(
        app,
        async_mode="gevent" if cooperative else "threading",
        # The handshake's origin check is installed by security.install (same rule as HTTP).
        max_http_buffer_size=web.max_message_bytes,
        ping_interval=10,
        ping_timeout=10,
        # Websocket only (the page asks for nothing else): a long-poll would hold a thread
        # per request, outside the connection guard's count.
        transports=["websocket"],
        # A web process over Redis: every engine event reaches every web process's clients.
        **({"client_manager": _queue(settings)} if remote else {}),
    )
    eio = socketio.server.eio
    eio._async = {  # this server's copy: the driver table is shared module state
        **eio._async,
        "websocket": BoundedWebSocket.limited_to(web.max_message_bytes, gevent=cooperative),
    }
    limits = _shared_limits(settings) if remote else None
    event_guard = EventGuard(socketio.server, shared=limits)
    event_guard.install()
    held = settings.redis.max_connections if cooperative else None
    guard = ConnectionGuard(app.wsgi_app, app, web, event_guard, max_held=held, shared=limits)
    app.wsgi_app = guard  # type: ignore[method-assign]
    if web.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, so the socket path (guard, origin check) sees the same client address,
        # host and scheme as every HTTP route.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    Services(
        settings=settings,
        users=users or UserStore(files.db_path),
        throttle=_throttle(settings) if remote else auth.LoginThrottle(),
        sessions=auth.SessionRevocations(files.db_path),
        share_links=ShareLinks(files.db_path, app.secret_key or ""),
        socketio=socketio,
        bridge=SocketBridge(socketio, clock=runtime.clock if runtime is not None else None),
        event_guard=event_guard,
        connection_guard=guard,
        runtime=runtime,
        notifier=notifier,
        link=link,
    ).install(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(routes.bp)
    app.register_blueprint(metrics.bp)
    if limits is not None:
        metrics.AppMetrics.of(app).registry.register(limits.collector())
    app.register_blueprint(share_links.bp)
    webhook.install(app, settings.webhook.secret, settings.webhook.rate_per_min)
    security.install(app)
    sockets.register(socketio)
    _install_error_handlers(app)
    return app


def _throttle(settings: VigilSettings) -> auth.LoginThrottle:
    """Several web processes share one login budget per key (dashboard/shared_throttle.py)."""
    from dashboard.shared_throttle import SharedLoginThrottle

    return SharedLoginThrottle(settings.redis.url, settings.redis.prefix)


def _shared_limits(settings: VigilSettings) -> SharedLimits:
    """Web processes share the per-address socket count and the per-account event budget
    (dashboard/shared_limits.py); a dead worker's holds expire after the heartbeat TTL."""
    from dashboard.shared_limits import shared_limits

    redis = settings.redis
    return shared_limits(redis.url, redis.prefix, redis.heartbeat_ttl_s)


def _gevent_patched() -> bool:
    import sys

    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


def _queue(settings: VigilSettings) -> Any:
    """Flask-SocketIO's Redis message queue, resyncing the pages after a resubscription."""
    from dashboard.resync import ResyncingRedisManager

    return ResyncingRedisManager(settings.redis.url, channel=settings.redis.channel)


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").upper().replace(" ", "_")
        body = {"ok": False, "error": {"code": code, "message": exc.description or exc.name}}
        return jsonify(body), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error")
        body = {
            "ok": False,
            "error": {"code": "INTERNAL", "message": "internal error; see the log"},
        }
        return jsonify(body), 500


def load_or_create_secret(data_dir: Path) -> str:
    """A per-installation secret kept in the data directory (0600), made on first start."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    # Written whole to a temp file, then linked into place: link() fails if the name exists,
    # so two first starts at once agree on one key and neither reads a half-written file.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(tmp)
    return secret
