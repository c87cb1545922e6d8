"""SignalInbox: signals from strategies and the webhook, filtered, then sent to the gateway
(mode "auto") or held for an operator's approve / reject (mode "approve"), on the engine thread."""

from __future__ import annotations

import itertools
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.commands import error
from engine.models import OrderRequest, OrderType, Side
from engine.payloads import ms
from engine.signals.filters import SignalFilters

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.signals.settings import SignalSettings
    from engine.state import DashboardState
    from engine.store import Store

Submit = Callable[[OrderRequest, str], dict[str, Any]]
PriceOf = Callable[[str], "float | None"]
MODES = ("auto", "approve")
# Handled signals and senders' ids are remembered this long, so a late approve or a resent
# alert gets a clear answer instead of "unknown".
REMEMBER_S = 24 * 3600
REMEMBER_MAX = 10_000
MODE_KEY = "signals.mode"


@dataclass(frozen=True)
class IncomingSignal:
    """A signal before the inbox: a strategy's (with its order) or the webhook's."""

    symbol: str
    side: Side
    qty: float
    confidence: float | None  # 0..1; None: the sender gave none
    source: str  # "webhook" or "strategy"
    price: float | None = None
    strategy: str = ""
    reason: str = ""
    sender_id: str | None = None  # the sender's own id, for de-duplication
    order: OrderRequest | None = None  # a strategy's order (brackets included)

    def to_order(self, signal_id: str) -> OrderRequest:
        if self.order is not None:
            return self.order
        return OrderRequest(
            self.symbol, self.side, self.qty, OrderType.MARKET, source=self.source, tag=signal_id
        )


@dataclass(frozen=True)
class Pending:
    id: str
    signal: IncomingSignal
    price: float | None  # the reference for drift: the signal's price, else the market's
    received_ts: float
    expires_ts: float


class SignalInbox:
    def __init__(
        self,
        settings: SignalSettings,
        tz: str,
        *,
        clock: Clock,
        bus: EventBus,
        state: DashboardState,
        store: Store,
        submit: Submit,
        price_of: PriceOf,
        symbols: Callable[[], Any],
    ) -> None:
        self.settings, self.clock, self.bus, self.state, self.store = (
            settings,
            clock,
            bus,
            state,
            store,
        )
        self.filters = SignalFilters.from_settings(settings, tz)
        self._submit, self._price_of, self._symbols = submit, price_of, symbols
        # The operator's last choice survives a restart; VIGIL_SIGNAL_MODE=approve always
        # starts held (the stricter of the two wins, so a restart never starts trading alone).
        saved = store.get_kv(MODE_KEY)
        self.mode: str = "approve" if "approve" in (saved, settings.mode) else "auto"
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        self._handled: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._senders: OrderedDict[str, float] = OrderedDict()
        self._prefix = secrets.token_hex(2)  # ids stay unique across restarts
        self._seq = itertools.count(1)

    # ----- intake -----
    def receive(self, sig: IncomingSignal, actor: str) -> dict[str, Any]:
        """Filter, then queue (approve) or send (auto). Reduce-only exits skip both: a held
        exit would keep risk on, so they go to the gateway at once in either mode."""
        now = self.clock.time()
        self._forget(now)
        if sig.symbol not in self._symbols():
            return error("UNKNOWN_SYMBOL", f"unknown symbol {sig.symbol!r}")
        if sig.sender_id is not None and sig.sender_id in self._senders:
            self.store.audit(
                actor, "signal_duplicate", outcome="REFUSED", details={"sender_id": sig.sender_id}
            )
            return error("DUPLICATE_SIGNAL", f"signal id {sig.sender_id!r} was already received")
        if sig.sender_id is not None:
            self._senders[sig.sender_id] = now
        signal_id = f"sig-{self._prefix}-{next(self._seq)}"
        details = _details(sig)
        if sig.order is not None and sig.order.reduce_only:
            return self._send(signal_id, sig, actor, "exit: sent at once")
        refusal = self.filters.refusal(sig.symbol, sig.confidence, now)
        if refusal is not None:
            code, message = refusal
            self._remember(signal_id, now, "filtered")
            self.store.audit(
                actor, "signal_filtered", reason=message, outcome=code, details=details
            )
            self.bus.publish("system", {"message": f"signal {sig.symbol} filtered: {message}"})
            return {
                "ok": True,
                "id": signal_id,
                "status": "filtered",
                "code": code,
                "message": message,
            }
        if self.mode == "auto":
            return self._send(signal_id, sig, actor, "auto")
        price = sig.price if sig.price is not None else self._price_of(sig.symbol)
        item = Pending(signal_id, sig, price, now, now + self.settings.ttl_s)
        self.pending[signal_id] = item
        self.store.audit(actor, "signal_queued", outcome=signal_id, details=details)
        self.publish()
        return {"ok": True, "id": signal_id, "status": "pending"}

    def _send(self, signal_id: str, sig: IncomingSignal, actor: str, why: str) -> dict[str, Any]:
        order = sig.to_order(signal_id)
        if sig.order is not None and not order.tag:
            order = replace(order, tag=signal_id)
        self._remember(signal_id, self.clock.time(), "submitted")
        result = self._submit(order, actor)
        status = "submitted" if result.get("ok") else "denied"
        self.store.audit(
            actor,
            "signal_submitted",
            reason=why,
            outcome=status if result.get("ok") else result["error"]["code"],
            details={**_details(sig), "id": signal_id},
        )
        answer: dict[str, Any] = {"ok": True, "id": signal_id, "status": status}
        if not result.get("ok"):
            answer["code"], answer["message"] = result["error"]["code"], result["error"]["message"]
        return answer

    # ----- operator -----
    def set_mode(self, mode: str, actor: str) -> dict[str, Any]:
        """Pending signals stay pending when the mode turns to auto: a signal that waited is
        sent only by a person who looked at it."""
        try:
            self.store.set_kv(MODE_KEY, mode)
        except Exception as exc:  # noqa: BLE001 - a store fault is an answer, not a crash
            if mode == "auto":  # a choice that would not survive a restart is not made
                return error("STORE_UNAVAILABLE", f"the mode could not be saved: {exc}")
        old, self.mode = self.mode, mode
        self.store.audit(actor, "set_signal_mode", outcome=mode, details={"old": old, "new": mode})
        self.bus.publish("system", {"message": f"signal mode {old} → {mode} by {actor}"})
        self.publish()
        return {"ok": True, "mode": mode, "old": old, "pending": len(self.pending)}

    def approve(self, signal_id: str, actor: str) -> dict[str, Any]:
        item = self._take(signal_id, actor, "approve_signal")
        if not isinstance(item, Pending):
            return item
        self._remember(signal_id, self.clock.time(), "approved")
        result = self._submit(item.signal.to_order(signal_id), actor)
        outcome = "submitted" if result.get("ok") else result["error"]["code"]
        self.store.audit(
            actor,
            "approve_signal",
            outcome=outcome,
            details={**_details(item.signal), "id": signal_id, "drift_pct": self._drift(item)},
        )
        self.publish()
        return {**result, "id": signal_id}

    def reject(self, signal_id: str, actor: str) -> dict[str, Any]:
        item = self._take(signal_id, actor, "reject_signal")
        if not isinstance(item, Pending):
            return item
        self._remember(signal_id, self.clock.time(), "rejected")
        self.store.audit(
            actor,
            "reject_signal",
            outcome="rejected",
            details={**_details(item.signal), "id": signal_id},
        )
        self.publish()
        return {"ok": True, "id": signal_id}

    def _take(self, signal_id: str, actor: str, action: str) -> Pending | dict[str, Any]:
        """The pending item, removed; or the error (audited) when it cannot be handled. The
        engine thread is the only caller, so two approvals of one signal run one after the
        other: the first takes it, the second finds it handled."""
        now = self.clock.time()
        self.expire(now)
        item = self.pending.pop(signal_id, None)
        if item is not None:
            return item
        handled = self._handled.get(signal_id)
        if handled is None:
            answer = error("UNKNOWN_SIGNAL", f"no signal {signal_id!r} is waiting")
        elif handled[1] == "expired":
            answer = error("SIGNAL_EXPIRED", f"signal {signal_id} expired before it was handled")
        else:
            answer = error("SIGNAL_HANDLED", f"signal {signal_id} was already {handled[1]}")
        self.store.audit(
            actor, f"{action}_refused", outcome=answer["error"]["code"], details={"id": signal_id}
        )
        return answer

    # ----- time -----
    def expire(self, now: float) -> None:
        gone = [item for item in self.pending.values() if now >= item.expires_ts]
        for item in gone:
            del self.pending[item.id]
            self._remember(item.id, now, "expired")
            self.store.audit(
                "system",
                "signal_expired",
                outcome="expired",
                details={**_details(item.signal), "id": item.id},
            )
        if gone:
            self.publish()

    def tick(self, now: float) -> None:
        """Every second: expiries, and the pending items' drift while there are any."""
        self.expire(now)
        if self.pending:
            self.publish()

    # ----- views -----
    def _drift(self, item: Pending) -> float | None:
        now_price = self._price_of(item.signal.symbol)
        if item.price is None or now_price is None or item.price <= 0:
            return None
        return (now_price - item.price) / item.price * 100

    def payload(self) -> dict[str, Any]:
        rows = []
        for item in self.pending.values():
            sig, drift = item.signal, self._drift(item)
            rows.append(
                {
                    "id": item.id,
                    "symbol": sig.symbol,
                    "side": str(sig.side),
                    "qty": sig.qty,
                    "confidence": sig.confidence,
                    "source": sig.source,
                    "price": item.price,
                    "received_ts": ms(item.received_ts),
                    "expires_ts": ms(item.expires_ts),
                    "drift_pct": drift,
                    "drift_warn": drift is not None and abs(drift) > self.settings.drift_warn_pct,
                    "strategy": sig.strategy,
                    "reason": sig.reason,
                }
            )
        return {
            "mode": self.mode,
            "pending": rows,
            "ttl_s": self.settings.ttl_s,
            "drift_warn_pct": self.settings.drift_warn_pct,
        }

    def publish(self) -> None:
        payload = self.payload()
        self.state.set("signals", payload)
        self.bus.publish("signals_update", payload)

    # ----- memory -----
    def _remember(self, signal_id: str, now: float, status: str) -> None:
        self._handled[signal_id] = (now, status)
        self._handled.move_to_end(signal_id)

    def _forget(self, now: float) -> None:
        for memory in (self._handled, self._senders):
            while memory and (
                len(memory) > REMEMBER_MAX or _ts(next(iter(memory.values()))) < now - REMEMBER_S
            ):
                memory.popitem(last=False)


def _ts(value: float | tuple[float, str]) -> float:
    return value[0] if isinstance(value, tuple) else value


def _details(sig: IncomingSignal) -> dict[str, Any]:
    return {
        "symbol": sig.symbol,
        "side": str(sig.side),
        "qty": sig.qty,
        "confidence": sig.confidence,
        "source": sig.source,
        "strategy": sig.strategy,
        "price": sig.price,
        "reason": sig.reason,
        "sender_id": sig.sender_id,
    }
