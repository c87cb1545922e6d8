"""Who is asking: the login endpoint, sessions, throttling, and the role each action needs."""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, session

from dashboard.services import services
from engine.commands import COMMAND_SPECS
from engine.store.connections import SqliteConnections
from engine.users import User, UserStore

bp = Blueprint("auth", __name__)

MAX_FAILURES = 5
FAILURE_WINDOW_S = 900.0
LOCKOUT_S = 300.0
# Past this many tracked keys the throttle drops stale ones, so a flood of made-up names
# cannot grow memory without bound.
THROTTLE_PRUNE_AT = 10_000
# The wait named when the limit is taken up by checks still running, not by failures.
BUSY_RETRY_S = 1.0

# Which role each client → server command needs (engine/commands.py); viewer < trader < admin.
COMMAND_ROLES: dict[str, str] = {spec.name: spec.role for spec in COMMAND_SPECS}


class LoginThrottle:
    """Counts recent failures per username and per client address; locks either out for a while."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def locked(self, *keys: str) -> float:
        """Seconds until every key is unlocked (0 when none is locked)."""
        now = self._clock()
        with self._lock:
            return self._locked_for(keys, now)

    def _locked_for(self, keys: tuple[str, ...], now: float) -> float:
        return max((self._locked_until.get(k, 0.0) - now for k in keys), default=0.0)

    def begin(self, *keys: str) -> float:
        """Reserve one password check: 0 when it may run, else seconds to wait.

        A check in flight counts as a failure until it ends (`finish`), so parallel attempts
        cannot all pass the limit before the first of them has failed: at most MAX_FAILURES
        wrong passwords are ever checked per key within the window.
        """
        now = self._clock()
        with self._lock:
            wait = self._locked_for(keys, now)
            if wait > 0:
                return wait
            for key in keys:
                recent = [t for t in self._failures.get(key, ()) if t >= now - FAILURE_WINDOW_S]
                if len(recent) + self._in_flight.get(key, 0) >= MAX_FAILURES:
                    return BUSY_RETRY_S
            for key in keys:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return 0.0

    def finish(self, *keys: str, ok: bool) -> None:
        """End a check that `begin` allowed: record its outcome, release its reservation."""
        with self._lock:
            for key in keys:
                left = self._in_flight.get(key, 0) - 1
                if left > 0:
                    self._in_flight[key] = left
                else:
                    self._in_flight.pop(key, None)
        if ok:
            self.success(*keys)
        else:
            self.failure(*keys)

    def failure(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) + len(self._locked_until) > THROTTLE_PRUNE_AT:
                self._prune(now)
            for key in keys:
                recent = self._failures[key]
                recent.append(now)
                while recent and recent[0] < now - FAILURE_WINDOW_S:
                    recent.popleft()
                if len(recent) >= MAX_FAILURES:
                    self._locked_until[key] = now + LOCKOUT_S
                    recent.clear()

    def success(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def tracked(self) -> int:
        with self._lock:
            return len(self._failures) + len(self._locked_until)

    def _prune(self, now: float) -> None:
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
        stale = now - FAILURE_WINDOW_S
        for key in [k for k, q in self._failures.items() if not q or q[-1] < stale]:
            del self._failures[key]


class SessionRevocations:
    """Session ids ended by logout, kept in SQLite until the session would have expired anyway.

    Flask's sessions are signed cookies: clearing one in the browser does not stop a copy of
    it. Every login gets a random id; logout records it here and `current_user()` refuses it,
    including on an open socket, and across restarts.
    """

    def __init__(self, db_path: Path, clock: Callable[[], float] = time.time) -> None:
        self._db = SqliteConnections(db_path, ("journal_mode = WAL",))
        self._clock = clock
        with self._db.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS revoked_sessions "
                "(sid TEXT PRIMARY KEY, expires_ts REAL NOT NULL)"
            )

    def close(self) -> None:
        """Close every thread's connection."""
        self._db.close()

    def revoke(self, sid: str, expires_ts: float) -> None:
        with self._db.write() as db:
            db.execute("DELETE FROM revoked_sessions WHERE expires_ts < ?", (self._clock(),))
            db.execute("INSERT OR REPLACE INTO revoked_sessions VALUES (?, ?)", (sid, expires_ts))

    def revoked(self, sid: str) -> bool:
        db = self._db.get()
        row = db.execute("SELECT 1 FROM revoked_sessions WHERE sid = ?", (sid,)).fetchone()
        return row is not None


def error_response(code: str, message: str, status: int) -> Any:
    return jsonify({"ok": False, "error": {"code": code, "message": message}}), status


def users() -> UserStore:
    return services().users


def session_account() -> User | None:
    """A logged-in account: a session id not revoked, younger than the session lifetime."""
    name, sid, iat = session.get("user"), session.get("sid"), session.get("iat")
    if not (isinstance(name, str) and isinstance(sid, str) and isinstance(iat, int | float)):
        return None
    # Absolute, not sliding: a refreshed cookie must not keep a session alive for ever.
    if time.time() - iat > current_app.permanent_session_lifetime.total_seconds():
        return None
    if services().sessions.revoked(sid):
        return None
    return users().get(name)


def current_user() -> User | None:
    """The session's user, re-read from the store so a removed or demoted user loses access."""
    if "user" in g:
        return g.user
    user = session_account()
    share = session.get("share")
    if user is None and isinstance(share, str):
        user = services().share_links.verify(share)
    g.user = user
    return user


def socket_rooms(user: User) -> list[str]:
    """Rooms a socket joins on connect, so logout or a revoked link can close it at once."""
    rooms = [f"user:{user.username}"]
    sid = session.get("sid")
    if isinstance(sid, str):
        rooms.append(f"session:{sid}")
    return rooms


def close_sockets(room: str) -> int:
    """Disconnect every socket in `room`; returns how many."""
    server = services().socketio.server
    members = [sid for sid, _eio in server.manager.get_participants("/", room)]
    for sid in members:
        server.disconnect(sid, namespace="/")
    return len(members)


def shared_view() -> bool:
    """True when this request is a read-only share link's, not a logged-in account's."""
    return session_account() is None and isinstance(session.get("share"), str)


def audit_denied(user: User, action: str, reason: str) -> None:
    """A role refusal, audited the same way for HTTP and socket commands."""
    store = services().store
    if store is not None:
        store.audit(
            user.username,
            f"{action}_denied",
            reason=reason,
            outcome="FORBIDDEN",
            details={"method": request.method, "path": request.path},
        )


def login_required(
    role: str = "viewer", *, action: str | None = None, account: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse without a session (401) or without `role` (403, audited as `<action>_denied`).

    `account=True` also refuses a share link's viewer: for what only people with their own
    login may read (the audit log names users, addresses and failed logins).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        name = action or view.__name__

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return error_response("UNAUTHENTICATED", "log in first", 401)
            if not user.has_role(role):
                command = kwargs.get("name")  # /api/control/<name>: audited as the command
                what = command if command in COMMAND_ROLES else name
                audit_denied(user, what, f"needs the {role} role")
                return error_response("FORBIDDEN", f"this needs the {role} role", 403)
            if account and shared_view():
                audit_denied(user, name, "a share link cannot read this")
                return error_response("FORBIDDEN", "a share link cannot read this", 403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def client_address() -> str:
    return request.remote_addr or "unknown"


@bp.post("/api/login")
def login() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"username", "password"}:
        return error_response("INVALID_PAYLOAD", "send JSON {username, password}", 400)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return error_response("INVALID_PAYLOAD", "username and password must be strings", 400)
    if len(username) > 64 or len(password) > 1024:
        return error_response("INVALID_PAYLOAD", "username or password too long", 400)
    keys = throttle_keys(username)
    store = services().engine_store()
    throttle = services().throttle
    wait = throttle.begin(*keys)
    if wait > 0:
        store.audit(
            username, "login_locked", outcome="refused", details={"address": client_address()}
        )
        return error_response(
            "LOCKED_OUT", f"too many failed logins; try again in {int(wait) + 1} s", 429
        )
    user = None
    try:
        user = users().verify(username.lower(), password)
    finally:
        throttle.finish(*keys, ok=user is not None)
    if user is None:
        store.audit(
            username, "login_failed", outcome="refused", details={"address": client_address()}
        )
        return error_response("BAD_CREDENTIALS", "wrong username or password", 401)
    session.clear()  # a fresh session id on every login: no fixation
    session["user"] = user.username
    session["sid"] = secrets.token_urlsafe(18)
    session["iat"] = time.time()
    session.permanent = True
    store.audit(user.username, "login", outcome="ok", details={"address": client_address()})
    return jsonify({"ok": True, "user": {"username": user.username, "role": user.role}})


def _end_session() -> None:
    """Clear the session and revoke its id, so copies of the cookie die with it."""
    sid, iat = session.get("sid"), session.get("iat")
    session.clear()
    if isinstance(sid, str) and isinstance(iat, int | float):
        lifetime = current_app.permanent_session_lifetime.total_seconds()
        services().sessions.revoke(sid, iat + lifetime)
        close_sockets(f"session:{sid}")


@bp.post("/api/logout")
def logout() -> Any:
    user = current_user()
    _end_session()
    if user is not None:
        services().engine_store().audit(user.username, "logout", outcome="ok")
    return jsonify({"ok": True})


def throttle_keys(username: str) -> tuple[str, str]:
    return f"user:{username.lower()}", f"addr:{client_address()}"


def check_password(user: User, password: str) -> tuple[bool, float]:
    """(matches, 0) or (False, seconds locked): the reset password, throttled like a login.

    Its own budget per account (5 wrong in 15 min lock it for 5 min): someone guessing logins
    from outside cannot block a logged-in admin's reset, and a stolen session cannot guess
    the password faster than a login could.
    """
    keys = (f"reset:{user.username.lower()}",)
    throttle = services().throttle
    wait = throttle.begin(*keys)
    if wait > 0:
        return False, wait
    matches = False
    try:
        matches = users().verify(user.username, password) is not None
    finally:
        throttle.finish(*keys, ok=matches)
    return matches, 0.0
