"""Read-only share links: signed, expiring, revocable tokens that open the page as a viewer.

An admin makes a link (`POST /api/share-links`); whoever opens `/share/<token>` gets a session
that acts as the viewer `share:<id>` until the link expires or is revoked. The token is the id
signed with the app's secret key (itsdangerous), so it cannot be forged; the id's row in
SQLite says who made it, until when it is good, and whether it was revoked. Every request and
every socket event re-reads that row, so a revocation takes effect at once; the link's open
sockets are closed too. A share URL is a bearer secret: anyone holding it can watch the page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, redirect, request, session
from itsdangerous import BadData, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dashboard.auth import (
    client_address,
    close_sockets,
    current_user,
    error_response,
    login_required,
    session_account,
)
from dashboard.services import services
from engine.clock import Clock, SystemClock
from engine.store.connections import SqliteConnections
from engine.users import User

bp = Blueprint("share_links", __name__)

MIN_TTL_HOURS, MAX_TTL_HOURS = 1, 168
SALT = "vigil.share-link"
MAX_TOKEN_CHARS = 200
ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
PREFIX = "share:"


@dataclass(frozen=True)
class ShareLink:
    id: str
    created_by: str
    created_ts: float
    expires_ts: float
    revoked_ts: float | None
    revoked_by: str | None
    note: str

    @property
    def username(self) -> str:
        return f"{PREFIX}{self.id}"

    def active(self, now: float) -> bool:
        return self.revoked_ts is None and now < self.expires_ts

    def to_dict(self, now: float) -> dict[str, Any]:
        """For the page: times in epoch milliseconds, as everywhere else in Vigil."""
        return {
            "id": self.id,
            "created_by": self.created_by,
            "created_ts": _ms(self.created_ts),
            "expires_ts": _ms(self.expires_ts),
            "revoked_ts": None if self.revoked_ts is None else _ms(self.revoked_ts),
            "revoked_by": self.revoked_by,
            "note": self.note,
            "active": self.active(now),
        }


def _ms(ts: float) -> int:
    return int(ts * 1000)


class ShareLinks:
    """The links' table (in Vigil's SQLite file, on its own connections) and their tokens."""

    def __init__(self, db_path: Path, secret_key: str | bytes, clock: Clock | None = None) -> None:
        self._db = SqliteConnections(db_path, ("journal_mode = WAL",))
        self._signer = URLSafeSerializer(secret_key, salt=SALT)
        self.clock: Clock = clock or SystemClock()
        with self._db.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS share_links (id TEXT PRIMARY KEY, "
                "created_by TEXT NOT NULL, created_ts REAL NOT NULL, expires_ts REAL NOT NULL, "
                "revoked_ts REAL, revoked_by TEXT, note TEXT NOT NULL)"
            )

    def close(self) -> None:
        """Close every thread's connection."""
        self._db.close()

    def create(self, created_by: str, ttl_hours: float, note: str = "") -> tuple[ShareLink, str]:
        """A new link and its token; the token is shown once and never stored."""
        if not MIN_TTL_HOURS <= ttl_hours <= MAX_TTL_HOURS:
            raise ValueError(f"ttl_hours must be {MIN_TTL_HOURS}-{MAX_TTL_HOURS}")
        now = self.clock.time()
        link = ShareLink(
            secrets.token_urlsafe(12), created_by, now, now + ttl_hours * 3600, None, None, note
        )
        with self._db.write() as db:
            db.execute(
                "INSERT INTO share_links VALUES (?, ?, ?, ?, NULL, NULL, ?)",
                (link.id, link.created_by, link.created_ts, link.expires_ts, link.note),
            )
        return link, self._signer.dumps({"id": link.id})

    def get(self, link_id: str) -> ShareLink | None:
        db = self._db.get()
        row = db.execute("SELECT * FROM share_links WHERE id = ?", (link_id,)).fetchone()
        return ShareLink(*row) if row else None

    def list(self) -> list[ShareLink]:
        db = self._db.get()
        rows = db.execute("SELECT * FROM share_links ORDER BY created_ts DESC").fetchall()
        return [ShareLink(*row) for row in rows]

    def revoke(self, link_id: str, by: str) -> ShareLink | None:
        """Revoke (idempotent: a second call keeps the first time and actor)."""
        with self._db.write() as db:
            db.execute(
                "UPDATE share_links SET revoked_ts = ?, revoked_by = ? "
                "WHERE id = ? AND revoked_ts IS NULL",
                (self.clock.time(), by, link_id),
            )
        return self.get(link_id)

    def link_for(self, token: Any) -> ShareLink | None:
        """The link a token names, active or not; None when the token is not ours."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            payload = self._signer.loads(token)
        except BadData:
            return None
        link_id = payload.get("id") if isinstance(payload, dict) else None
        return self.get(link_id) if isinstance(link_id, str) else None

    def verify(self, token: Any) -> User | None:
        """The viewer a token stands for, or None when forged, expired or revoked."""
        link = self.link_for(token)
        if link is None or not link.active(self.clock.time()):
            return None
        return User(link.username, "viewer")


def _links() -> ShareLinks:
    return services().share_links


def _audit(actor: str, action: str, **fields: Any) -> None:
    store = services().store
    if store is not None:
        store.audit(actor, action, **fields)


class CreateShareLink(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    ttl_hours: Annotated[
        float, Field(ge=MIN_TTL_HOURS, le=MAX_TTL_HOURS, allow_inf_nan=False, strict=True)
    ]
    note: Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""


@bp.post("/api/share-links")
@login_required("admin")
def create_link() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response("INVALID_PAYLOAD", "send JSON {ttl_hours, note?}", 400)
    try:
        wanted = CreateShareLink.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])[:40] or "payload"
        return error_response("INVALID_PAYLOAD", f"{where}: {first['msg']}", 400)
    admin = current_user()
    assert admin is not None  # login_required saw to it
    link, token = _links().create(admin.username, wanted.ttl_hours, wanted.note)
    _audit(
        admin.username,
        "share_link_created",
        outcome=link.id,
        details={"expires_ts": link.expires_ts, "note": link.note},
    )
    return jsonify(
        {
            "ok": True,
            "id": link.id,
            "url": f"{request.host_url}share/{token}",
            "expires_ts": _ms(link.expires_ts),
        }
    )


@bp.get("/api/share-links")
@login_required("admin")
def list_links() -> Any:
    links = _links()
    now = links.clock.time()
    return jsonify({"ok": True, "links": [link.to_dict(now) for link in links.list()]})


@bp.delete("/api/share-links/<link_id>")
@login_required("admin")
def revoke_link(link_id: str) -> Any:
    admin = current_user()
    assert admin is not None
    if not 1 <= len(link_id) <= 32 or not set(link_id) <= ID_CHARS:
        return error_response("NOT_FOUND", "no such share link", 404)
    link = _links().revoke(link_id, admin.username)
    if link is None:
        return error_response("NOT_FOUND", "no such share link", 404)
    closed = close_sockets(f"user:{link.username}")
    _audit(admin.username, "share_link_revoked", outcome=link.id, details={"sockets": closed})
    return jsonify({"ok": True, "id": link.id, "revoked_ts": _ms(link.revoked_ts or 0.0)})


@bp.get("/share/<token>")
def open_link(token: str) -> Any:
    links = _links()
    link = links.link_for(token)
    if link is None or not link.active(links.clock.time()):
        if link is not None:
            _audit(link.username, "share_link_refused", details={"address": client_address()})
        return _refused()
    if session_account() is None:
        # Someone logged in keeps their own session: a link must not demote them to viewer.
        session.clear()
        session["share"] = token
        session.permanent = True
        _audit(link.username, "share_link_opened", details={"address": client_address()})
    return _go_home()


def _go_home() -> Any:
    """A redirect to the page, except after a cross-site click.

    The session cookie is SameSite=Strict, and browsers treat a redirect that ends a
    cross-site navigation as cross-site, so the cookie just set would not be sent with it.
    A page that refreshes itself to `/` starts a new, same-site navigation instead.
    """
    if request.headers.get("Sec-Fetch-Site") not in ("cross-site", "same-site"):
        return redirect("/")
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0;url=/"><title>Vigil</title></head>'
        '<body><p>Opening Vigil… <a href="/">continue</a></p></body></html>'
    )
    return Response(body, 200, mimetype="text/html")


def _refused() -> Any:
    message = "This share link has expired or was revoked. Ask for a new one."
    if "text/html" in request.headers.get("Accept", ""):
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Vigil: link not valid</title></head>"
            f"<body><h1>Link not valid</h1><p>{message}</p></body></html>"
        )
        return Response(body, 403, mimetype="text/html")
    return error_response("LINK_INVALID", message, 403)
