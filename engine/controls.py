"""OperatorControls: the engine-thread handler of each command and query in engine/commands.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine import command_payloads as cmd
from engine.commands import COMMAND_SPECS, INTAKE_SIGNAL, LINK_STATE, QUERY_SPECS, error
from engine.kill_messages import engage_message, reset_message
from engine.market.chart import chart_payload
from engine.models import OrderRequest
from engine.safety.overrides import NEUTRAL, end_override, set_override
from engine.trading.adopt import adoption_fills
from engine.trading.reconcile import IssueKind
from engine.venues.base import VenueError

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.clock import Clock
    from engine.market.view import MarketView
    from engine.safety.manager import SafetyManager
    from engine.safety_loop import SafetyLoop
    from engine.signals.inbox import IncomingSignal, SignalInbox
    from engine.store import Store
    from engine.strategies.book import StrategyBook
    from engine.strategies.demo import DemoStrategy
    from engine.trading.desk import TradingDesk


class OperatorControls:
    """The command handlers: each runs one registry entry's command on the engine thread."""

    def __init__(
        self,
        *,
        clock: Clock,
        desk: TradingDesk,
        market: MarketView,
        safety: SafetyManager,
        store: Store,
        strategy: DemoStrategy | StrategyBook | None,
        bus: EventBus,
        safety_loop: SafetyLoop,
        inbox: SignalInbox,
    ) -> None:
        self.clock = clock
        self.desk, self.market, self.safety, self.store = desk, market, safety, store
        self.strategy, self.bus = strategy, bus
        # After every command (not a query) it publishes the safety and breaker sections.
        self.safety_loop = safety_loop
        self.inbox = inbox

    def execute(self, name: str, command: Any, actor: str) -> dict[str, Any]:
        """Run the handler the registry names; after a command (not a query) publish safety."""
        found = _HANDLERS.get(name)
        if found is None:
            return error("UNKNOWN_COMMAND", f"unknown command {name!r}")
        handler, is_query = found
        result: dict[str, Any] = handler(self, command, actor)
        if not is_query:
            self.safety_loop.publish(force=True)
        return result

    # Queries run here too: bars and ticks belong to this thread, so reading them elsewhere
    # would race with the writer.
    def query_chart(self, q: dict[str, Any], actor: str) -> dict[str, Any]:
        symbol, timeframe, limit = q["symbol"], q["timeframe"], q["limit"]
        bars = self.market.bars.bars(symbol, timeframe)
        payload = chart_payload(symbol, timeframe, bars, self.market.markers(symbol), limit)
        return {"ok": True, "chart": payload}

    def query_ticks_csv(self, q: dict[str, Any], actor: str) -> dict[str, Any]:
        return {"ok": True, "csv": self.market.ticks.to_csv(q["symbol"])}

    def engage_kill_switch(self, c: cmd.KillSwitchCmd, actor: str) -> dict[str, Any]:
        self.desk.unconfirmed_at_halt = []
        result = self.safety.engage(c.level, c.reason, actor, self.desk)
        if not result.get("durable", True):
            self._publish_unsaved_orders()
        if self.desk.unconfirmed_at_halt:
            # Halted all the same; these may still fill if the venue got them.
            result["unconfirmed"] = list(self.desk.unconfirmed_at_halt)
        if result.get("ok"):
            closing = [o for o in self.desk.orders.open_orders() if o.source == "kill_switch"]
            positions = self.desk.ledger.open_position_count
            result["closing"] = len(closing)
            result["positions"] = positions
            result["message"] = engage_message(
                c.level, result, closing=len(closing), positions=positions
            )
        return result

    def _publish_unsaved_orders(self) -> None:
        # The desk publishes orders after saving them; when the save failed, the broker's
        # cancels must still reach the page.
        self.desk.publish_orders()

    def reset_kill_switch(self, c: cmd.ResetKillSwitchCmd, actor: str) -> dict[str, Any]:
        result = self.safety.reset(actor, c.reason, self.desk)
        if result.get("ok"):
            if self.strategy is None:
                result["strategy"] = "none"
            else:
                result["strategy"] = "running" if self.desk.strategy_attached else "stopped"
            result["message"] = reset_message(result, result["strategy"])
        return result

    def place_order(self, c: cmd.PlaceOrderCmd, actor: str) -> dict[str, Any]:
        req = OrderRequest(
            c.symbol,
            c.side,
            c.qty,
            c.type,
            c.limit_price,
            c.stop_price,
            c.take_profit,
            c.stop_loss,
            source="manual",
            tag=actor,
        )
        return self.desk.submit(req, actor)

    def close_position(self, c: cmd.ClosePositionCmd, actor: str) -> dict[str, Any]:
        return self.desk.close_position(c.symbol, actor, fraction=c.fraction, qty=c.qty)

    def cancel_order(self, c: cmd.OrderIdCmd, actor: str) -> dict[str, Any]:
        return self.desk.cancel_order(c.id, actor)

    def modify_stops(self, c: cmd.ModifyStopsCmd, actor: str) -> dict[str, Any]:
        return self.desk.modify_stops(c.symbol, c.stop_loss, c.take_profit, actor)

    def pause_entries(self, c: cmd.EmptyCmd, actor: str) -> dict[str, Any]:
        self.safety.pause_entries(actor)
        return {"ok": True}

    def resume_entries(self, c: cmd.EmptyCmd, actor: str) -> dict[str, Any]:
        self.safety.resume_entries(actor)
        return {"ok": True}

    def start_strategy(self, c: cmd.EmptyCmd, actor: str) -> dict[str, Any]:
        if self.strategy is None:
            return error(
                "NO_STRATEGY", "no strategy is configured (VIGIL_STRATEGIES, VIGIL_STRATEGY=none)"
            )
        if self.safety.trading_state.value == "HALTED":
            return error("TRADING_HALTED", "reset the kill switch before starting the strategy")
        self.desk.attach_strategy()
        self.store.audit(actor, "bot_start", outcome="running")
        self.bus.publish("system", {"message": f"strategy started by {actor}"})
        return {"ok": True}

    def stop_strategy(self, c: cmd.EmptyCmd, actor: str) -> dict[str, Any]:
        self.desk.detach_strategy(f"stopped by {actor}")
        self.store.audit(actor, "bot_stop", outcome="stopped")
        return {"ok": True}

    def set_signal_mode(self, c: cmd.SignalModeCmd, actor: str) -> dict[str, Any]:
        return self.inbox.set_mode(c.mode, actor)

    def set_strategy(self, c: cmd.StrategyCmd, actor: str) -> dict[str, Any]:
        book = self.strategy
        slots = getattr(book, "slots", None)
        if book is None or slots is None:
            return error("NO_STRATEGY", "no strategies are configured (VIGIL_STRATEGIES)")
        if c.name not in slots:
            known = ", ".join(slots)
            return error("UNKNOWN_STRATEGY", f"no strategy {c.name!r} is running (known: {known})")
        slot = book.configure(c.name, c.enabled, c.size_multiplier)  # type: ignore[union-attr]
        state = {"enabled": slot.enabled, "size_multiplier": slot.size_multiplier}
        self.store.audit(
            actor,
            "set_strategy",
            outcome=f"{c.name}: {'on' if slot.enabled else 'off'} x{slot.size_multiplier:g}",
            details={"name": c.name, **state},
        )
        word = "on" if slot.enabled else "off"
        self.bus.publish(
            "system",
            {"message": f"strategy {c.name} {word}, size x{slot.size_multiplier:g}, by {actor}"},
        )
        return {"ok": True, "name": c.name, **state}

    def approve_signal(self, c: cmd.SignalIdCmd, actor: str) -> dict[str, Any]:
        return self.inbox.approve(c.id, actor)

    def reject_signal(self, c: cmd.SignalIdCmd, actor: str) -> dict[str, Any]:
        return self.inbox.reject(c.id, actor)

    # Not a client command: the web layer's signal webhook, already authenticated.
    def intake_signal(self, signal: IncomingSignal, actor: str) -> dict[str, Any]:
        return self.inbox.receive(signal, actor)

    def link_state(self, issue: str, actor: str) -> dict[str, Any]:
        changed = self.safety.set_link_issue(issue, actor)
        return {"ok": True, "changed": changed, "trading_state": str(self.safety.trading_state)}

    def set_risk_override(self, c: cmd.RiskOverrideCmd, actor: str) -> dict[str, Any]:
        value: float | int = int(c.value) if c.name == "max_positions" else c.value
        now = self.desk.clock_time()
        expires = None if c.expires_in_s is None else now + c.expires_in_s
        old = self.safety.overrides.value(c.name) if c.name in NEUTRAL else None
        if old is None:
            old = getattr(self.safety.limits, c.name)
        override = set_override(
            self.safety,
            self.desk.record,
            name=c.name,
            value=value,
            expires_ts=expires,
            actor=actor,
            reason=c.reason,
            now=now,
        )
        self.bus.publish(
            "system",
            {
                "message": f"risk override by {actor}: {c.name} {old:g} -> {value:g}"
                + (f" for {c.expires_in_s:g} s" if c.expires_in_s is not None else "")
            },
        )
        return {
            "ok": True,
            "name": c.name,
            "old": old,
            "new": value,
            "override": override.payload(),
        }

    def clear_risk_override(self, c: cmd.ClearOverrideCmd, actor: str) -> dict[str, Any]:
        override = self.safety.overrides.pop(c.name)
        if override is None:
            self.desk.record(
                actor,
                "risk_override_clear_refused",
                reason=c.reason,
                outcome="NO_OVERRIDE",
                details={"name": c.name},
            )
            return error("NO_OVERRIDE", f"no {c.name} override is in force")
        end_override(self.safety, self.desk.record, self.bus, override, actor, "cleared")
        return {"ok": True, "name": c.name, "restored": override.previous}

    def acknowledge_reconciliation(self, c: cmd.AckReconciliationCmd, actor: str) -> dict[str, Any]:
        """The admin takes the venue's record as the truth: its positions in the symbols Vigil
        trades are booked (engine/trading/adopt.py), then trading leaves REDUCING."""
        mismatched = [
            i.symbol
            for i in self.safety.reconciliation.active
            if i.kind == IssueKind.POSITION_MISMATCH
        ]
        adopted: list[dict[str, Any]] = []
        skipped: dict[str, str] = {}
        if mismatched:
            try:
                venue = self.desk.broker.positions()
            except VenueError as exc:
                return error("VENUE_UNREADABLE", f"the venue's positions could not be read: {exc}")
            plan = adoption_fills(
                mismatched,
                venue,
                self.desk.ledger.positions(),
                self.market.instruments,
                self.clock.time(),
            )
            self.desk.apply_fills(plan.fills, "reconciliation")
            adopted = [
                {"symbol": f.symbol, "side": str(f.side), "qty": f.qty, "price": f.price}
                for f in plan.fills
            ]
            skipped = plan.skipped
        answer = self.safety.acknowledge_reconciliation(actor, c.reason)
        if answer.get("ok") and (adopted or skipped):
            booked = ", ".join(
                f"{a['side']} {a['qty']:g} {a['symbol']} @ {a['price']:g}" for a in adopted
            )
            named = "; ".join(f"{symbol}: {why}" for symbol, why in skipped.items())
            parts = [f"booked the venue's positions: {booked}" if booked else "", named]
            self.bus.publish(
                "system",
                {
                    "message": "reconciliation: " + "; ".join(p for p in parts if p),
                    "kind": "reconciliation",
                },
            )
            answer = {**answer, "adopted": adopted, "not_adopted": skipped}
        return answer


Handler = Callable[[OperatorControls, Any, str], dict[str, Any]]


def _resolve(method: str) -> Handler:
    # At import: an entry naming a method that does not exist fails here, not on first use.
    handler: Handler = getattr(OperatorControls, method)
    return handler


# name -> (handler, is a query), from the registry.
_HANDLERS: dict[str, tuple[Handler, bool]] = {
    **{s.name: (_resolve(s.handler), False) for s in COMMAND_SPECS if s.handler is not None},
    **{q.name: (_resolve(q.handler), True) for q in QUERY_SPECS},
    # The webhook's intake (dashboard/webhook.py): no socket event, no role, never run late.
    INTAKE_SIGNAL: (_resolve("intake_signal"), False),
    LINK_STATE: (_resolve("link_state"), False),
}
