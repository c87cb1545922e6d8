"""The signal inbox's settings: the mode, time-to-live, drift warning and the filters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from engine.settings_group import SettingsGroup, comma_list, refuse
from engine.signals.filters import parse_blackout, parse_window


class SignalSettings(SettingsGroup):
    """Signal inbox: strategy and webhook signals, automatic or waiting for approval"""

    mode: Literal["auto", "approve"] = Field(
        "auto",
        alias="VIGIL_SIGNAL_MODE",
        description="auto (signals go to the gateway) | approve (they wait for an operator)",
    )
    ttl_s: float = Field(
        120.0,
        alias="VIGIL_SIGNAL_TTL_S",
        gt=0,
        le=86_400,
        description="a pending signal expires after this many seconds",
    )
    drift_warn_pct: float = Field(
        0.5,
        alias="VIGIL_SIGNAL_DRIFT_WARN_PCT",
        gt=0,
        le=100,
        description="warn when the price moved more than this since the signal (%)",
    )
    min_confidence: float = Field(
        0.0,
        alias="VIGIL_SIGNAL_MIN_CONFIDENCE",
        ge=0,
        le=1,
        description="signals below this confidence (0-1) are dropped before the queue",
    )
    allow: str = Field(
        "",
        alias="VIGIL_SIGNAL_ALLOW",
        description="only these symbols (comma-separated; empty: all)",
    )
    deny: str = Field(
        "", alias="VIGIL_SIGNAL_DENY", description="never these symbols (comma-separated)"
    )
    windows: str = Field(
        "",
        alias="VIGIL_SIGNAL_WINDOWS",
        description="accept only inside these HH:MM-HH:MM windows, session time "
        "(comma-separated; empty: always)",
    )
    blackouts: str = Field(
        "",
        alias="VIGIL_SIGNAL_BLACKOUTS",
        description="refuse inside these: daily HH:MM-HH:MM or dated "
        "YYYY-MM-DDTHH:MM/YYYY-MM-DDTHH:MM, session time (comma-separated)",
    )
    default_qty: float = Field(
        1.0,
        alias="VIGIL_SIGNAL_DEFAULT_QTY",
        gt=0,
        le=1e9,
        description="quantity of a webhook signal that names none",
    )

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: str) -> str:
        for part in comma_list(value):
            if parse_window(part) is None:
                raise refuse(f"expected HH:MM-HH:MM, got {part!r}")
        return value

    @field_validator("blackouts")
    @classmethod
    def _blackouts(cls, value: str) -> str:
        for part in comma_list(value):
            if parse_blackout(part) is None:
                raise refuse(
                    f"expected HH:MM-HH:MM or YYYY-MM-DDTHH:MM/YYYY-MM-DDTHH:MM, got {part!r}"
                )
        return value

    @property
    def allow_list(self) -> frozenset[str]:
        return frozenset(comma_list(self.allow))

    @property
    def deny_list(self) -> frozenset[str]:
        return frozenset(comma_list(self.deny))
