"""Every other channel (Telegram, Slack, Discord, e-mail, ...) through Apprise, if installed."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from notifier.alerts import EMERGENCY, HIGH, Alert, SendResult, redact, truncate

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"[\s,]+")


def split_urls(value: str | None) -> list[str]:
    """Apprise's own convention: URLs separated by commas and/or whitespace."""
    return [u for u in _SPLIT.split(value or "") if u]


def _import_apprise() -> ModuleType:
    return importlib.import_module("apprise")


class AppriseChannel:
    """One Apprise object holding all the operator's URLs.

    Apprise does not expose HTTP status codes, so a failed notify is treated as transient
    (retried with the dispatcher's bounded backoff); a URL Apprise cannot parse is a
    configuration error and is never retried.
    """

    name = "apprise"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        loader: Callable[[], ModuleType] = _import_apprise,
        message_limit: int = 4000,
    ) -> None:
        self._urls = [u.strip() for u in urls if u and u.strip()]
        self._secrets = _url_secrets(self._urls)
        self._message_limit = message_limit
        self._module: ModuleType | None = None
        self._missing: str | None = None
        if self._urls:
            # Imported only when asked for: Pushover must work on an install without Apprise.
            try:
                self._module = loader()
            except ImportError:
                self._missing = "VIGIL_APPRISE_URLS is set but apprise is not installed"

    def __repr__(self) -> str:
        schemes = ", ".join(self.schemes) or "none"
        return f"AppriseChannel(schemes=[{schemes}])"

    @property
    def schemes(self) -> list[str]:
        """What the page may show about the URLs: only their scheme (the rest holds secrets)."""
        return [urlsplit(u).scheme or "?" for u in self._urls]

    @property
    def configured(self) -> bool:
        return bool(self._urls) and self._module is not None

    @property
    def unconfigured_reason(self) -> str | None:
        return self._missing

    def send(self, alert: Alert) -> SendResult:
        if not self.configured or self._module is None:
            return SendResult(ok=False, kind="config", error=self._missing or "no Apprise URLs")
        module = self._module
        try:
            apobj = module.Apprise()
            bad = [i for i, url in enumerate(self._urls, 1) if not apobj.add(url)]
            if bad:
                which = ", ".join(f"#{i} ({self.schemes[i - 1]}://)" for i in bad)
                error = f"invalid Apprise URL {which}"
                return SendResult(ok=False, kind="client_error", error=error)
            ok, details = self._notify(module, apobj, alert)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not reach the worker
            error = self._redact(f"apprise raised {type(exc).__name__}: {exc}")
            return SendResult(ok=False, kind="network", error=error, retryable=True)
        if ok:
            return SendResult.success()
        error = self._redact(details.strip().splitlines()[-1] if details.strip() else "")
        return SendResult(
            ok=False,
            kind="network",
            error=f"apprise: {error or 'notify failed'}",
            retryable=True,
        )

    def _notify(self, module: ModuleType, apobj: Any, alert: Alert) -> tuple[bool, str]:
        notify_type = _notify_type(module, alert.priority)
        body = truncate(alert.message or alert.title, self._message_limit)
        kwargs: dict[str, Any] = {"body": body, "title": truncate(alert.title, 250)}
        if notify_type is not None:
            kwargs["notify_type"] = notify_type
        capture = getattr(module, "LogCapture", None)
        if capture is None:
            return bool(apobj.notify(**kwargs)), ""
        # Apprise reports why a service failed only through its logger.
        with capture(level=logging.WARNING) as output:
            ok = bool(apobj.notify(**kwargs))
            details = output.getvalue()
        return ok, details

    def _redact(self, text: str) -> str:
        for url in self._urls:
            text = text.replace(url, f"{urlsplit(url).scheme}://***")
        return redact(text, self._secrets)


def _notify_type(module: ModuleType, priority: int) -> Any:
    types = getattr(module, "NotifyType", None)
    if types is None:
        return None
    if priority >= EMERGENCY:
        return types.FAILURE
    if priority >= HIGH:
        return types.WARNING
    return types.INFO


def _url_secrets(urls: Sequence[str]) -> list[str]:
    """The parts of Apprise URLs that usually hold tokens: credentials, path, query values."""
    secrets: list[str] = []
    for url in urls:
        parts = urlsplit(url)
        # Not .username/.password: "tgram://id:token/chat" has no "@", yet holds a secret.
        secrets += [parts.netloc, *re.split(r"[:@]", parts.netloc)]
        secrets += [seg for seg in parts.path.split("/") if len(seg) >= 6]
        secrets += [value for _, value in parse_qsl(parts.query) if len(value) >= 6]
    return [s for s in secrets if s]
