"""Every registry entry is reachable where it says: by socket, over HTTP, behind its own role."""

from __future__ import annotations

from typing import Any

from dashboard import sockets
from engine.commands import COMMAND_SPECS, SPECS, CommandSpec
from engine.users import ROLES
from tests.dashboard.conftest import LiveApp

USER_WITH = {"viewer": "vic", "trader": "tina", "admin": "admin"}
# Refused by every payload model (extra="forbid") and by the web layer's own checks.
BOGUS = {"not_a_field": 1}


def below(spec: CommandSpec) -> str | None:
    """A user whose role is one short of the entry's, or None for a viewer's command."""
    rank = ROLES.index(spec.role)
    return USER_WITH[ROLES[rank - 1]] if rank > 0 else None


def denied(live: LiveApp, user: str, name: str) -> int:
    rows = live.runtime.parts.store.audit_log(limit=1000)
    return sum(1 for r in rows if r["actor"] == user and r["action"] == f"{name}_denied")


def test_every_entry_by_socket_then_its_role_refused_below_and_its_handler_reached(
    live: LiveApp,
) -> None:
    sockets_by_user = {user: live.socket(user) for user in USER_WITH.values()}
    for spec in COMMAND_SPECS:
        low = below(spec)
        if low is not None:
            before = denied(live, low, spec.name)
            answer = sockets_by_user[low].emit(spec.name, BOGUS, callback=True)
            assert answer["error"]["code"] == "FORBIDDEN", (spec.name, answer)
            assert f"needs the {spec.role} role" in answer["error"]["message"]
            assert denied(live, low, spec.name) == before + 1, spec.name
        # The role suffices: the payload reaches the entry's own validation, not UNKNOWN_EVENT.
        answer = sockets_by_user[USER_WITH[spec.role]].emit(spec.name, BOGUS, callback=True)
        assert answer["error"]["code"] == "INVALID_PAYLOAD", (spec.name, answer)
    live.wait_idle()
    assert live.runtime.snapshot()["safety"]["trading_state"] == "ACTIVE"


def test_every_http_entry_then_its_role_refused_below_and_its_handler_reached(
    live: LiveApp,
) -> None:
    # One logged-in client per user (a login verifies an argon2 hash: slow on purpose).
    clients = {user: live.http(user) for user in USER_WITH.values()}

    def post(user: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        answer = clients[user].post(path, json=body)
        return answer.status_code, answer.get_json()

    for spec in COMMAND_SPECS:
        paths = [f"/api/control/{spec.name}"]
        if spec.http_alias is not None:
            paths.append(spec.http_alias)
        if not spec.http:
            status, body = post("admin", paths[0], {})
            assert (status, body["error"]["code"]) == (404, "UNKNOWN_COMMAND"), spec.name
            continue
        low = below(spec)
        for path in paths:
            if low is not None:
                before = denied(live, low, spec.name)
                status, body = post(low, path, BOGUS)
                assert (status, body["error"]["code"]) == (403, "FORBIDDEN"), (path, body)
                assert f"needs the {spec.role} role" in body["error"]["message"]
                assert denied(live, low, spec.name) == before + 1, path
            status, body = post(USER_WITH[spec.role], path, BOGUS)
            assert (status, body["error"]["code"]) == (400, "INVALID_PAYLOAD"), (path, body)
    assert post("admin", "/api/control/no_such_command", {})[0] == 404


def test_web_layer_handlers_then_exactly_the_entries_with_no_engine_handler() -> None:
    web = {spec.name for spec in COMMAND_SPECS if spec.handler is None}
    assert web == set(sockets.WEB_COMMANDS) | set(sockets.SOCKET_EVENTS)
    assert not set(sockets.WEB_COMMANDS) & set(sockets.SOCKET_EVENTS)
    assert all(SPECS[name].model is None for name in sockets.SOCKET_EVENTS)
