"""The crypto venue's settings: which exchange and market, keys, a URL override, polling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup

# Symbols used when VIGIL_SYMBOLS is empty: the exchange's market ids (Binance and Bybit agree).
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")


class CcxtSettings(SettingsGroup):
    """Crypto exchanges through ccxt (loaded when VIGIL_BROKER or VIGIL_FEED is ccxt)"""

    exchange: Literal["binance", "bybit"] = Field(
        "binance", alias="VIGIL_CCXT_EXCHANGE", description="binance | bybit"
    )
    market: Literal["spot", "swap"] = Field(
        "spot", alias="VIGIL_CCXT_MARKET", description="spot | swap (USDT-margined perpetuals)"
    )
    api_key: str = Field(
        "",
        alias="VIGIL_CCXT_API_KEY",
        description="required for VIGIL_BROKER=ccxt (testnet keys unless VIGIL_TRADING_MODE=live)",
        repr=False,
    )
    secret: str = Field(
        "", alias="VIGIL_CCXT_SECRET", description="the API key's secret", repr=False
    )
    # For tests: scheme and host of every REST URL in the exchange's urls["api"] are replaced
    # by this (e.g. http://127.0.0.1:8123), the paths kept. Empty: the exchange's own.
    api_url: str = Field(
        "",
        alias="VIGIL_CCXT_API_URL",
        description="scheme and host replacing the exchange's in every REST URL "
        "(a loopback fake in tests); empty: the exchange's own",
        pattern=r"^(|https?://[^/?#]+/?)$",
    )
    http_timeout_s: float = Field(
        5.0, alias="VIGIL_CCXT_HTTP_TIMEOUT_S", description="each REST call", gt=0, le=60
    )
    call_timeout_s: float = Field(
        8.0,
        alias="VIGIL_CCXT_CALL_TIMEOUT_S",
        description="how long the engine waits for the venue's thread before giving up",
        gt=0,
        le=120,
    )
    # Order updates and market data are polled (no websocket).
    poll_s: float = Field(
        1.0,
        alias="VIGIL_CCXT_POLL_S",
        description="seconds between polls of the account's orders and trades",
        gt=0,
        le=60,
    )
    feed_poll_s: float = Field(
        1.0,
        alias="VIGIL_CCXT_FEED_POLL_S",
        description="seconds between polls of market data",
        gt=0,
        le=60,
    )
    submit_attempts: int = Field(
        3,
        alias="VIGIL_CCXT_SUBMIT_ATTEMPTS",
        description="tries for one order through network faults before it is rejected",
        ge=1,
        le=10,
    )

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key.strip() and self.secret.strip())
