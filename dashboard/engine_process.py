"""`flask --app wsgi engine`: the engine alone (VIGIL_REDIS_URL set): the data-directory lock,
the latch, the notifier and the relay to the web processes; the only process that trades."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, NoReturn

import click

from dashboard.services import services

if TYPE_CHECKING:
    from dashboard.settings import VigilSettings
    from notifier.dispatcher import Dispatcher

log = logging.getLogger("vigil")
CLI_ERROR = 2
BOOT_ERROR = 3  # as wsgi.BOOT_ERROR


def _refuse(message: str, code: int) -> NoReturn:
    click.echo(f"vigil: {message}", err=True)
    sys.exit(code)


@click.command("engine")
def engine_command() -> None:
    """Run the engine alone; web processes reach it through Redis (VIGIL_REDIS_URL)."""
    settings = services().settings
    if not settings.redis.enabled:
        _refuse(
            "the engine command needs VIGIL_REDIS_URL; for one process use `make run` "
            "(the Procfile's web line)",
            CLI_ERROR,
        )
    run_engine(settings)


def run_engine(settings: VigilSettings) -> None:
    """Boot (latch first), start the notifier, the relay and the engine; stop on SIGTERM or
    SIGINT (strategies stop, the store is flushed, the latch is untouched)."""
    from dashboard.logging_setup import configure_logging
    from dashboard.relay import Relay
    from engine.datadir_lock import DataDirLocked
    from engine.runtime import EngineRuntime
    from engine.settings_group import SettingsError
    from engine.store import StoreError
    from notifier.config import build_dispatcher

    configure_logging(settings.web.log_level, settings.web.log_format)
    try:
        runtime = EngineRuntime(settings.engine)
    except SettingsError as exc:
        _refuse(f"configuration error: {exc}", BOOT_ERROR)
    except DataDirLocked as exc:
        _refuse(str(exc), BOOT_ERROR)
    except StoreError as exc:
        _refuse(f"store error: {exc}", BOOT_ERROR)
    runtime.boot()  # the latch is read here, before any broker or strategy runs
    notifier = build_dispatcher(settings.alerts, settings.engine.store.data_dir)
    relay = Relay(settings.redis, runtime, notifier)
    relay.on_link_change = lambda linked, why: _alert_link(notifier, linked, why)
    bridge = relay.bridge
    runtime.bus.subscribe(bridge.on_event)
    notifier.on_status_change = lambda channels: bridge.on_event(
        "alerts_update", {"channels": channels}
    )
    notifier.attach(runtime.bus)
    notifier.start()
    relay.start()
    runtime.start()
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    print(f"Vigil engine running; web processes reach it through {_where(settings)}", flush=True)
    while not stopping.wait(1.0):
        pass
    log.info("stopping the engine")
    runtime.bus.publish("system", {"message": "the engine is stopping", "kind": "engine_stop"})
    try:
        runtime.stop(reason="the engine process is stopping")
    finally:
        try:
            notifier.stop(2.0)
        finally:
            relay.stop()
    print("Vigil engine stopped", flush=True)


def _where(settings: VigilSettings) -> str:
    """The Redis address without its password."""
    url = settings.redis.url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return f"{url} (prefix {settings.redis.prefix!r})"


def _alert_link(notifier: Dispatcher, linked: bool, why: str) -> None:
    """Redis lost or back: the operator hears it on the phone (Pushover needs no Redis)."""
    from notifier.alerts import HIGH, Alert

    if linked:
        alert = Alert(
            key=f"redis_link:up:{time.time():.0f}",
            title="Vigil: Redis link restored",
            message="The engine reaches the web processes again; new entries are allowed.",
            priority=HIGH,
            kind="redis_link",
        )
    else:
        alert = Alert(
            key=f"redis_link:down:{time.time():.0f}",
            title="Vigil: Redis link lost",
            message=f"{why}. The engine keeps protecting positions and denies new entries; "
            "the pages do not update until Redis is back.",
            priority=HIGH,
            sound="alien",
            kind="redis_link",
        )
    notifier.submit(alert)
