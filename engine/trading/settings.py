"""The trading desk's settings: when the trading day starts, and how reconciliation runs."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from engine.settings_group import SettingsGroup


class SessionSettings(SettingsGroup):
    """The trading day (daily loss, daily P&L) starts at `start` in `tz`."""

    tz: str = Field("America/New_York", alias="VIGIL_SESSION_TZ")
    start: str = Field("00:00", alias="VIGIL_SESSION_START", pattern=r"^\d{2}:\d{2}$")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ReconcileSettings(SettingsGroup):
    """Reconciliation with the venue's record (engine/trading/reconcile.py): how often while
    running, and how old an order or fill must be before it is compared (in flight before)."""

    every_s: float = Field(30.0, alias="VIGIL_RECONCILE_EVERY_S", gt=0, le=86_400)
    grace_s: float = Field(10.0, alias="VIGIL_RECONCILE_GRACE_S", ge=0, le=3600)
