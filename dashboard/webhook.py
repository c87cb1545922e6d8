"""POST /api/signals: the signal webhook (TradingView style), authenticated by HMAC-SHA256.

The sender signs the bytes `<timestamp>.<raw body>` with VIGIL_WEBHOOK_SECRET and sends
`X-Vigil-Timestamp: <epoch seconds>` and `X-Vigil-Signature: sha256=<hex>`. A bad signature,
a timestamp more than 60 s from the server's clock, or a request seen before (the same
signature; or the sender's own `id` again, which the engine's inbox remembers) is 401; a
malformed body 400; too many requests from one address 429. None of them queues anything;
every outcome is counted (`vigil_webhook_requests_total` in /metrics).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections import OrderedDict, deque
from typing import Annotated, Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import AfterValidator, Field, ValidationError

from dashboard.services import services
from engine.command_payloads import Command, Positive, Symbol
from engine.commands import INTAKE_SIGNAL, error, too_deeply_nested
from engine.models import Side
from engine.signals.inbox import IncomingSignal

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)

MAX_SKEW_S = 60
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
EXTENSION = "vigil_webhook"


def _printable(text: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must not contain control characters")
    return text


Text = Annotated[str, Field(max_length=200), AfterValidator(_printable)]


class WebhookSignal(Command):
    """The body: DESIGN.md's contract. Unknown fields are refused, not ignored."""

    symbol: Symbol
    side: Side
    qty: Positive | None = None
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)] | None = None
    price: Positive | None = None
    strategy: Text = ""
    reason: Text = ""
    id: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)] | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Vigil-Signature value for `body` sent at `timestamp` (what a sender computes)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookGate:
    """The checks before the engine: rate, signature, clock skew, replay; and the counts."""

    def __init__(self, secret: str, rate_per_min: int) -> None:
        self.secret, self.rate_per_min = secret.strip(), rate_per_min
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> when it arrived
        self._hits: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = {}

    def count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def allow(self, address: str, now: float) -> bool:
        with self._lock:
            hits = self._hits.setdefault(address, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.rate_per_min:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # forget quiet addresses
                for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - 60]:
                    del self._hits[key]
            return True

    def authenticate(self, timestamp: str, signature: str, body: bytes, now: float) -> str | None:
        """None when the request is authentic and new; else the error code (401)."""
        match = _SIGNATURE.match(signature)
        if not _TIMESTAMP.match(timestamp) or match is None:
            return "BAD_SIGNATURE"
        expected = sign(self.secret, timestamp, body)[len("sha256=") :]
        if not hmac.compare_digest(expected, match.group(1).lower()):
            return "BAD_SIGNATURE"
        if abs(now - int(timestamp)) > MAX_SKEW_S:
            return "STALE_TIMESTAMP"
        with self._lock:
            # Older entries can no longer pass the skew check: they need not be remembered.
            while self._seen and next(iter(self._seen.values())) < now - 2 * MAX_SKEW_S - 1:
                self._seen.popitem(last=False)
            key = match.group(1).lower()
            if key in self._seen:
                return "REPLAY"
            self._seen[key] = now
        return None


MESSAGES = {
    "BAD_SIGNATURE": "missing or wrong X-Vigil-Signature (sha256=<hex> of '<timestamp>.<body>')",
    "STALE_TIMESTAMP": f"X-Vigil-Timestamp is more than {MAX_SKEW_S} s from the server's clock",
    "REPLAY": "this request was already received",
}


def install(app: Any, secret: str, rate_per_min: int) -> None:
    app.extensions[EXTENSION] = WebhookGate(secret, rate_per_min)
    app.register_blueprint(bp)


def gate() -> WebhookGate:
    found: WebhookGate = current_app.extensions[EXTENSION]
    return found


def _refuse(outcome: str, code: str, message: str, status: int) -> Any:
    gate().count(outcome)
    log.warning("signal webhook refused from %s: %s", request.remote_addr, code)
    return jsonify(error(code, message)), status


@bp.post("/api/signals")
def receive_signal() -> Any:
    g = gate()
    if not g.secret:
        return _refuse(
            "off", "WEBHOOK_OFF", "the signal webhook is off: set VIGIL_WEBHOOK_SECRET", 404
        )
    engine = services().engine_link()
    now = engine.clock.time()
    if not g.allow(request.remote_addr or "?", now):
        return _refuse("rate_limited", "RATE_LIMITED", "too many webhook requests; slow down", 429)
    body = request.get_data(cache=True)
    code = g.authenticate(
        request.headers.get("X-Vigil-Timestamp", "").strip(),
        request.headers.get("X-Vigil-Signature", "").strip(),
        body,
        now,
    )
    if code is None and not engine.first_sighting(
        "webhook:" + request.headers["X-Vigil-Signature"].strip().lower(), 2 * MAX_SKEW_S + 1
    ):
        code = "REPLAY"  # seen by another web process (VIGIL_REDIS_URL)
    if code is not None:
        return _refuse(code.lower(), code, MESSAGES[code], 401)
    parsed = _parse(body)
    if isinstance(parsed, str):
        return _refuse("malformed", "INVALID_PAYLOAD", parsed, 400)
    qty = parsed.qty if parsed.qty is not None else services().settings.engine.signals.default_qty
    signal = IncomingSignal(
        parsed.symbol,
        parsed.side,
        qty,
        parsed.confidence,
        "webhook",
        price=parsed.price,
        strategy=parsed.strategy,
        reason=parsed.reason,
        sender_id=parsed.id,
    )
    result = engine.call(INTAKE_SIGNAL, signal, "webhook")
    if result.get("ok"):
        g.count("accepted")
        return jsonify(result), 202
    code = result["error"]["code"]
    status = {
        "DUPLICATE_SIGNAL": 401,
        "TIMEOUT": 504,
        "ENGINE_STOPPED": 503,
        "ENGINE_UNAVAILABLE": 503,
        "REDIS_UNAVAILABLE": 503,
    }.get(code, 400)
    g.count(code.lower())
    return jsonify(result), status


def _parse(body: bytes) -> WebhookSignal | str:
    """The validated body, or what is wrong with it."""
    if too_deeply_nested(body):
        return "body: nested too deeply"
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "body: not valid JSON"
    if not isinstance(data, dict):
        return "body: expected a JSON object"
    try:
        return WebhookSignal.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"
