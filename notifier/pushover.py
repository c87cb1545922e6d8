"""The Pushover channel: one POST per alert over requests, with Pushover's limits and answers."""

from __future__ import annotations

import logging
from typing import Any

import requests

from notifier.alerts import EMERGENCY, Alert, Quota, SendResult, clamp_priority, redact, truncate

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.pushover.net/1/messages.json"
MESSAGE_LIMIT = 1024
TITLE_LIMIT = 250
URL_LIMIT = 512
URL_TITLE_LIMIT = 100
# Where an alert's link lands: the page with the kill-switch dialog open (after sign-in if the
# phone has no session), so from an alert to a halt is two taps.
KILL_PATH = "/?kill=1"
KILL_TITLE = "Open Vigil · kill switch"


def kill_switch_url(public_url: str | None) -> str | None:
    """The page's address with the kill-switch dialog open, or None without a public URL."""
    base = (public_url or "").strip().rstrip("/")
    return f"{base}{KILL_PATH}" if base else None


MIN_RETRY_S = 30
MAX_EXPIRE_S = 10_800


class PushoverChannel:
    """Sends to Pushover's messages API; classifies each answer for the dispatcher's rules."""

    name = "pushover"

    def __init__(
        self,
        user_key: str | None,
        api_token: str | None,
        api_url: str = DEFAULT_API_URL,
        timeout: tuple[float, float] | float = (3.05, 5),
        session: requests.Session | None = None,
        *,
        emergency_retry_s: int = 60,
        emergency_expire_s: int = 3600,
        public_url: str | None = None,
    ) -> None:
        self._user_key = (user_key or "").strip()
        self._api_token = (api_token or "").strip()
        self.api_url = api_url or DEFAULT_API_URL
        self.timeout = timeout
        self._session = session or requests.Session()
        # Pushover refuses retry < 30 s and expire > 3 h; clamp instead of failing an emergency.
        self.emergency_retry_s = max(MIN_RETRY_S, int(emergency_retry_s))
        self.kill_url = kill_switch_url(public_url)
        self.emergency_expire_s = min(
            MAX_EXPIRE_S, max(int(emergency_expire_s), self.emergency_retry_s)
        )

    def __repr__(self) -> str:
        shown = "configured" if self.configured else "unconfigured"
        return f"PushoverChannel(api_url={self.api_url!r}, user_key=***, api_token=***, {shown})"

    @property
    def configured(self) -> bool:
        return bool(self._user_key and self._api_token)

    @property
    def unconfigured_reason(self) -> str | None:
        if self.configured:
            return None
        if self._user_key or self._api_token:
            missing = "PUSHOVER_API_TOKEN" if self._user_key else "PUSHOVER_USER_KEY"
            return f"{missing} is not set"
        return None

    def form(self, alert: Alert) -> dict[str, str]:
        """The exact form fields Pushover receives for `alert`."""
        priority = clamp_priority(alert.priority)
        title = truncate(alert.title, TITLE_LIMIT)
        message = truncate(alert.message or alert.title or "(no message)", MESSAGE_LIMIT)
        fields = {
            "token": self._api_token,
            "user": self._user_key,
            "title": title,
            "message": message,
            "priority": str(priority),
            "timestamp": str(alert.created_ts // 1000),
        }
        if alert.sound:
            fields["sound"] = alert.sound
        if alert.url:
            fields["url"] = alert.url[:URL_LIMIT]
        elif self.kill_url:
            fields["url"] = self.kill_url[:URL_LIMIT]
            fields["url_title"] = KILL_TITLE[:URL_TITLE_LIMIT]
        if priority == EMERGENCY:
            fields["retry"] = str(self.emergency_retry_s)
            fields["expire"] = str(self.emergency_expire_s)
        return fields

    def send(self, alert: Alert) -> SendResult:
        if not self.configured:
            reason = self.unconfigured_reason or "Pushover is not configured"
            return SendResult(ok=False, kind="config", error=reason)
        try:
            response = self._session.post(self.api_url, data=self.form(alert), timeout=self.timeout)
        except requests.Timeout as exc:
            return self._network_failure("timed out", exc)
        except requests.RequestException as exc:
            return self._network_failure("network error", exc)
        return self._classify(response)

    def _network_failure(self, what: str, exc: Exception) -> SendResult:
        error = self._redact(f"{what}: {type(exc).__name__}: {exc}")
        return SendResult(ok=False, kind="network", error=error, retryable=True)

    def _classify(self, response: requests.Response) -> SendResult:
        quota = parse_quota(response.headers)
        body = _json(response)
        code = response.status_code
        if 200 <= code < 300 and body.get("status") == 1:
            return SendResult.success(quota=quota, request_id=str(body.get("request") or ""))
        reason = self._redact(_reason(body, response))
        if code == 429:
            return SendResult(
                ok=False,
                kind="rate_limited",
                error=f"HTTP 429: {reason}",
                status_code=code,
                quota=quota or Quota(remaining=0),
            )
        if code >= 500:
            return SendResult(
                ok=False,
                kind="server_error",
                error=f"HTTP {code}: {reason}",
                retryable=True,
                status_code=code,
                quota=quota,
            )
        # 4xx (and a 2xx that says status 0): the request itself is wrong; sending it again
        # cannot succeed, so it is reported, not retried.
        return SendResult(
            ok=False,
            kind="client_error",
            error=f"HTTP {code}: {reason}",
            status_code=code,
            quota=quota,
        )

    def _redact(self, text: str) -> str:
        return redact(text, (self._api_token, self._user_key))


def parse_quota(headers: Any) -> Quota | None:
    """Pushover's X-Limit-App-* headers; reset comes in epoch seconds and is kept in ms."""
    limit = _int(headers.get("X-Limit-App-Limit"))
    remaining = _int(headers.get("X-Limit-App-Remaining"))
    reset = _int(headers.get("X-Limit-App-Reset"))
    if limit is None and remaining is None and reset is None:
        return None
    return Quota(limit=limit, remaining=remaining, reset_ts=reset * 1000 if reset else None)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(body: dict[str, Any], response: requests.Response) -> str:
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    text = (response.text or "").strip()
    return text[:200] if text else (response.reason or "no reason given")
