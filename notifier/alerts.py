"""The notifier's vocabulary: alerts, channel results and the Channel protocol, with redaction."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

LOWEST, LOW, NORMAL, HIGH, EMERGENCY = -2, -1, 0, 1, 2
PRIORITY_NAMES = {
    "lowest": LOWEST,
    "low": LOW,
    "normal": NORMAL,
    "high": HIGH,
    "emergency": EMERGENCY,
}

ResultKind = Literal["ok", "client_error", "rate_limited", "server_error", "network", "config"]


def clamp_priority(priority: int) -> int:
    return max(LOWEST, min(EMERGENCY, int(priority)))


@dataclass(frozen=True)
class Alert:
    """One message for the operator. `created_ts` is epoch milliseconds, like every `*_ts`."""

    key: str
    title: str
    message: str
    priority: int = NORMAL
    sound: str | None = None
    created_ts: int = 0
    url: str | None = None
    # Overrides the dispatcher's duplicate window for this kind of alert (None: use it).
    dedupe_s: float | None = None
    kind: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "priority", clamp_priority(self.priority))
        if not self.created_ts:
            object.__setattr__(self, "created_ts", int(time.time() * 1000))

    def late_copy(self) -> Alert:
        """The same alert re-sent after a restart, saying when it was first raised."""
        raised = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.created_ts / 1000))
        return replace(self, message=f"[delayed: raised {raised}]\n{self.message}")


@dataclass(frozen=True)
class Quota:
    limit: int | None = None
    remaining: int | None = None
    reset_ts: int | None = None  # epoch ms


@dataclass(frozen=True)
class SendResult:
    """One attempt on one channel; `retryable` tells the dispatcher whether to try again."""

    ok: bool
    kind: ResultKind
    error: str | None = None
    retryable: bool = False
    status_code: int | None = None
    quota: Quota | None = None
    request_id: str | None = None

    @classmethod
    def success(cls, quota: Quota | None = None, request_id: str | None = None) -> SendResult:
        return cls(ok=True, kind="ok", quota=quota, request_id=request_id)


class Channel(Protocol):
    """A way to reach the operator. `send` must not raise and must bound its own time."""

    name: str

    @property
    def configured(self) -> bool: ...

    @property
    def unconfigured_reason(self) -> str | None:
        """Why a channel the operator asked for cannot send (None when fine or not asked for)."""
        ...

    def send(self, alert: Alert) -> SendResult: ...


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret in `text`; short fragments are left alone so text stays readable."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
