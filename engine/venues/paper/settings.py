"""The paper venue's settings: its account, its costs, and the faults it can rehearse."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup


class PaperSettings(SettingsGroup):
    starting_balance: float = Field(100_000.0, alias="VIGIL_STARTING_BALANCE", gt=0)
    fee_bps: float = Field(1.0, alias="VIGIL_FEE_BPS", ge=0, le=1000)
    slippage_bps: float = Field(1.0, alias="VIGIL_SLIPPAGE_BPS", ge=0, le=1000)
    # How late it answers, how much one fill may take (0: the whole order), and faults to
    # rehearse with: "reject", "fail" or "stall".
    latency_ms: int = Field(20, alias="VIGIL_PAPER_LATENCY_MS", ge=0, le=60_000)
    max_fill_qty: float = Field(0.0, alias="VIGIL_PAPER_MAX_FILL_QTY", ge=0)
    faults: Literal["", "reject", "fail", "stall"] = Field("", alias="VIGIL_PAPER_FAULTS")
