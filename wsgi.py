"""Entry points: `create_app()` for the flask CLI (no engine); `serve()` for gunicorn."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any

from flask import Flask

from engine.settings import Settings, SettingsError, load_settings

log = logging.getLogger("vigil")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def create_app() -> Flask:
    """For `flask --app wsgi kill-switch ...` and `users ...`: touches no broker, starts nothing."""
    from dashboard.app import create_app as build
    from dashboard.cli import register

    app = build(_settings_or_exit(), None)
    register(app)
    return app


def serve() -> Flask:
    """The serving process: read the latch, rebuild state, start the engine, then serve."""
    from dashboard.app import create_app as build
    from dashboard.cli import register
    from engine.runtime import EngineRuntime
    from engine.users import UserStore
    from notifier.config import NotifierConfigError, build_dispatcher

    settings = _settings_or_exit()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runtime = EngineRuntime(settings)
    except SettingsError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    runtime.boot()  # the latch is read here, before any broker or strategy runs
    users = UserStore(settings.db_path)
    generated = users.ensure_admin(settings.admin_password)
    try:
        notifier = build_dispatcher(os.environ, settings.data_dir)
    except NotifierConfigError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    notifier.attach(runtime.bus)
    notifier.start()
    app = build(settings, runtime, notifier=notifier, users=users)
    register(app)
    runtime.start()
    atexit.register(_shutdown, runtime, notifier)
    _banner(settings, generated)
    return app


def _shutdown(runtime: Any, notifier: Any) -> None:
    if notifier is not None:
        notifier.stop(2.0)
    runtime.stop()


def _banner(settings: Settings, generated: str | None) -> None:
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"Vigil is serving on {url}"]
    if generated:
        lines.append(f"First run: log in as 'admin' with password: {generated}")
        lines.append("(shown once; stored only as a hash. Set VIGIL_ADMIN_PASSWORD to choose it.)")
    elif settings.admin_password:
        lines.append("Log in as 'admin' with the password in VIGIL_ADMIN_PASSWORD.")
    else:
        lines.append("Log in with an existing account (flask --app wsgi users list).")
    print("\n".join(lines), flush=True)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.secure_cookies:
        warning = (
            f"SECURITY WARNING: Vigil is bound to {settings.host}, reachable from other "
            "machines, without VIGIL_SECURE_COOKIES=1: session cookies can travel in clear "
            "text. Bind 127.0.0.1 behind a TLS proxy and set VIGIL_SECURE_COOKIES=1."
        )
        bar = "!" * 78
        print(f"{bar}\n{warning}\n{bar}", file=sys.stderr, flush=True)
        log.warning(warning)
