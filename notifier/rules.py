"""Which engine events become alerts, at which priority and sound: the configurable mapping."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.topics import ALERTING_TOPICS
from notifier.alerts import EMERGENCY, HIGH, LOW, LOWEST, NORMAL, PRIORITY_NAMES, Alert

Payload = Mapping[str, Any]

DAILY_LOSS_CODE = "DAILY_LOSS_BUDGET"
DAILY_LOSS_BREAKER = "daily_loss"
# risk_limit codes of the engine failing closed: an untrusted latch, or a halt not yet on disk.
FAIL_CLOSED_CODES = frozenset({"FAIL_CLOSED", "NOT_DURABLE"})


@dataclass(frozen=True)
class Rule:
    priority: int
    sound: str | None = None
    enabled: bool = True
    dedupe_s: float | None = None  # None: the dispatcher's window


# Keyed by alert kind. Kinds are the engine topics where one topic means one thing; where a topic
# carries several meanings (breaker_update, risk_limit, system_health_update) the kind names the
# meaning that alerts.
DEFAULT_RULES: dict[str, Rule] = {
    "kill_switch_activated": Rule(EMERGENCY, "siren"),
    "breaker_trip": Rule(HIGH, "siren"),
    # One alert per hour at most: every order denied for the spent budget says the same thing.
    "daily_loss": Rule(HIGH, "persistent", dedupe_s=3600),
    "error": Rule(HIGH, "alien"),
    "degraded": Rule(HIGH, "alien"),
    "trade_executed": Rule(NORMAL, "cashregister"),
    "trade_exit": Rule(NORMAL),
    "kill_switch_reset": Rule(HIGH),
    "fail_closed": Rule(EMERGENCY, "siren"),
    "daily_summary": Rule(LOW),
    # A signal waiting for approval: {"signal_pending": {"priority": "high"}} in
    # VIGIL_ALERT_RULES makes it page the phone; {"enabled": false} silences it.
    "signal_pending": Rule(NORMAL),
    "test_notification": Rule(NORMAL),
}

# The topics to listen to; which alert kinds each may raise is declared with the topic, and
# AlertMapper has an `_on_<topic>` handler for each (tests/notifier/test_topics_rules.py).
TOPICS = ALERTING_TOPICS


def build_rules(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Rule]:
    """DEFAULT_RULES with per-kind changes, e.g. {"trade_executed": {"enabled": False}}."""
    rules = dict(DEFAULT_RULES)
    for kind, change in (overrides or {}).items():
        if kind not in rules:
            raise ValueError(f"unknown alert kind {kind!r} (known: {', '.join(sorted(rules))})")
        if not isinstance(change, Mapping):
            raise ValueError(f'{kind}: expected an object like {{"priority": "high"}}')
        unknown = set(change) - {"priority", "sound", "enabled", "dedupe_s"}
        if unknown:
            raise ValueError(f"{kind}: unknown field(s) {', '.join(sorted(unknown))}")
        rule = rules[kind]
        if "priority" in change:
            rule = replace(rule, priority=parse_priority(change["priority"]))
        if "sound" in change:
            rule = replace(rule, sound=str(change["sound"]) if change["sound"] else None)
        if "enabled" in change:
            rule = replace(rule, enabled=bool(change["enabled"]))
        if "dedupe_s" in change:
            value = change["dedupe_s"]
            rule = replace(rule, dedupe_s=None if value is None else float(value))
        rules[kind] = rule
    return rules


def rules_from_json(text: str | None) -> dict[str, Rule]:
    if not text or not text.strip():
        return dict(DEFAULT_RULES)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object keyed by alert kind")
    return build_rules(data)


def parse_priority(value: object) -> int:
    if isinstance(value, str) and value.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.strip().lower()]
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"priority must be -2..2 or a name, got {value!r}") from None
    if not LOWEST <= number <= EMERGENCY:
        raise ValueError(f"priority must be -2..2, got {number}")
    return number


class AlertMapper:
    """Turns bus events into alerts. Stateful where an alert is about a change, not a level:
    breakers that newly tripped, health that newly became DEGRADED."""

    def __init__(
        self,
        rules: Mapping[str, Rule] | None = None,
        *,
        min_priority: int = LOWEST,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.rules = dict(rules or DEFAULT_RULES)
        self.min_priority = min_priority
        self._now_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._tripped: set[str] = set()
        self._health: str | None = None
        self._pending: set[str] = set()

    def map(self, topic: str, payload: Payload) -> list[Alert]:
        if topic not in TOPICS:
            return []
        handler = getattr(self, f"_on_{topic}")
        ts = _int(payload.get("ts")) or self._now_ms()
        drafts: list[tuple[str, str, str, str]] = handler(payload, ts)
        alerts = []
        for kind, key, title, message in drafts:
            alert = self.make(kind, key, title, message, ts)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def make(self, kind: str, key: str, title: str, message: str, ts: int) -> Alert | None:
        rule = self.rules.get(kind)
        if rule is None or not rule.enabled or rule.priority < self.min_priority:
            return None
        return Alert(
            key=key,
            title=title,
            message=message,
            priority=rule.priority,
            sound=rule.sound,
            created_ts=ts,
            dedupe_s=rule.dedupe_s,
            kind=kind,
        )

    def _on_kill_switch_activated(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        level = str(p.get("level") or "halt")
        message = (
            f"Level {level} by {p.get('actor') or 'unknown'}: {p.get('reason') or 'no reason'}. "
            f"Trading state {p.get('trading_state') or 'HALTED'}; "
            f"{p.get('cancelled', 0)} open order(s) cancelled."
        )
        key = f"kill_switch_activated:{level}:{p.get('since') or ts}"
        return [("kill_switch_activated", key, f"KILL SWITCH ENGAGED ({level.upper()})", message)]

    def _on_kill_switch_reset(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        message = (
            f"Reset by {p.get('actor') or 'unknown'}: {p.get('reason') or 'no reason'}. "
            f"Trading state {p.get('trading_state') or '?'}."
        )
        return [("kill_switch_reset", f"kill_switch_reset:{ts}", "Kill switch reset", message)]

    def _on_breaker_update(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        breakers = [b for b in p.get("breakers") or [] if isinstance(b, Mapping)]
        now = {str(b.get("name")) for b in breakers if b.get("triggered")}
        newly = [
            b for b in breakers if b.get("triggered") and str(b.get("name")) not in self._tripped
        ]
        self._tripped = now
        drafts = []
        for b in newly:
            name, unit = str(b.get("name")), str(b.get("unit") or "")
            message = (
                f"{b.get('description') or name}: {_num(b.get('value'))}{unit} "
                f"against threshold {_num(b.get('threshold'))}{unit}; "
                f"action {b.get('action') or '?'}."
            )
            if name == DAILY_LOSS_BREAKER:
                drafts.append(("daily_loss", "daily_loss", "Daily loss limit reached", message))
            else:
                title = f"Circuit breaker tripped: {name}"
                drafts.append(("breaker_trip", f"breaker:{name}", title, message))
        return drafts

    def _on_risk_limit(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        code = str(p.get("code") or "")
        if code in FAIL_CLOSED_CODES:
            message = str(p.get("message") or "the engine failed closed")
            title = (
                "Vigil: kill switch state NOT saved"
                if code == "NOT_DURABLE"
                else "Vigil HALTED: failed closed"
            )
            return [("fail_closed", f"fail_closed:{code}:{message[:120]}", title, message)]
        if p.get("code") != DAILY_LOSS_CODE and not p.get("daily_loss_reached"):
            return []
        message = str(p.get("message") or "The daily loss budget is spent; new entries are denied.")
        return [("daily_loss", "daily_loss", "Daily loss limit reached", message)]

    def _on_error(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        where, text = str(p.get("where") or "engine"), str(p.get("message") or "unknown error")
        return [("error", f"error:{where}:{text[:120]}", f"System error in {where}", text)]

    def _on_system_health_update(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        status, previous = str(p.get("status") or ""), self._health
        self._health = status
        if status != "DEGRADED" or previous == "DEGRADED":
            return []
        message = (
            f"Engine health DEGRADED: {p.get('errors', 0)} error(s), "
            f"last: {p.get('last_error') or 'none'}; feed {p.get('feed') or '?'}, "
            f"broker {p.get('broker') or '?'}."
        )
        return [("degraded", "degraded", "Vigil engine DEGRADED", message)]

    def _on_trade_executed(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        side, symbol = str(p.get("side") or "").upper(), p.get("symbol") or "?"
        qty, price = _num(p.get("qty")), _num(p.get("price"))
        title = f"Filled: {side} {qty} {symbol} @ {price}"
        message = (
            f"{side} {qty} {symbol} at {price}, fee {_num(p.get('fee'))}; "
            f"source {p.get('source') or '?'}, order {p.get('order_id') or '?'}."
        )
        key = f"trade_executed:{p.get('order_id')}:{qty}:{price}:{ts}"
        return [("trade_executed", key, title, message)]

    def _on_trade_history_update(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        trade = p.get("new")
        if not isinstance(trade, Mapping):
            return []
        pnl = _float(trade.get("pnl"))
        symbol, direction = trade.get("symbol") or "?", trade.get("direction") or "?"
        title = f"Trade closed: {symbol} {direction} P&L {pnl:+.2f}"
        message = (
            f"{direction} {_num(trade.get('qty'))} {symbol}: entry {_num(trade.get('entry_price'))}"
            f", exit {_num(trade.get('exit_price'))}, P&L {pnl:+.2f} "
            f"(fees {_float(trade.get('fees')):.2f})."
        )
        key = f"trade_exit:{trade.get('id') or trade.get('exit_ts') or ts}"
        return [("trade_exit", key, title, message)]

    def _on_daily_summary(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        rate = p.get("win_rate")
        tripped = [str(b) for b in p.get("breakers_tripped") or []]
        lines = [
            f"P&L {_float(p.get('pnl')):+.2f}",
            f"trades {_num(p.get('trades'))} ({_num(p.get('wins'))} won, "
            f"{_num(p.get('losses'))} lost)",
            "win rate " + ("n/a" if rate is None else f"{_float(rate) * 100:.0f}%"),
            f"largest loss {_float(p.get('largest_loss')):.2f}",
            "breakers tripped: " + (", ".join(tripped) if tripped else "none"),
        ]
        key = f"daily_summary:{p.get('session_start') or ts}"
        return [("daily_summary", key, "Vigil daily summary", "\n".join(lines))]

    def _on_signals_update(self, p: Payload, ts: int) -> list[tuple[str, str, str, str]]:
        pending = [s for s in p.get("pending") or [] if isinstance(s, Mapping)]
        ids = {str(s.get("id")) for s in pending}
        new = [s for s in pending if str(s.get("id")) not in self._pending]
        self._pending = ids
        drafts = []
        for s in new:
            side, symbol = str(s.get("side") or "").upper(), s.get("symbol") or "?"
            title = f"Signal waiting: {side} {_num(s.get('qty'))} {symbol}"
            message = (
                f"{side} {_num(s.get('qty'))} {symbol} from {s.get('source') or '?'}"
                f" (confidence {_float(s.get('confidence')):.2f}); approve or reject it on the "
                f"page before it expires. {s.get('reason') or ''}".rstrip()
            )
            drafts.append(("signal_pending", f"signal_pending:{s.get('id')}", title, message))
        return drafts


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _num(value: object) -> str:
    """Numbers as people read them: no float noise, no trailing zeros."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?" if value is None else str(value)
    return f"{value:.8g}" if isinstance(value, float) else str(value)
