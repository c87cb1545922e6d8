"""GET /metrics: the engine's vital numbers in Prometheus' text format."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from dashboard.auth import login_required
from dashboard.services import services

bp = Blueprint("metrics", __name__)
STATE_CODES = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def _line(name: str, help_text: str, value: float, kind: str = "gauge") -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value}\n"


@bp.get("/metrics")
@login_required()
def metrics() -> Any:
    engine = services().engine_link()
    bridge = services().bridge
    snap, health = engine.snapshot(), engine.health_payload()
    if snap is None or health is None:
        return Response("engine not reachable\n", status=503, mimetype="text/plain")
    account, safety = snap["account"], snap["safety"]
    now_ms = engine.clock.time() * 1000
    parts = [
        _line("vigil_equity", "Account equity", account.get("equity", 0.0)),
        _line("vigil_daily_pnl", "Session P&L", account.get("daily_pnl", 0.0)),
        _line("vigil_open_positions", "Open positions", len(snap["positions"])),
        _line("vigil_open_orders", "Open orders", len(snap["orders"])),
        _line(
            "vigil_trading_state",
            "0 ACTIVE, 1 REDUCING, 2 HALTED",
            STATE_CODES.get(safety.get("trading_state", "HALTED"), 2),
        ),
        _line(
            "vigil_kill_switch_engaged",
            "1 when the kill switch is engaged",
            int(bool(safety.get("kill_switch", {}).get("engaged"))),
        ),
        _line(
            "vigil_breakers_tripped",
            "Breakers tripped",
            sum(1 for b in snap["breakers"] if b.get("triggered")),
        ),
        _line("vigil_engine_errors_total", "Engine errors", health["errors"], "counter"),
        _line("vigil_engine_queue_depth", "Events waiting for the engine", health["queue_depth"]),
        _line(
            "vigil_engine_heartbeat_age_seconds",
            "Seconds since the engine loop ran",
            max(now_ms - health["heartbeat_ts"], 0) / 1000,
        ),
        _line(
            "vigil_market_events_dropped_total",
            "Market events dropped under backlog",
            health["dropped_market_events"],
            "counter",
        ),
        _line("vigil_socket_emits_total", "Socket.IO messages emitted", bridge.emitted, "counter"),
        _line(
            "vigil_socket_dropped_total", "Socket.IO messages dropped", bridge.dropped, "counter"
        ),
    ]
    parts.append(_webhook_lines())
    return Response("".join(parts), mimetype="text/plain; version=0.0.4")


def _webhook_lines() -> str:
    """Signal webhook requests by outcome: accepted, bad_signature, replay, malformed..."""
    counts = current_app.extensions["vigil_webhook"].counts
    name = "vigil_webhook_requests_total"
    lines = [f"# HELP {name} Signal webhook requests by outcome\n# TYPE {name} counter\n"]
    lines += [f'{name}{{outcome="{k}"}} {v}\n' for k, v in sorted(dict(counts).items())]
    return "".join(lines)
