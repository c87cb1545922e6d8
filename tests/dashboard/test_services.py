"""The app's services: one typed object built by the factory, which starts no thread; the
serving process starts the bridge, and shutdown stops in the reverse order of the start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import wsgi
from dashboard import create_app
from dashboard.services import Services
from dashboard.settings import VigilSettings
from engine.runtime import EngineRuntime
from engine.users import UserStore
from tests.conftest import CHEAP_HASHER, wait_until


@pytest.fixture
def runtime(settings: VigilSettings) -> Iterator[EngineRuntime]:
    rt = EngineRuntime(settings.engine)
    rt.boot()
    yield rt
    rt.stop()


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def test_factory_then_services_hold_what_it_was_given(
    settings: VigilSettings, runtime: EngineRuntime
) -> None:
    users = UserStore(settings.engine.store.db_path, hasher=CHEAP_HASHER)
    app = create_app(settings, runtime, users=users)
    services = Services.of(app)
    assert services.settings is settings and services.users is users
    assert services.runtime is runtime and services.engine() is runtime
    assert services.store is runtime.parts.store and services.engine_store() is services.store
    assert services.notifier is None
    with app.app_context():
        from dashboard.services import services as current

        assert current() is services


def test_factory_without_engine_then_no_store_and_engine_refused(settings: VigilSettings) -> None:
    services = Services.of(create_app(settings, None))
    assert services.runtime is None and services.store is None
    with pytest.raises(RuntimeError, match="without an engine"):
        services.engine()


def test_factory_then_no_thread_started_until_the_bridge_is(
    settings: VigilSettings, runtime: EngineRuntime
) -> None:
    before = _threads()
    app = create_app(settings, runtime)
    # Only new threads count: an earlier test's thread may end meanwhile (CI saw a client's
    # ping thread stop between the two reads).
    assert not _threads() - before  # the factory builds, it starts nothing
    services = Services.of(app)
    runtime.bus.publish("system", {"message": "before the bridge"})
    assert services.bridge.step() is False  # not subscribed to the bus either

    services.start_bridge()
    started = wait_until(lambda: _threads() - before, 5, "the bridge's thread")
    try:
        client = services.socketio.test_client(app)  # no session: refused, so no emits to it
        assert not client.is_connected()
        sent_before = services.bridge.emitted
        runtime.bus.publish("system", {"message": "after the bridge"})
        wait_until(lambda: services.bridge.emitted > sent_before, 5, "the bridge to emit")
    finally:
        services.stop_bridge()
    wait_until(lambda: not any(t.is_alive() for t in started), 5, "the bridge to stop")


class _Recorder:
    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.name = calls, name

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(f"{self.name}.stop")

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.calls.append(f"{topic}:{payload.get('kind')}")

    def wait_sent(self, timeout: float) -> bool:
        self.calls.append("bridge.wait_sent")
        return True


class _FakeEngine(_Recorder):
    def __init__(self, calls: list[str]) -> None:
        super().__init__(calls, "engine")
        self.bus = _Recorder(calls, "bus")


class _FakeServices:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.bridge = _Recorder(calls, "bridge")
        eio = _Recorder(calls, "eio")
        eio.disconnect = lambda: calls.append("sockets.closed")  # type: ignore[attr-defined]
        self.socketio = type("S", (), {"server": type("E", (), {"eio": eio})()})()

    def stop_bridge(self) -> None:
        self.calls.append("bridge.stop")


def test_graceful_stop_then_pages_told_engine_notifier_bridge_then_sockets_closed() -> None:
    calls: list[str] = []
    stop = wsgi._graceful_stop(
        _FakeServices(calls),  # type: ignore[arg-type]
        _FakeEngine(calls),  # type: ignore[arg-type]
        _Recorder(calls, "notifier"),  # type: ignore[arg-type]
    )
    stop.run()
    stop.run()  # a second signal, or atexit after the signal: nothing runs twice
    assert calls == [
        "system:stopping",
        "engine.stop",
        "notifier.stop",
        "bridge.wait_sent",
        "bridge.stop",
        "sockets.closed",
    ]


def test_graceful_stop_step_fails_then_the_later_steps_still_run() -> None:
    from dashboard.shutdown import GracefulStop

    calls: list[str] = []

    def broken() -> None:
        raise OSError("disk full")

    stop = GracefulStop(
        [("first", broken), ("second", lambda: calls.append("second"))],
        finish=lambda: calls.append("finish"),
    )
    stop.run()
    assert calls == ["second", "finish"] and stop.wait(0)
