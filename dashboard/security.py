"""Response headers and the cross-site request guard for state-changing HTTP calls."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request

from dashboard.auth import error_response

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def allowed_origin(origin: str | None) -> bool:
    """Same origin as the request's host, or one listed in VIGIL_ALLOWED_ORIGINS."""
    if not origin:
        return False
    parts = urlsplit(origin)
    if f"{parts.scheme}://{parts.netloc}" in current_app.config["VIGIL_ORIGINS"]:
        return True
    return parts.netloc == request.host and parts.scheme in ("http", "https")


def install(app: Flask) -> None:
    @app.before_request
    def _guard_cross_site() -> Any:
        """JSON-only bodies plus a strict Origin check, on top of SameSite=Strict cookies.

        A cross-site form cannot send application/json without a CORS preflight, and a
        browser always sends Origin on a cross-site POST; checking both closes CSRF without
        a token the page would have to carry.
        """
        if request.method not in UNSAFE_METHODS:
            return None
        origin = request.headers.get("Origin") or _referer_origin()
        if origin is not None and not allowed_origin(origin):
            return error_response("CROSS_SITE", "cross-site request refused", 403)
        if request.content_length and not request.is_json:
            return error_response("UNSUPPORTED_MEDIA", "send application/json", 415)
        return None

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response


def _referer_origin() -> str | None:
    referer = request.headers.get("Referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}"
