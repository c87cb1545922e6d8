"""Entry points: `create_app()` for the flask CLI (no engine); `serve()` for gunicorn.

A start that cannot go on (bad configuration, the data directory held by another engine)
prints one line and exits with BOOT_ERROR = 3, gunicorn's WORKER_BOOT_ERROR: its arbiter then
shuts down instead of forking the worker again and again. Other runners just see non-zero.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, NoReturn

from flask import Flask

from dashboard.settings import VigilSettings, load_settings
from engine.settings_group import SettingsError

if TYPE_CHECKING:
    from dashboard.services import Services
    from dashboard.shutdown import GracefulStop
    from engine.runtime import EngineRuntime
    from notifier.dispatcher import Dispatcher

log = logging.getLogger("vigil")
BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR
CLI_ERROR = 2


def _refuse(message: str, code: int = BOOT_ERROR) -> NoReturn:
    print(f"vigil: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _settings_or_exit(code: int = BOOT_ERROR) -> VigilSettings:
    try:
        return load_settings()
    except SettingsError as exc:
        _refuse(f"configuration error: {exc}", code)


def create_app() -> Flask:
    """For `flask --app wsgi kill-switch ...` and `users ...`: touches no broker, starts nothing."""
    from dashboard.app import create_app as build
    from dashboard.cli import register

    app = build(_settings_or_exit(CLI_ERROR), None)
    register(app)
    return app


def serve() -> Flask:
    """The serving process: read the latch, rebuild state, start the engine, then serve."""
    from dashboard.app import create_app as build
    from dashboard.cli import register
    from dashboard.logging_setup import configure_logging
    from dashboard.services import Services
    from engine.datadir_lock import DataDirLocked
    from engine.runtime import EngineRuntime
    from engine.store import StoreError
    from engine.users import UserStore
    from notifier.config import build_dispatcher

    settings = _settings_or_exit()
    configure_logging(settings.web.log_level, settings.web.log_format)
    if settings.redis.enabled:
        return _serve_web(settings)
    try:
        runtime = EngineRuntime(settings.engine)
    except SettingsError as exc:
        _refuse(f"configuration error: {exc}")
    except DataDirLocked as exc:
        _refuse(str(exc))
    except StoreError as exc:  # a database this Vigil cannot use (or upgrade); left as it was
        _refuse(f"store error: {exc}")
    # The latch is read here, before any broker or strategy runs, and the whole snapshot is
    # published before the app exists: no request can see it half built.
    runtime.boot()
    users = UserStore(settings.engine.store.db_path)
    generated = users.ensure_admin(settings.web.admin_password)
    notifier = build_dispatcher(settings.alerts, settings.engine.store.data_dir)
    app = build(settings, runtime, notifier=notifier, users=users)
    register(app)
    services = Services.of(app)
    # The factory built everything; the threads start here, the engine's last: the bridge
    # and the notifier listen to the bus before the engine publishes its first live event.
    services.start_bridge()
    notifier.attach(runtime.bus)
    notifier.start()
    runtime.start()
    _graceful_stop(services, runtime, notifier).install()
    _banner(settings, generated)
    return app


def _serve_web(settings: VigilSettings) -> Flask:
    """A web process over Redis: no engine here, no data-directory lock; the data directory's
    SQLite still holds users, sessions, share links and the audit log."""
    from dashboard.app import create_app as build
    from dashboard.cli import register
    from dashboard.metrics import AppMetrics
    from dashboard.redis_link import RedisEngine
    from dashboard.resync import start_resync
    from dashboard.services import Services
    from dashboard.shutdown import GracefulStop
    from engine.store import Store, StoreError
    from engine.users import UserError, UserStore

    try:
        store = Store(settings.engine.store.db_path)
    except StoreError as exc:
        _refuse(f"store error: {exc}")
    users = UserStore(settings.engine.store.db_path)
    try:
        generated = users.ensure_admin(settings.web.admin_password)
    except UserError:  # another web process (or worker) created it at the same moment
        generated = users.ensure_admin(settings.web.admin_password)
    link = RedisEngine(settings.redis, store)
    app = build(settings, None, users=users, link=link)
    register(app)
    start_resync(app)
    sources = AppMetrics.of(app).sources  # the engine's numbers come from Redis too
    sources.engine_data = lambda: link.metrics_data()[0]
    sources.notifier_data = lambda: link.metrics_data()[1]
    # A web process's stop closes its pages' sockets at once: they reconnect to another one.
    GracefulStop([], finish=Services.of(app).socketio.server.eio.disconnect).install()
    _banner(settings, generated)
    return app


def _graceful_stop(
    services: Services, runtime: EngineRuntime, notifier: Dispatcher
) -> GracefulStop:
    """In the reverse order of the start: the pages are told first (the worker drains for up to
    graceful_timeout with the websockets open, and a page must not say "Live" meanwhile), then
    the engine stops (its last events are delivered), then the notifier and the bridge."""
    from dashboard.shutdown import GracefulStop

    def tell_the_pages() -> None:
        runtime.bus.publish(
            "system", {"message": "the server is stopping; figures stop here", "kind": "stopping"}
        )

    def last_words_then_bridge() -> None:
        services.bridge.wait_sent(2.0)
        services.stop_bridge()

    return GracefulStop(
        [
            ("telling the pages", tell_the_pages),
            ("engine", lambda: runtime.stop(reason="the server is stopping")),
            ("notifier", lambda: notifier.stop(2.0)),
            ("bridge", last_words_then_bridge),
        ],
        finish=services.socketio.server.eio.disconnect,  # the worker need not wait for pages
    )


def _banner(settings: VigilSettings, generated: str | None) -> None:
    web = settings.web
    url = f"http://{web.host}:{web.port}"
    lines = [f"Vigil is serving on {url}"]
    if generated:
        lines.append(f"First run: log in as 'admin' with password: {generated}")
        lines.append("(shown once; stored only as a hash. Set VIGIL_ADMIN_PASSWORD to choose it.)")
    elif web.admin_password:
        lines.append("Log in as 'admin' with the password in VIGIL_ADMIN_PASSWORD.")
    else:
        lines.append("Log in with an existing account (flask --app wsgi users list).")
    print("\n".join(lines), flush=True)
    if web.host not in ("127.0.0.1", "localhost", "::1") and not web.secure_cookies:
        warning = (
            f"SECURITY WARNING: Vigil is bound to {web.host}, reachable from other "
            "machines, without VIGIL_SECURE_COOKIES=1: session cookies can travel in clear "
            "text. Bind 127.0.0.1 behind a TLS proxy and set VIGIL_SECURE_COOKIES=1."
        )
        bar = "!" * 78
        print(f"{bar}\n{warning}\n{bar}", file=sys.stderr, flush=True)
        log.warning(warning)
