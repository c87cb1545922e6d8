"""The dispatcher: takes alerts off the engine bus and delivers them from its own worker thread."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from engine.bus import EventBus
from engine.clock import Clock, SystemClock
from notifier.alerts import EMERGENCY, LOWEST, Alert, Channel, SendResult
from notifier.delivery_counts import DeliveryCounts
from notifier.intake import AlertIntake
from notifier.outbox import Outbox
from notifier.rules import DEFAULT_RULES, TOPICS, AlertMapper, Rule
from notifier.send_all import send_on_every_channel

log = logging.getLogger(__name__)

StatusHook = Callable[[list[dict[str, Any]]], None]
OUTBOX_KEEP_S = 30 * 86_400  # delivered alerts stay this long, for the record


@dataclass(frozen=True)
class _Delivery:
    alert_id: int | None
    alert: Alert
    channel: Channel
    attempt: int = 0  # attempts already made
    late: bool = False  # raised before this process started


@dataclass
class _Status:
    name: str
    configured: bool
    state: str
    last_delivery_ts: int | None = None
    last_error: str | None = None
    last_error_ts: int | None = None
    quota_remaining: int | None = None
    quota_limit: int | None = None
    quota_reset_ts: int | None = None


class Dispatcher:
    """Maps bus events to alerts on the engine thread (map and enqueue only) and sends them
    from one worker, highest priority first.

    Rules: 4xx and 429 are not retried; 5xx, timeouts and network errors are retried after
    each of `retry_delays` (so at most 1 + len(retry_delays) attempts). A non-emergency alert
    whose key was seen within the duplicate window is suppressed. Each alert is in the outbox
    before the first attempt, and whatever is undelivered at start is sent again.
    """

    def __init__(
        self,
        channels: list[Channel],
        outbox: Outbox,
        *,
        clock: Clock | None = None,
        dedupe_window_s: float = 300,
        queue_size: int = 1000,
        retry_delays: Sequence[float] = (5, 15, 60),
        rules: Mapping[str, Rule] | None = None,
        min_priority: int = LOWEST,
        poll_s: float = 0.25,
    ) -> None:
        self._channels = list(channels)
        self._outbox = outbox
        self._clock = clock or SystemClock()
        self.dedupe_window_s = dedupe_window_s
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self._poll_s = poll_s
        self._mapper = AlertMapper(
            rules or DEFAULT_RULES, min_priority=min_priority, clock_ms=self._now_ms
        )
        self._map_lock = threading.Lock()
        self._intake = AlertIntake(queue_size)
        self._ready: list[tuple[int, int, _Delivery]] = []
        self._delayed: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._status = {c.name: self._initial_status(c) for c in self._channels}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bus: EventBus | None = None
        # One bound-method object: EventBus.unsubscribe matches by identity.
        self._subscriber = self.handle_event
        self.on_status_change: StatusHook | None = None
        self.suppressed = 0
        self.unsent = 0
        self._warned_unconfigured = False
        self.mapping_errors = 0
        self._deliveries = DeliveryCounts()

    # -- engine side: map and enqueue, nothing else -------------------------------------------

    def attach(self, bus: EventBus) -> None:
        self._bus = bus
        bus.subscribe(self._subscriber, topics=set(TOPICS))

    def detach(self) -> None:
        if self._bus is not None:
            self._bus.unsubscribe(self._subscriber)
            self._bus = None

    def handle_event(self, topic: str, payload: Mapping[str, Any]) -> None:
        """The bus subscriber: runs on the engine thread, so it never blocks and never raises."""
        try:
            with self._map_lock:
                alerts = self._mapper.map(topic, payload)
            for alert in alerts:
                self._intake.put(alert)
        except Exception:  # an alerting bug must not reach the engine
            self.mapping_errors += 1
            log.exception("could not map %s to an alert", topic)

    def submit(self, alert: Alert) -> bool:
        """Queue an alert built elsewhere; False when the full queue dropped it."""
        return self._intake.put(alert)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("dispatcher already started")
        self._seed_duplicates()
        self._resend_undelivered()
        try:
            self._outbox.prune(self._now_ms() - int(OUTBOX_KEEP_S * 1000))
        except Exception:  # housekeeping only; never a reason not to start
            log.exception("could not prune the outbox")
        self._thread = threading.Thread(target=self._run, name="vigil-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the worker; alerts still queued go to the outbox for the next start.
        Returns False if the worker was still inside a send when `timeout` ran out."""
        self.detach()
        self._stopping.set()
        self._intake.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for alert in self._intake.drain():
            self._admit(alert)
        return self._thread is None or not self._thread.is_alive()

    # -- the page's view ----------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        with self._status_lock:
            return [asdict(s) for s in self._status.values()]

    def stats(self) -> dict[str, Any]:
        return {
            "queued": len(self._intake),
            "dropped": self._intake.dropped,
            "suppressed": self.suppressed,
            "mapping_errors": self.mapping_errors,
            "outbox": self._outbox.counts(),
        }

    def delivery_counts(self) -> dict[str, Any]:
        """Plain JSON-able numbers for /metrics: {"deliveries": {channel: {outcome: n}},
        "queue_depth": n} (notifier/delivery_counts.py); under the channel "all", alerts never
        offered to one: suppressed (duplicate), dropped (queue full), unsent (no channel)."""
        deliveries = self._deliveries.snapshot(c.name for c in self._channels if c.configured)
        alerts = {
            "suppressed": self.suppressed,
            "dropped": self._intake.dropped,
            "unsent": self.unsent,
        }
        deliveries["all"] = {k: v for k, v in alerts.items() if v}
        queued = len(self._intake) + len(self._ready) + len(self._delayed)
        return {"deliveries": deliveries, "queue_depth": queued}

    def send_test(self, message: str | None, timeout: float) -> dict[str, dict[str, Any]]:
        """Send at once on every channel (no queue, no duplicate check, no retry) and wait up to
        `timeout` seconds; per channel {"delivered": bool, "error": str | None}."""
        rule = self._mapper.rules.get("test_notification") or DEFAULT_RULES["test_notification"]
        now = self._now_ms()
        alert = Alert(
            key=f"test_notification:{now}",
            title="Vigil test notification",
            message=(message or "").strip() or "Test notification from Vigil: this channel works.",
            priority=rule.priority,
            sound=rule.sound,
            created_ts=now,
            kind="test_notification",
        )
        return send_on_every_channel(self._channels, alert, self._test_one, timeout)

    def _test_one(self, channel: Channel, alert: Alert) -> SendResult:
        result = self._send(channel, alert)
        self._record_status(channel, result)
        self._deliveries.add(channel.name, "sent" if result.ok else "failed")
        return result

    # -- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # the worker must outlive any one bad alert
                log.exception("notifier worker step failed")

    def _step(self) -> None:
        while (alert := self._intake.get(timeout=0)) is not None:
            self._accept(alert)
        now = self._clock.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            delivery = heapq.heappop(self._delayed)[2]
            self._schedule(delivery)
        if self._ready:
            self._attempt(heapq.heappop(self._ready)[2])
            return
        wait = self._poll_s
        if self._delayed:
            wait = min(wait, max(0.0, self._delayed[0][0] - now))
        alert = self._intake.get(timeout=wait)
        if alert is not None:
            self._accept(alert)

    def _accept(self, alert: Alert) -> None:
        admitted = self._admit(alert)
        if admitted is None:
            return
        alert_id, channels = admitted
        for channel in channels:
            self._schedule(_Delivery(alert_id, alert, channel))

    def _admit(self, alert: Alert) -> tuple[int | None, list[Channel]] | None:
        """Duplicate check, then the outbox; None when the alert is not to be sent."""
        if self._is_duplicate(alert):
            self.suppressed += 1
            log.info("suppressed duplicate alert %s", alert.key)
            return None
        channels = [c for c in self._channels if c.configured]
        if not channels:
            self.unsent += 1
            # Said once, not per alert: the demo trades every few seconds.
            if not self._warned_unconfigured:
                self._warned_unconfigured = True
                log.warning(
                    "no notification channel configured; alerts are not sent "
                    "(set PUSHOVER_USER_KEY and PUSHOVER_API_TOKEN)"
                )
            return None
        try:
            alert_id: int | None = self._outbox.add(alert, [c.name for c in channels])
        except Exception:  # a full disk must not also cost the alert itself
            log.exception("outbox write failed; sending %s without it", alert.key)
            alert_id = None
        return alert_id, channels

    def _is_duplicate(self, alert: Alert) -> bool:
        # Judged by when the event happened (created_ts), so restarts and queueing delays do
        # not change the answer.
        at = alert.created_ts / 1000
        window = self.dedupe_window_s if alert.dedupe_s is None else alert.dedupe_s
        with self._seen_lock:
            last = self._seen.get(alert.key)
            if alert.priority < EMERGENCY and last is not None and abs(at - last) < window:
                return True
            self._seen[alert.key] = max(at, last or at)
            if len(self._seen) > 5000:
                horizon = at - max(self.dedupe_window_s, 86_400)
                self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        return False

    def _schedule(self, delivery: _Delivery) -> None:
        entry = (-delivery.alert.priority, next(self._seq), delivery)
        heapq.heappush(self._ready, entry)

    def _attempt(self, delivery: _Delivery) -> None:
        alert = delivery.alert.late_copy() if delivery.late else delivery.alert
        result = self._send(delivery.channel, alert)
        self._record_status(delivery.channel, result)
        retry = not result.ok and result.retryable and delivery.attempt < len(self.retry_delays)
        outcome = "sent" if result.ok else "retrying" if retry else "failed"
        self._deliveries.add(delivery.channel.name, outcome)
        if delivery.alert_id is not None:
            try:
                self._outbox.record(
                    delivery.alert_id,
                    delivery.channel.name,
                    delivered=result.ok,
                    error=result.error,
                    final=not retry,
                )
            except Exception:  # the send already happened; keep going
                log.exception("outbox update failed for alert %s", delivery.alert_id)
        if result.ok:
            return
        log.warning(
            "alert %s on %s failed (attempt %d): %s",
            delivery.alert.key,
            delivery.channel.name,
            delivery.attempt + 1,
            result.error,
        )
        if retry:
            due = self._clock.monotonic() + self.retry_delays[delivery.attempt]
            later = replace(delivery, attempt=delivery.attempt + 1)
            heapq.heappush(self._delayed, (due, next(self._seq), later))

    def _send(self, channel: Channel, alert: Alert) -> SendResult:
        try:
            return channel.send(alert)
        except Exception as exc:  # a channel's bug is a failed send, not a crash
            log.exception("channel %s raised", channel.name)
            return SendResult(ok=False, kind="network", error=type(exc).__name__, retryable=True)

    # -- start-up -----------------------------------------------------------------------------

    def _seed_duplicates(self) -> None:
        horizon = self._now_ms() - int(max(self.dedupe_window_s, 3600) * 1000)
        try:
            recent = self._outbox.recent_keys(horizon)
        except Exception:  # duplicates are a nuisance; a failed start is worse
            log.exception("could not read recent alerts from the outbox")
            return
        with self._seen_lock:
            self._seen.update({key: ts / 1000 for key, ts in recent.items()})

    def _resend_undelivered(self) -> None:
        by_name = {c.name: c for c in self._channels if c.configured}
        try:
            pending = self._outbox.undelivered()
        except Exception:
            log.exception("could not read undelivered alerts from the outbox")
            return
        for alert_id, alert, names in pending:
            for name in names:
                channel = by_name.get(name)
                if channel is not None:
                    self._schedule(_Delivery(alert_id, alert, channel, late=True))
        if pending:
            log.info("re-sending %d undelivered alert(s) from the outbox", len(pending))

    # -- status -------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    def _initial_status(self, channel: Channel) -> _Status:
        if channel.configured:
            return _Status(channel.name, True, "ok")
        return _Status(channel.name, False, "unconfigured", last_error=channel.unconfigured_reason)

    def _record_status(self, channel: Channel, result: SendResult) -> None:
        now = self._now_ms()
        with self._status_lock:
            status = self._status.get(channel.name)
            if status is None:
                return
            before = asdict(status)
            if result.quota is not None:
                if result.quota.limit is not None:
                    status.quota_limit = result.quota.limit
                if result.quota.remaining is not None:
                    status.quota_remaining = result.quota.remaining
                if result.quota.reset_ts is not None:
                    status.quota_reset_ts = result.quota.reset_ts
            if result.ok:
                status.last_delivery_ts = now
                status.state = "quota_exhausted" if status.quota_remaining == 0 else "ok"
            else:
                status.last_error, status.last_error_ts = result.error, now
                status.state = {"rate_limited": "quota_exhausted", "config": "unconfigured"}.get(
                    result.kind, "failing"
                )
            changed = asdict(status) != before
        if changed and self.on_status_change is not None:
            try:
                self.on_status_change(self.status())
            except Exception:  # the page's hook must not stop deliveries
                log.exception("notifier status hook failed")
