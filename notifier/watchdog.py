"""The dead-man's switch: a separate process that alerts when Vigil itself can no longer alert."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from engine.clock import Clock, SystemClock
from engine.settings_group import SettingsError, load_group
from notifier.alerts import EMERGENCY, NORMAL, Alert, Channel
from notifier.config import build_channels
from notifier.settings import AlertSettings, WatchdogSettings

log = logging.getLogger("notifier.watchdog")


@dataclass(frozen=True)
class Reading:
    """One look at /healthz. `problem` is unreachable | stale | degraded, or None when healthy."""

    problem: str | None
    detail: str

    @property
    def healthy(self) -> bool:
        return self.problem is None


_TITLES = {
    "unreachable": "VIGIL DOWN: server not answering",
    "stale": "VIGIL DOWN: engine heartbeat stopped",
    "degraded": "VIGIL DEGRADED",
}


class Watchdog:
    """Polls the server's health and raises one emergency per outage, then one recovery notice.

    A server that does not answer counts only once it has not answered for `stale_after_s`
    (a restart is not an outage); a stale heartbeat is old by definition; DEGRADED counts at once.
    """

    def __init__(
        self,
        health_url: str,
        channels: Sequence[Channel],
        *,
        stale_after_s: float = 30.0,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] | float = (3.05, 5),
        resend_after_s: float = 30.0,
    ) -> None:
        self.health_url = health_url
        self.channels = list(channels)
        self.stale_after_s = stale_after_s
        self._clock = clock or SystemClock()
        self._session = session or requests.Session()
        self._timeout = timeout
        self._resend_after_s = resend_after_s
        self._down_since: float | None = None
        self._outage_since: float | None = None
        self._last_try: float | None = None
        self.alerted: str | None = None  # the problem the operator was told about

    def probe(self) -> Reading:
        try:
            response = self._session.get(self.health_url, timeout=self._timeout)
        except requests.RequestException as exc:
            return Reading(
                "unreachable", f"{self.health_url} did not answer ({type(exc).__name__})"
            )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            return Reading("unreachable", f"{self.health_url} answered HTTP {response.status_code}")
        status = str(body.get("status")).upper()
        heartbeat = body.get("heartbeat_ts")
        if not isinstance(heartbeat, int | float) or isinstance(heartbeat, bool):
            return Reading("stale", "the server reports no engine heartbeat")
        age = self._clock.time() - heartbeat / 1000
        if age > self.stale_after_s:
            return Reading("stale", f"the engine's last heartbeat is {age:.0f} s old")
        if status == "DEGRADED":
            last = body.get("last_error") or "no error given"
            return Reading("degraded", f"the engine reports DEGRADED (last error: {last})")
        return Reading(None, f"status {status}, heartbeat {age:.1f} s old")

    def check(self, *, grace_s: float | None = None) -> Reading:
        """One poll; sends the outage or recovery alert when this poll changes the picture."""
        reading = self.probe()
        now = self._clock.monotonic()
        grace = self.stale_after_s if grace_s is None else grace_s
        if reading.problem == "unreachable":
            self._down_since = now if self._down_since is None else self._down_since
            active = now - self._down_since >= grace
        else:
            self._down_since = None
            active = not reading.healthy
        if active and self.alerted is None:
            log.error("outage: %s", reading.detail)
            if self._may_try(now) and self._deliver(self._outage_alert(reading)):
                self.alerted, self._outage_since, self._last_try = reading.problem, now, None
        elif reading.healthy and self.alerted is not None:
            log.info("recovered: %s", reading.detail)
            if self._may_try(now) and self._deliver(self._recovery_alert(now)):
                self.alerted, self._outage_since, self._last_try = None, None, None
        return reading

    def run(
        self,
        *,
        interval_s: float,
        once: bool = False,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> int:
        """Poll until `stop` is set. `once`: one check, alerting at once on any fault; the
        exit code is 0 when healthy, 1 otherwise (for cron and for scripts)."""
        if once:
            return 0 if self.check(grace_s=0).healthy else 1
        stop = stop or threading.Event()
        pause = sleep or stop.wait
        while not stop.is_set():
            try:
                self.check()
            except Exception:  # the watchdog is the last line; it must not die of one bad poll
                log.exception("watchdog check failed")
            pause(interval_s)
        return 0

    def _may_try(self, now: float) -> bool:
        # After a failed send, wait a little: a broken token must not mean a request a second.
        if self._last_try is not None and now - self._last_try < self._resend_after_s:
            return False
        self._last_try = now
        return True

    def _deliver(self, alert: Alert) -> bool:
        configured = [c for c in self.channels if c.configured]
        if not configured:
            log.error("no notification channel configured; could not send: %s", alert.title)
            return True
        delivered = False
        for channel in configured:
            try:
                result = channel.send(alert)
            except Exception:
                log.exception("channel %s raised", channel.name)
                continue
            if result.ok:
                delivered = True
            else:
                log.error("could not alert via %s: %s", channel.name, result.error)
        return delivered

    def _outage_alert(self, reading: Reading) -> Alert:
        problem = reading.problem or "unreachable"
        message = (
            f"{reading.detail}.\nChecked {self.health_url}. Trading may be unattended: check the "
            "server; the kill-switch command works without the web server."
        )
        return Alert(
            key=f"watchdog:{problem}",
            title=_TITLES.get(problem, "VIGIL DOWN"),
            message=message,
            priority=EMERGENCY,
            sound="siren",
            created_ts=int(self._clock.time() * 1000),
            kind="watchdog",
        )

    def _recovery_alert(self, now: float) -> Alert:
        lasted = now - self._outage_since if self._outage_since is not None else 0.0
        return Alert(
            key="watchdog:recovered",
            title="Vigil recovered",
            message=f"{self.health_url} is healthy again after about {lasted:.0f} s.",
            priority=NORMAL,
            created_ts=int(self._clock.time() * 1000),
            kind="watchdog",
        )


def run_watchdog(
    health_url: str,
    channels: Sequence[Channel],
    *,
    interval_s: float = 5.0,
    stale_after_s: float = 30.0,
    once: bool = False,
    clock: Clock | None = None,
    sleep: Callable[[float], object] | None = None,
    stop: threading.Event | None = None,
    session: requests.Session | None = None,
) -> int:
    watchdog = Watchdog(
        health_url, channels, stale_after_s=stale_after_s, clock=clock, session=session
    )
    return watchdog.run(interval_s=interval_s, once=once, stop=stop, sleep=sleep)


def _parser(watch: WatchdogSettings, port: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m notifier.watchdog",
        description="Alert (Pushover emergency / Apprise) when Vigil's server or engine stops.",
    )
    parser.add_argument(
        "--url",
        default=watch.url or f"http://127.0.0.1:{port}/healthz",
        help="health endpoint (env VIGIL_WATCHDOG_URL; default http://127.0.0.1:$VIGIL_PORT/healthz)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=watch.stale_s,
        help="seconds of silence or heartbeat age that make an outage (env VIGIL_WATCHDOG_STALE_S)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=watch.interval_s,
        help="seconds between polls (env VIGIL_WATCHDOG_INTERVAL_S)",
    )
    parser.add_argument("--once", action="store_true", help="check once; exit 0 healthy, 1 not")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    logging.basicConfig(
        level=env.get("VIGIL_LOG_LEVEL") or "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        watch = load_group(WatchdogSettings, env)
        channels = build_channels(load_group(AlertSettings, env))
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return 2
    # VIGIL_PORT is the web layer's variable: read as text, only to guess the health URL.
    args = _parser(watch, env.get("VIGIL_PORT") or "5000").parse_args(argv)
    if not any(c.configured for c in channels):
        log.warning("no notification channel configured: outages will only be logged")
    stop = threading.Event()
    if not args.once and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    log.info(
        "watching %s (stale after %g s, every %g s)", args.url, args.stale_after, args.interval
    )
    return run_watchdog(
        args.url,
        channels,
        interval_s=args.interval,
        stale_after_s=args.stale_after,
        once=args.once,
        stop=stop,
    )


if __name__ == "__main__":
    raise SystemExit(main())
