"""HTTP endpoints: pages, snapshot, health, metrics, audit, charts, CSV exports, kill switch."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from dashboard.auth import current_user, error_response, login_required
from dashboard.engine_link import EngineLink
from dashboard.services import services
from dashboard.sockets import run_command, snapshot_for
from engine.commands import COMMAND_SPECS, SPECS, error
from engine.market.bars import TIMEFRAMES
from engine.numbers import price_round, step_round
from engine.users import ROLES

bp = Blueprint("routes", __name__)
# /api/control/<name> lets in the least role any mirrored command needs; run_command then
# checks the command's own role (and audits a refusal the same way as the socket's).
CONTROL_ROLE = min((s.role for s in COMMAND_SPECS if s.http), key=ROLES.index)


def _engine() -> EngineLink:
    return services().engine_link()


@bp.get("/")
def index() -> Any:
    if current_user() is None:
        # An alert's link (/?kill=1) still opens the kill-switch dialog after signing in.
        return redirect("/login?kill=1" if request.args.get("kill") == "1" else "/login")
    return render_template("index.html", page_config=page_config())


def page_config() -> dict[str, Any]:
    """What the page formats with: one time zone for every table, filter and CSV (the
    session's, as the daily P&L), and each instrument's tick and lot size."""
    return {"tz": services().settings.engine.session.tz, "instruments": _engine().instruments()}


@bp.get("/login")
def login_page() -> Any:
    return render_template("login.html")


@bp.get("/healthz")
def healthz() -> Any:
    """Alive. No auth: the watchdog and load balancers call it. It tells nothing about money."""
    running, body = _engine().health()
    return jsonify(body), 200 if running else 503


@bp.get("/readyz")
def readyz() -> Any:
    """Ready: the engine runs and its snapshot (account, safety, breakers, health) is complete.

    Market history may still be loading; that never delays a command, so it is reported
    (`history_loaded`) but does not hold readiness back.
    """
    ready, body = _engine().readiness()
    return jsonify(body), 200 if ready else 503


@bp.get("/api/state")
@login_required()
def state() -> Any:
    snap = snapshot_for(current_user())
    if snap is None:
        return error_response("NOT_READY", "the engine has not restored its state yet", 503)
    return jsonify(snap)


@bp.get("/api/audit")
@login_required(account=True)
def audit() -> Any:
    limit = _int_arg("limit", 200, 1, 1000)
    if limit is None:
        return error_response("INVALID_PAYLOAD", "limit must be an integer 1-1000", 400)
    entries = services().engine_store().audit_log(limit=limit)
    return jsonify({"ok": True, "entries": entries})


@bp.get("/api/chart")
@login_required()
def chart() -> Any:
    symbol, timeframe = request.args.get("symbol", ""), request.args.get("timeframe", "1m")
    limit = _int_arg("limit", 500, 1, 1500)
    if symbol not in _engine().symbols():
        return error_response("UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}", 400)
    if timeframe not in TIMEFRAMES or limit is None:
        return error_response(
            "INVALID_PAYLOAD", f"timeframe one of {', '.join(TIMEFRAMES)}; limit 1-1500", 400
        )
    result = _engine().call(
        "query_chart", {"symbol": symbol, "timeframe": timeframe, "limit": limit}, "query"
    )
    if not result.get("ok"):
        return jsonify(result), 503
    return jsonify(result["chart"])


@bp.get("/api/ticks.csv")
@login_required()
def ticks_csv() -> Any:
    symbol = request.args.get("symbol", "")
    if symbol not in _engine().symbols():
        return error_response("UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}", 400)
    result = _engine().call("query_ticks_csv", {"symbol": symbol}, "query")
    if not result.get("ok"):
        return jsonify(result), 503
    name = symbol.replace("/", "-")
    return _csv_response(result["csv"], f"ticks-{name}.csv")


@bp.get("/api/trades.csv")
@login_required()
def trades_csv() -> Any:
    trades = services().engine_store().load_trades()
    symbol, side = request.args.get("symbol") or None, request.args.get("side") or None
    result = request.args.get("result") or None
    # The page's zone (page_config): a day picked on the page is the same day here.
    zone = ZoneInfo(services().settings.engine.session.tz)
    start, end = _date_arg("from", zone), _date_arg("to", zone, next_day=True)
    instruments = _engine().instruments()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "symbol",
            "direction",
            "qty",
            "entry_price",
            "exit_price",
            "pnl",
            "fees",
            "entry_time",
            "exit_time",
            "exit_reason",
        ]
    )
    for t in trades:
        if (symbol and t.symbol != symbol) or (side and t.direction != side):
            continue
        if (result == "win" and t.pnl <= 0) or (result == "loss" and t.pnl >= 0):
            continue
        if (start and t.exit_ts < start) or (end and t.exit_ts >= end):
            continue
        inst = instruments.get(t.symbol)
        tick, lot = (inst["tick"], inst["lot"]) if inst else (None, None)
        writer.writerow(
            [
                t.id,
                t.symbol,
                t.direction,
                step_round(t.qty, lot),
                price_round(t.entry_price, tick),
                price_round(t.exit_price, tick),
                round(t.pnl, 2),
                round(t.fees, 2),
                _iso(t.entry_ts, zone),
                _iso(t.exit_ts, zone),
                t.exit_reason,
            ]
        )
    return _csv_response(out.getvalue(), "trades.csv")


@bp.post("/api/control/<name>")
@login_required(CONTROL_ROLE)
def control(name: str) -> Any:
    """The socket commands over HTTP for scripts; same validation, roles and answers."""
    spec = SPECS.get(name)
    if spec is None or not spec.http:
        return jsonify(error("UNKNOWN_COMMAND", "unknown command")), 404
    return _command_response(name)


def _alias_view(name: str) -> Any:
    def view() -> Any:
        return _command_response(name)

    view.__name__ = f"command_{name}"
    return view


# A command's dedicated endpoint (the kill switch's), guarded by its own role.
for _spec in COMMAND_SPECS:
    if _spec.http_alias is not None:
        bp.add_url_rule(
            _spec.http_alias,
            view_func=login_required(_spec.role, action=_spec.name)(_alias_view(_spec.name)),
            methods=["POST"],
        )


def _command_response(name: str) -> Any:
    result = run_command(name, request.get_json(silent=True))
    if result.get("ok"):
        return jsonify(result)
    status = {
        "UNAUTHENTICATED": 401,
        "FORBIDDEN": 403,
        "LOCKED_OUT": 429,
        "UNKNOWN_COMMAND": 404,
        "TIMEOUT": 504,
        "ENGINE_STOPPED": 503,
        "ENGINE_UNAVAILABLE": 503,
        "REDIS_UNAVAILABLE": 503,
    }.get(result["error"]["code"], 400)
    return jsonify(result), status


def _csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _int_arg(name: str, default: int, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _date_arg(name: str, zone: ZoneInfo, *, next_day: bool = False) -> float | None:
    """Epoch s of the midnight that starts (or, `next_day`, ends) a YYYY-MM-DD day in `zone`."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=zone).timestamp()


def _iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")
