"""The crypto venue's settings: which exchange and market, keys, a URL override, polling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup

# Symbols used when VIGIL_SYMBOLS is empty: the exchange's market ids (Binance and Bybit agree).
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")


class CcxtSettings(SettingsGroup):
    exchange: Literal["binance", "bybit"] = Field("binance", alias="VIGIL_CCXT_EXCHANGE")
    # "spot", or "swap" for USDT-margined perpetuals.
    market: Literal["spot", "swap"] = Field("spot", alias="VIGIL_CCXT_MARKET")
    api_key: str = Field("", alias="VIGIL_CCXT_API_KEY", repr=False)
    secret: str = Field("", alias="VIGIL_CCXT_SECRET", repr=False)
    # For tests: scheme and host of every REST URL in the exchange's urls["api"] are replaced
    # by this (e.g. http://127.0.0.1:8123), the paths kept. Empty: the exchange's own.
    api_url: str = Field("", alias="VIGIL_CCXT_API_URL", pattern=r"^(|https?://[^/?#]+/?)$")
    http_timeout_s: float = Field(5.0, alias="VIGIL_CCXT_HTTP_TIMEOUT_S", gt=0, le=60)
    # How long a call from the engine thread waits for the venue's thread before giving up.
    call_timeout_s: float = Field(8.0, alias="VIGIL_CCXT_CALL_TIMEOUT_S", gt=0, le=120)
    # Order updates and market data are polled (no websocket): every this many seconds.
    poll_s: float = Field(1.0, alias="VIGIL_CCXT_POLL_S", gt=0, le=60)
    feed_poll_s: float = Field(1.0, alias="VIGIL_CCXT_FEED_POLL_S", gt=0, le=60)
    # Attempts for one order submission through network faults before it is reported rejected.
    submit_attempts: int = Field(3, alias="VIGIL_CCXT_SUBMIT_ATTEMPTS", ge=1, le=10)

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key.strip() and self.secret.strip())
