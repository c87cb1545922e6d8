"""Socket.IO end to end in-process: login gate, initial_state, live updates, commands and acks."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.dashboard.conftest import LiveApp, received


def test_connect_without_login_then_refused(live: LiveApp) -> None:
    client = live.socket(None)
    assert not client.is_connected()


def test_connect_after_login_then_initial_state_with_every_section(live: LiveApp) -> None:
    client = live.socket("admin")
    assert client.is_connected()
    states = received(client, "initial_state")
    assert len(states) == 1
    snap = states[0]
    for key in (
        "version",
        "user",
        "account",
        "positions",
        "orders",
        "trades",
        "performance",
        "equity_curve",
        "regime",
        "health",
        "safety",
        "breakers",
        "market",
        "activity",
        "alerts",
    ):
        assert key in snap, key
    assert snap["user"] == {"username": "admin", "role": "admin"}
    assert snap["safety"]["trading_state"] == "ACTIVE"
    assert "SPY" in snap["market"]["quotes"]
    assert isinstance(snap["ts"], int)


def test_market_moves_then_conflated_updates_arrive_with_ts(live: LiveApp) -> None:
    client = live.socket("admin")
    client.get_received()
    live.push_market(2.0)
    latest = live.runtime.state.get("market")["quotes"]["SPY"]
    messages: list = []

    def newest_spy_quote_arrived() -> bool:
        messages.extend(client.get_received())
        spy = [m for m in messages if m["name"] == "quote_update"]
        spy = [m["args"][0] for m in spy if m["args"][0]["symbol"] == "SPY"]
        return any({k: v for k, v in q.items() if k != "ts"} == latest for q in spy)

    # Conflation may drop intermediate quotes, never the server's latest (how many go out,
    # and in which order, is test_bridge's business, on a clock it controls).
    wait_until(newest_spy_quote_arrived, 10, "the latest SPY quote")
    names = {m["name"] for m in messages}
    assert {"quote_update", "orderbook_update", "price_update"} <= names
    assert all("ts" in m["args"][0] for m in messages)
    quotes_spy = [
        m for m in messages if m["name"] == "quote_update" and m["args"][0]["symbol"] == "SPY"
    ]
    assert 1 <= len(quotes_spy) <= 10  # 10 steps of SPY quotes, at most one message each


def test_kill_switch_from_one_client_then_other_client_told_at_once(live: LiveApp) -> None:
    trader, watcher = live.socket("tina"), live.socket("vic")
    watcher.get_received()
    ack = trader.emit("kill_switch", {"level": "halt", "reason": "manual test"}, callback=True)
    assert ack["ok"] and ack["changed"]
    got = wait_until(lambda: received(watcher, "kill_switch_activated"), 5, "the broadcast")
    assert got[0]["level"] == "halt" and got[0]["actor"] == "tina"


def test_invalid_payloads_then_structured_errors_and_nothing_changes(live: LiveApp) -> None:
    client = live.socket("admin")
    version_before = live.runtime.state.get("safety")
    bad = [
        ("kill_switch", {"level": "nuke", "reason": "x y z"}),
        ("kill_switch", {"level": "halt"}),
        ("kill_switch", "halt"),
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": -1}),
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": float("inf")}),
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": 1, "evil": True}),
        ("reset_kill_switch", {"reason": "because", "confirm": "reset", "password": "x"}),
    ]
    for name, payload in bad:
        ack = client.emit(name, payload, callback=True)
        assert ack["ok"] is False, (name, payload)
        assert set(ack["error"]) == {"code", "message"}
    assert live.runtime.state.get("safety") == version_before
    assert live.runtime.parts.broker.open_orders() == []


def test_reset_with_wrong_password_then_refused_and_audited(live: LiveApp) -> None:
    client = live.socket("admin")
    client.emit("kill_switch", {"level": "halt", "reason": "test"}, callback=True)
    ack = client.emit(
        "reset_kill_switch",
        {"reason": "try", "confirm": "RESET", "password": "wrong-password"},
        callback=True,
    )
    assert ack["error"]["code"] == "WRONG_PASSWORD"
    assert live.runtime.state.get("safety")["trading_state"] == "HALTED"
    actions = [e["action"] for e in live.runtime.parts.store.audit_log()]
    assert "reset_kill_switch_denied" in actions


def test_reset_by_admin_with_password_then_active_and_broadcast(live: LiveApp) -> None:
    admin = live.socket("admin")
    admin.emit("kill_switch", {"level": "halt", "reason": "test"}, callback=True)
    ack = admin.emit(
        "reset_kill_switch",
        {"reason": "resolved", "confirm": "RESET", "password": "correct-horse-battery"},
        callback=True,
    )
    assert ack["ok"] and ack["trading_state"] == "ACTIVE"
    # The halt detached the strategy and the reset does not start it: the answer says so.
    assert ack["strategy"] == "stopped" and "bot stays stopped" in ack["message"]
    resets = wait_until(lambda: received(admin, "kill_switch_reset"), 5, "kill_switch_reset")
    assert resets[0]["actor"] == "admin"


def test_roles_then_viewer_cannot_trade_and_trader_cannot_reset(live: LiveApp) -> None:
    viewer, trader = live.socket("vic"), live.socket("tina")
    for name, payload in [
        ("kill_switch", {"level": "halt", "reason": "viewer try"}),
        ("place_order", {"symbol": "SPY", "side": "buy", "qty": 0.1}),
    ]:
        assert viewer.emit(name, payload, callback=True)["error"]["code"] == "FORBIDDEN"
    assert trader.emit("kill_switch", {"level": "pause", "reason": "trader ok"}, callback=True)[
        "ok"
    ]
    ack = trader.emit(
        "reset_kill_switch",
        {"reason": "trader try", "confirm": "RESET", "password": "trader-pass-1"},
        callback=True,
    )
    assert ack["error"]["code"] == "FORBIDDEN"
    assert live.runtime.state.get("safety")["kill_switch"]["engaged"]


def test_manual_order_through_socket_then_acknowledged_with_order(live: LiveApp) -> None:
    trader = live.socket("tina")
    ack = trader.emit("place_order", {"symbol": "QQQ", "side": "buy", "qty": 0.5}, callback=True)
    # Sent: the venue confirms and fills it later, through the engine's queue.
    assert ack["ok"] and ack["order"]["status"] == "new"
    live.wait_idle()
    assert [p["symbol"] for p in live.runtime.state.get("positions")] == ["QQQ"]
    assert live.runtime.parts.desk.orders.get(ack["order"]["id"]).status.value == "filled"


def test_bad_operator_control_payloads_then_refused_audited_and_nothing_changes(
    live: LiveApp,
) -> None:
    client = live.socket("admin")
    before = live.runtime.state.get("safety")
    bad = [
        ("close_position", {"symbol": "SPY", "fraction": 0}),
        ("close_position", {"symbol": "SPY", "qty": float("nan")}),
        ("cancel_order", {"id": ""}),
        ("modify_stops", {"symbol": "SPY", "stop_loss": -1}),
        ("set_risk_override", {"name": "size_multiplier", "value": 5, "expires_in_s": 60}),
    ]
    for name, payload in bad:
        ack = client.emit(name, payload, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "INVALID_PAYLOAD", (name, ack)
    assert live.runtime.state.get("safety") == before
    assert live.runtime.parts.broker.open_orders() == []
    actions = {e["action"] for e in live.runtime.parts.store.audit_log()}
    assert {f"{name}_invalid" for name, _ in bad} <= actions
