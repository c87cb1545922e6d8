"""OperatorControls: the engine-thread handler of each command and query in engine/commands.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine import commands as cmd
from engine.commands import COMMAND_SPECS, QUERY_SPECS, error
from engine.kill_messages import engage_message, reset_message
from engine.market.chart import chart_payload
from engine.models import OrderRequest
from engine.safety.overrides import NEUTRAL, end_override, set_override

if TYPE_CHECKING:
    from engine.bus import EventBus
    from engine.market.view import MarketView
    from engine.safety.manager import SafetyManager
    from engine.safety_loop import SafetyLoop
    from engine.store import Store
    from engine.strategies.demo import DemoStrategy
    from engine.trading.desk import TradingDesk


class OperatorControls:
    """The command handlers: each runs one registry entry's command on the engine thread."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        market: MarketView,
        safety: SafetyManager,
        store: Store,
        strategy: DemoStrategy | None,
        bus: EventBus,
        safety_loop: SafetyLoop,
    ) -> None:
        self.desk, self.market, self.safety, self.store = desk, market, safety, store
        self.strategy, self.bus = strategy, bus
        # After every command (not a query) it publishes the safety and breaker sections.
        self.safety_loop = safety_loop

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
            return error("NO_STRATEGY", "no strategy is configured (VIGIL_STRATEGY=none)")
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

    def approve_signal(self, c: cmd.SignalIdCmd, actor: str) -> dict[str, Any]:
        return error(
            "APPROVAL_OFF",
            "signal approval is not enabled: the demo strategy "
            "sends its signals through the safety gateway directly",
        )

    reject_signal = approve_signal

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
        return self.safety.acknowledge_reconciliation(actor, c.reason)


Handler = Callable[[OperatorControls, Any, str], dict[str, Any]]


def _resolve(method: str) -> Handler:
    # At import: an entry naming a method that does not exist fails here, not on first use.
    handler: Handler = getattr(OperatorControls, method)
    return handler


# name -> (handler, is a query), from the registry.
_HANDLERS: dict[str, tuple[Handler, bool]] = {
    **{s.name: (_resolve(s.handler), False) for s in COMMAND_SPECS if s.handler is not None},
    **{q.name: (_resolve(q.handler), True) for q in QUERY_SPECS},
}
