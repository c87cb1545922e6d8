"""The paper venue's settings: its account, its costs, and the faults it can rehearse."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup


class PaperSettings(SettingsGroup):
    """Paper venue (VIGIL_BROKER=paper)"""

    starting_balance: float = Field(
        100_000.0,
        alias="VIGIL_STARTING_BALANCE",
        gt=0,
        description="the paper account's cash at its first start, USD",
    )
    fee_bps: float = Field(
        1.0, alias="VIGIL_FEE_BPS", ge=0, le=1000, description="fee, basis points of notional"
    )
    slippage_bps: float = Field(
        1.0,
        alias="VIGIL_SLIPPAGE_BPS",
        ge=0,
        le=1000,
        description="slippage on market orders, basis points",
    )
    latency_ms: int = Field(
        20,
        alias="VIGIL_PAPER_LATENCY_MS",
        ge=0,
        le=60_000,
        description="how late it answers (0: at once, still queued)",
    )
    max_fill_qty: float = Field(
        0.0,
        alias="VIGIL_PAPER_MAX_FILL_QTY",
        ge=0,
        description="largest quantity per fill (0: the whole order)",
    )
    faults: Literal["", "reject", "fail", "stall"] = Field(
        "",
        alias="VIGIL_PAPER_FAULTS",
        description="rehearse a bad venue: reject | fail (unreachable) | stall (never answers)",
    )
