"""Property-based fuzzing of every inbound socket event and HTTP control endpoint.

Random and hostile payloads (NaN, infinities, negatives, huge numbers, wrong types, unknown
fields and symbols, injection strings, deep nesting) must each get a structured error, leave
the engine's state exactly as it was, and leave the server answering.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.commands import COMMANDS, parse_command
from engine.market.bars import TIMEFRAMES
from tests.conftest import ADMIN_PASSWORD, make_settings
from tests.dashboard.conftest import LiveApp

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)

VALID: dict[str, dict[str, Any]] = {
    "kill_switch": {"level": "halt", "reason": "fuzzing"},
    "reset_kill_switch": {"reason": "fuzzing", "confirm": "RESET", "password": ADMIN_PASSWORD},
    "test_notification": {"message": "fuzz"},
    "place_order": {"symbol": "SPY", "side": "buy", "qty": 1, "type": "limit", "limit_price": 1.0},
    "close_position": {"symbol": "SPY", "fraction": 0.5},
    "cancel_order": {"id": "P-1"},
    "modify_stops": {"symbol": "SPY", "stop_loss": 1.0, "take_profit": 2.0},
    "pause_entries": {},
    "resume_entries": {},
    "bot_start": {},
    "bot_stop": {},
    "set_signal_mode": {"mode": "approve"},
    "set_strategy": {"name": "demo", "enabled": False},
    "approve_signal": {"id": "sig-1"},
    "reject_signal": {"id": "sig-1"},
    "set_risk_override": {
        "name": "size_multiplier",
        "value": 1.5,
        "reason": "fuzzing",
        "expires_in_s": 60,
    },
    "clear_risk_override": {"name": "size_multiplier", "reason": "fuzzing"},
    "acknowledge_reconciliation": {"reason": "fuzzing"},
    "subscribe_bars": {"symbol": "SPY", "timeframe": "1m"},
    "request_state": {},
}
assert set(VALID) >= set(COMMANDS)  # a new command must be fuzzed too

HOSTILE: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -1,
    0,
    -0.0,
    1e308,
    -1e308,
    10**40,
    "",
    "   ",
    "NaN",
    "1e999",
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "../../etc/passwd",
    "\x00",
    "\u202e",
    "A" * 5000,
    "SPY\x00",
    "spy",
    "NOT-A-SYMBOL",
    "RESET",
    "halt",
    True,
    False,
    None,
    [],
    {},
    {"$gt": ""},
    [[[[[[[[[[[]]]]]]]]]]],
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def hostile_payloads(name: str) -> st.SearchStrategy[Any]:
    """Near-valid payloads with one thing wrong, plus wholly random ones."""
    base = VALID[name]
    keys = sorted(base) or ["symbol"]
    replaced = st.builds(lambda k, v: {**base, k: v}, st.sampled_from(keys), values)
    extra = st.builds(
        lambda k, v: {**base, k: v},
        st.text(min_size=1, max_size=12).filter(lambda k: k not in base),
        values,
    )
    dropped = st.sampled_from(keys).map(lambda k: {x: y for x, y in base.items() if x != k})
    return st.one_of(replaced, extra, dropped, values)


def known_symbols(live: LiveApp) -> list[str]:
    return list(live.runtime.state.get("market")["symbols"])


def accepted(live: LiveApp, name: str, payload: Any) -> bool:
    """Would the server act on this payload? Those are not hostile; the fuzzer skips them."""
    if name == "request_state":
        return payload in (None, {})
    if name == "subscribe_bars":
        return (
            isinstance(payload, dict)
            and set(payload) == {"symbol", "timeframe"}
            and isinstance(payload["timeframe"], str)
            and payload["timeframe"] in TIMEFRAMES
            and payload["symbol"] in known_symbols(live)
        )
    command = parse_command(name, payload)
    if isinstance(command, dict):
        return False
    symbol = getattr(command, "symbol", None)
    return symbol is None or symbol in known_symbols(live)


def fingerprint(live: LiveApp) -> Any:
    """Everything an operator command could change, and nothing the clock changes."""
    rt = live.runtime
    guard = rt.parts.safety
    counts = rt.parts.store.counts()
    return (
        guard.kill,
        guard.manual_pause,
        guard.limits,
        guard.reconcile_issue,
        guard.flatten_pending,
        json.dumps(rt.state.get("positions"), sort_keys=True, default=str),
        sorted(order.id for order in rt.parts.broker.open_orders()),
        (counts["orders"], counts["fills"], counts["trades"]),
        rt.state.get("account")["balance"],
    )


def structured_error(answer: Any) -> bool:
    return (
        isinstance(answer, dict)
        and set(answer) == {"ok", "error"}
        and answer["ok"] is False
        and set(answer["error"]) == {"code", "message"}
        and all(isinstance(v, str) and v for v in answer["error"].values())
    )


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    app = LiveApp(make_settings(tmp_path_factory.mktemp("fuzz") / "var"))
    app.push_market(1.0)
    yield app
    app.close()


@pytest.fixture(scope="module")
def admin_socket(fuzz_app: LiveApp) -> Any:
    return fuzz_app.socket("admin")


@pytest.mark.parametrize("name", sorted(VALID))
def test_socket_event_with_hostile_payload_then_structured_error_and_state_unchanged(
    fuzz_app: LiveApp, admin_socket: Any, name: str
) -> None:
    before = fingerprint(fuzz_app)
    tried: list[Any] = []

    @FUZZ
    @given(payload=hostile_payloads(name))
    def check(payload: Any) -> None:
        assume(not accepted(fuzz_app, name, payload))
        tried.append(payload)
        answer = admin_socket.emit(name, payload, callback=True)
        assert structured_error(answer), (payload, answer)
        assert fingerprint(fuzz_app) == before, payload

    check()
    assert len(tried) >= 30  # the filter left the fuzzer plenty to throw
    assert admin_socket.is_connected()
    assert admin_socket.emit("request_state", {}, callback=True)["ok"] is True


@pytest.mark.parametrize("name", ["kill_switch", "pause_entries", "request_state", "nonexistent"])
def test_socket_event_with_extra_arguments_then_refused_whole(
    fuzz_app: LiveApp, admin_socket: Any, name: str
) -> None:
    """A valid payload followed by more arguments is refused, not half-read."""
    before = fingerprint(fuzz_app)
    expected = "UNKNOWN_EVENT" if name == "nonexistent" else "INVALID_PAYLOAD"

    @settings(FUZZ, max_examples=25)
    @given(extra=st.lists(values, min_size=1, max_size=2))
    def check(extra: list[Any]) -> None:
        answer = admin_socket.emit(name, VALID.get(name, {}), *extra, callback=True)
        assert structured_error(answer) and answer["error"]["code"] == expected, (extra, answer)

    check()
    assert fingerprint(fuzz_app) == before


def test_unknown_event_names_then_structured_error(fuzz_app: LiveApp, admin_socket: Any) -> None:
    @FUZZ
    @given(name=st.text(min_size=1, max_size=30), payload=values)
    def check(name: str, payload: Any) -> None:
        assume(name not in VALID and name not in ("connect", "disconnect", "message", "json"))
        answer = admin_socket.emit(name, payload, callback=True)
        assert structured_error(answer) and answer["error"]["code"] == "UNKNOWN_EVENT"

    check()


HTTP_ENDPOINTS = [
    ("/api/kill-switch", "kill_switch"),
    ("/api/kill-switch/reset", "reset_kill_switch"),
    *[(f"/api/control/{name}", name) for name in sorted(COMMANDS)],
]


@pytest.mark.parametrize(("path", "name"), HTTP_ENDPOINTS)
def test_http_control_with_hostile_body_then_structured_error_and_state_unchanged(
    fuzz_app: LiveApp, path: str, name: str
) -> None:
    client = fuzz_app.http("admin")
    before = fingerprint(fuzz_app)
    tried: list[Any] = []

    @settings(FUZZ, max_examples=20)
    @given(payload=hostile_payloads(name))
    def check(payload: Any) -> None:
        assume(not accepted(fuzz_app, name, payload))
        tried.append(payload)
        answer = client.post(path, data=json.dumps(payload), content_type="application/json")
        assert 400 <= answer.status_code < 500, (payload, answer.status_code)
        assert structured_error(answer.get_json()), (payload, answer.get_data(as_text=True))
        assert fingerprint(fuzz_app) == before, payload

    check()
    assert len(tried) >= 12


def test_login_with_hostile_body_then_structured_error(fuzz_app: LiveApp) -> None:
    client = fuzz_app.app.test_client()
    base = {"username": "admin", "password": "x"}

    @FUZZ
    @given(
        payload=st.one_of(
            values, st.builds(lambda k, v: {**base, k: v}, st.text(max_size=9), values)
        )
    )
    def check(payload: Any) -> None:
        answer = client.post(
            "/api/login",
            data=json.dumps(payload),
            content_type="application/json",
            environ_base={"REMOTE_ADDR": "10.9.9.9"},  # lockouts stay away from other tests
        )
        assert answer.status_code in (400, 401, 429), payload
        assert structured_error(answer.get_json()), payload
        assert "vigil_session" not in answer.headers.get("Set-Cookie", "")

    check()
