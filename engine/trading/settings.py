"""The trading desk's settings: when the trading day starts, and how reconciliation runs."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from engine.settings_group import SettingsGroup


class SessionSettings(SettingsGroup):
    """Trading session: the day the daily loss limit and the daily P&L count"""

    tz: str = Field(
        "America/New_York", alias="VIGIL_SESSION_TZ", description="the session's time zone"
    )
    start: str = Field(
        "00:00",
        alias="VIGIL_SESSION_START",
        pattern=r"^\d{2}:\d{2}$",
        description="the daily loss limit resets here, local time",
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ReconcileSettings(SettingsGroup):
    """Reconciliation with the venue's own record"""

    every_s: float = Field(
        30.0,
        alias="VIGIL_RECONCILE_EVERY_S",
        gt=0,
        le=86_400,
        description="how often while running (and at start)",
    )
    grace_s: float = Field(
        10.0,
        alias="VIGIL_RECONCILE_GRACE_S",
        ge=0,
        le=3600,
        description="orders and fills younger than this count as still in flight",
    )
