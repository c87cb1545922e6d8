"""Response headers, the cross-site request guard, and the Socket.IO origin policy.

Cross-site request forgery: Vigil uses JSON-only bodies plus a strict Origin check, not a
CSRF token. Why:

- The session cookie is SameSite=Strict, so a browser does not attach it to any request
  that another site starts; the checks below are a second, independent wall.
- Every state-changing request (POST, PUT, PATCH, DELETE) that carries a body must send it
  as application/json. A cross-site page can only send JSON with fetch(), and that forces a
  CORS preflight that Vigil never answers with permission; a plain HTML form cannot send it.
- When the request names where it comes from (Origin, or Referer when Origin is absent), that
  origin must be the page's own (same scheme, host and port) or one listed in
  VIGIL_ALLOWED_ORIGINS. Browsers send Origin
  on every cross-origin POST, PUT, PATCH and DELETE, so a foreign origin — or the opaque
  "null" one of sandboxed frames and file: pages — is refused before any handler runs. When
  a browser sends Sec-Fetch-Site: cross-site and no Origin, the request is refused as well.
- A request with neither Origin nor Referer is allowed: that is curl or a script, which holds
  its own cookie and cannot be driven by another site. A token would add nothing for them.

A token would need the page to fetch it and send it on each call, and it protects nothing
that the three checks above do not already cover for a JSON API used by one same-origin page.

The Socket.IO handshake follows the same origin rule (same origin, or a listed one; never
"*", even when configured), so a page on another site cannot open a socket with the
operator's cookie. Forwarded host and scheme headers count only with VIGIL_TRUST_PROXY=1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider

from dashboard.auth import error_response
from dashboard.services import Services
from dashboard.settings import WebSettings
from engine.commands import MAX_PAYLOAD_DEPTH, too_deeply_nested

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NO_STORE_PREFIXES = ("/api/", "/share/")
DEFAULT_PORTS = {"http": 80, "https": 443}


def configured_origins(web: WebSettings) -> list[str]:
    """VIGIL_ALLOWED_ORIGINS normalised to scheme://host[:port]; "*" is dropped, loudly."""
    origins: list[str] = []
    for raw in web.origins:
        if "*" in raw:
            log.warning("VIGIL_ALLOWED_ORIGINS: %r ignored; wildcards are never allowed", raw)
            continue
        origin = _origin_of(raw)
        if origin is None:
            log.warning("VIGIL_ALLOWED_ORIGINS: %r ignored; expected scheme://host[:port]", raw)
            continue
        origins.append(origin)
    return origins


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _scheme_host_port(origin: str) -> tuple[str, str, int] | None:
    """("https", "example.com", 443) for an origin or a Host-based URL; None if not one."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:  # a port that is not a number
        return None
    return parts.scheme, parts.hostname.lower(), port


def page_origin_matches(
    origin: str | None, scheme: str, host: str, *, secure_cookies: bool, listed: Iterable[str]
) -> bool:
    """True when `origin` is the page's own (scheme, host and port) or one listed.

    The page's scheme is the request's (X-Forwarded-Proto counts only behind
    VIGIL_TRUST_PROXY=1, applied by ProxyFix); with VIGIL_SECURE_COOKIES=1 the page is served
    over https whatever the last hop says, and an http origin is never the page's.
    """
    if not origin:
        return False
    normal = _origin_of(origin)
    if normal is None:  # "null", garbage, or a scheme a page never has
        return False
    if normal in listed:
        return True
    theirs = _scheme_host_port(normal)
    if theirs is None or not host:
        return False
    page_scheme = "https" if secure_cookies else scheme
    ours = _scheme_host_port(f"{page_scheme}://{host}")
    return ours is not None and theirs == ours


def allowed_origin(origin: str | None) -> bool:
    """Same origin as the request (scheme, host and port), or one in VIGIL_ALLOWED_ORIGINS."""
    return page_origin_matches(
        origin,
        request.scheme,
        request.host,
        secure_cookies=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        listed=current_app.config["VIGIL_ORIGINS"],
    )


def socket_origin_check(web: WebSettings) -> Callable[[str | None, Mapping[str, Any]], bool]:
    """The Engine.IO `cors_allowed_origins` callable: the HTTP rule, applied to the handshake.

    python-engineio's own same-origin default also believes X-Forwarded-Host/-Proto from any
    client; this one sees them only behind a configured proxy, where ProxyFix (outermost in
    front of the Socket.IO app too) has already applied them to the environ.
    """
    listed = set(configured_origins(web))

    def check(origin: str | None, environ: Mapping[str, Any]) -> bool:
        return page_origin_matches(
            origin,
            str(environ.get("wsgi.url_scheme", "http")),
            str(environ.get("HTTP_HOST", "")),
            secure_cookies=web.secure_cookies,
            listed=listed,
        )

    return check


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing input nested deeper than any Vigil payload before decoding it.

    json.loads recurses per level and raises RecursionError (not ValueError) near 1,000;
    raising ValueError instead makes `get_json(silent=True)` answer None, so the route gives
    its usual INVALID_PAYLOAD, for anonymous and logged-in callers alike.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if too_deeply_nested(s):
            raise ValueError(f"JSON nested deeper than {MAX_PAYLOAD_DEPTH} levels")
        return super().loads(s, **kwargs)


def install(app: Flask) -> None:
    services = Services.of(app)
    web = services.settings.web
    app.config["VIGIL_ORIGINS"] = configured_origins(web)
    # Set here, next to the HTTP rule, so the two cannot drift apart.
    services.socketio.server.eio.cors_allowed_origins = socket_origin_check(web)

    @app.before_request
    def _guard_cross_site() -> Any:
        """JSON-only bodies plus a strict Origin check (see the module docstring)."""
        if request.method not in UNSAFE_METHODS:
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            origin = _referer_origin()
        if origin is not None and not allowed_origin(origin):
            return error_response("CROSS_SITE", "cross-site request refused", 403)
        if origin is None and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error_response("CROSS_SITE", "cross-site request refused", 403)
        has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
        if has_body and not request.is_json:
            return error_response("UNSUPPORTED_MEDIA", "send application/json", 415)
        return None

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if request.path.startswith(NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        return response


def _referer_origin() -> str | None:
    """The Referer's origin; "null" (never allowed) when the header is there but unparsable."""
    referer = request.headers.get("Referer")
    if not referer:
        return None
    return _origin_of(referer) or "null"
