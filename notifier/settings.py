"""The notifier's settings: its channels and rules (AlertSettings), and the watchdog's own."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from engine.settings_group import SettingsError, SettingsGroup, refuse
from notifier.pushover import DEFAULT_API_URL
from notifier.rules import Rule, parse_priority, rules_from_json


def _non_negative(value: Any) -> float:
    raw = str(value).strip()
    try:
        number = float(raw)
    except ValueError:
        raise refuse(f"expected a number (got {raw!r})") from None
    if number < 0:
        raise refuse(f"must not be negative (got {raw!r})")
    return number


class AlertSettings(SettingsGroup):
    """Alerts"""

    pushover_user_key: str | None = Field(
        None, alias="PUSHOVER_USER_KEY", repr=False, description="Pushover: your user key"
    )
    pushover_api_token: str | None = Field(
        None, alias="PUSHOVER_API_TOKEN", repr=False, description="Pushover: the app's token"
    )
    pushover_api_url: str = Field(DEFAULT_API_URL, alias="VIGIL_PUSHOVER_API_URL")
    emergency_retry_s: int = Field(
        60,
        alias="VIGIL_PUSHOVER_EMERGENCY_RETRY_S",
        description="an emergency alert repeats this often until acknowledged (>= 30)",
    )
    emergency_expire_s: int = Field(
        3600,
        alias="VIGIL_PUSHOVER_EMERGENCY_EXPIRE_S",
        description="... for this long at most (<= 10800)",
    )
    public_url: str = Field(
        "",
        alias="VIGIL_PUBLIC_URL",
        description="the page's address as a phone reaches it; alerts then link to "
        "<it>/?kill=1, the page with the kill-switch dialog open",
        examples=["https://vigil.example.com"],
    )
    apprise_urls: str = Field(
        "",
        alias="VIGIL_APPRISE_URLS",
        description="other channels (needs `pip install apprise`), comma-separated Apprise URLs",
    )
    min_priority: int = Field(
        -2,
        alias="VIGIL_ALERT_MIN_PRIORITY",
        description="alerts below it are not sent: -2..2 or lowest|low|normal|high|emergency",
    )
    dedupe_s: float = Field(
        300.0, alias="VIGIL_ALERT_DEDUPE_S", description="the same alert at most once per window"
    )
    queue_size: int = Field(
        1000, alias="VIGIL_ALERT_QUEUE_SIZE", description="alerts waiting to be sent, at most"
    )
    rules_json: str = Field(
        "",
        alias="VIGIL_ALERT_RULES",
        description="changes to the rules, a JSON object keyed by alert kind",
        examples=['{"trade_executed": {"enabled": false}}'],
    )

    @field_validator("emergency_retry_s", "emergency_expire_s", "queue_size", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> int:
        return int(_non_negative(value))

    @field_validator("dedupe_s", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float:
        return _non_negative(value)

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise refuse(f"expected an http(s):// address (got {value!r})")
        return value.rstrip("/")

    @field_validator("min_priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> int:
        try:
            return parse_priority(value.strip() if isinstance(value, str) else value)
        except ValueError as exc:
            raise refuse(str(exc)) from None

    @field_validator("rules_json")
    @classmethod
    def _valid_rules(cls, value: str) -> str:
        try:
            rules_from_json(value)
        except ValueError as exc:
            raise refuse(str(exc)) from None
        return value

    def check(self) -> None:
        if self.queue_size < 1:
            raise SettingsError("VIGIL_ALERT_QUEUE_SIZE: must be at least 1")

    @property
    def rules(self) -> dict[str, Rule]:
        """The default rules with VIGIL_ALERT_RULES' changes."""
        return rules_from_json(self.rules_json)


class WatchdogSettings(SettingsGroup):
    """Watchdog (its own process: the Procfile's `watchdog:` line)"""

    url: str = Field(
        "",
        alias="VIGIL_WATCHDOG_URL",
        description="the health endpoint; default http://127.0.0.1:$VIGIL_PORT/healthz",
        examples=["http://127.0.0.1:5000/healthz"],
    )
    stale_s: float = Field(
        30.0,
        alias="VIGIL_WATCHDOG_STALE_S",
        description="seconds of silence or heartbeat age that make an outage",
    )
    interval_s: float = Field(
        5.0, alias="VIGIL_WATCHDOG_INTERVAL_S", description="seconds between polls"
    )
