"""Paper or live: the trading-mode settings every real broker obeys, and the live-mode guard.

A real broker starts in its provider's paper (or testnet) account. Live trading needs two
deliberate settings: VIGIL_TRADING_MODE=live and VIGIL_LIVE_ACCOUNT equal to the account
number the venue itself reports, so a key pasted from the wrong account cannot trade it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsError, SettingsGroup


class TradingModeSettings(SettingsGroup):
    """Trading mode (every real broker: its paper account unless both say live)"""

    trading_mode: Literal["paper", "live"] = Field(
        "paper", alias="VIGIL_TRADING_MODE", description="paper | live"
    )
    live_account: str = Field(
        "",
        alias="VIGIL_LIVE_ACCOUNT",
        description="live only: the account number the venue reports, or the start is refused",
    )

    @property
    def live(self) -> bool:
        return self.trading_mode == "live"


def check_live_account(mode: TradingModeSettings, reported_account: str, venue: str) -> None:
    """Refuse a live start unless VIGIL_LIVE_ACCOUNT names the account the venue reports."""
    if not mode.live:
        return
    if not mode.live_account.strip():
        raise SettingsError(
            f"VIGIL_LIVE_ACCOUNT: required when VIGIL_TRADING_MODE=live (the {venue} "
            "account number that live mode may trade)"
        )
    if mode.live_account.strip() != reported_account.strip():
        raise SettingsError(
            f"VIGIL_LIVE_ACCOUNT: {venue} reports account {reported_account!r}, not "
            f"{mode.live_account.strip()!r}; live trading refused"
        )
