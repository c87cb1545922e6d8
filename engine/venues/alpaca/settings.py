"""The Alpaca venue's settings: keys, endpoints (pointable at loopback fakes) and timeouts."""

from __future__ import annotations

from pydantic import Field

from engine.settings_group import SettingsGroup

PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
STREAM_URL = "wss://stream.data.alpaca.markets"


class AlpacaSettings(SettingsGroup):
    """Alpaca (loaded when VIGIL_BROKER or VIGIL_FEED is alpaca)"""

    api_key: str = Field("", alias="ALPACA_API_KEY", repr=False)
    secret_key: str = Field("", alias="ALPACA_SECRET_KEY", repr=False)
    # Empty: Alpaca's own (the paper or the live trading URL by VIGIL_TRADING_MODE).
    trading_url: str = Field("", alias="VIGIL_ALPACA_TRADING_URL")
    data_url: str = Field(DATA_URL, alias="VIGIL_ALPACA_DATA_URL")
    # The market-data stream's base; the trading stream is derived from the trading URL
    # unless VIGIL_ALPACA_TRADING_STREAM_URL names it (a loopback fake serves it apart).
    stream_url: str = Field(STREAM_URL, alias="VIGIL_ALPACA_STREAM_URL")
    trading_stream_url: str = Field("", alias="VIGIL_ALPACA_TRADING_STREAM_URL")
    # Market data plan: "iex" (free) or "sip".
    data_feed: str = Field("iex", alias="VIGIL_ALPACA_DATA_FEED", pattern=r"^(iex|sip)$")
    # Queue market orders outside regular hours instead of denying them.
    extended_hours: bool = Field(False, alias="VIGIL_ALPACA_EXTENDED_HOURS")
    http_timeout_s: float = Field(5.0, alias="VIGIL_ALPACA_HTTP_TIMEOUT_S", gt=0, le=60)
    # Alpaca allows 200 requests a minute per account; the kill path keeps a reserve of them.
    requests_per_minute: int = Field(190, alias="VIGIL_ALPACA_REQUESTS_PER_MINUTE", ge=10, le=200)
    # Market data (the feed): chart history waits at most this long at start (the engine
    # thread waits for it); a stream silent this long while its market is open is STALE, and
    # reconnected after VIGIL_ALPACA_STALE_RECONNECT_S of silence (0: never).
    history_timeout_s: float = Field(6.0, alias="VIGIL_ALPACA_HISTORY_TIMEOUT_S", gt=0, le=60)
    stale_s: float = Field(15.0, alias="VIGIL_ALPACA_STALE_S", gt=0, le=3600)
    stale_reconnect_s: float = Field(120.0, alias="VIGIL_ALPACA_STALE_RECONNECT_S", ge=0)
    # How often the account is read (AccountEvent); the market clock is read every minute.
    poll_s: float = Field(15.0, alias="VIGIL_ALPACA_POLL_S", gt=0, le=300)

    def trading_base(self, live: bool) -> str:
        if self.trading_url.strip():
            return self.trading_url.strip().rstrip("/")
        return LIVE_TRADING_URL if live else PAPER_TRADING_URL

    def trading_stream(self, live: bool) -> str:
        """The trade_updates websocket: given, or the trading URL's /stream (wss)."""
        if self.trading_stream_url.strip():
            return self.trading_stream_url.strip()
        base = self.trading_base(live)
        return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key.strip() and self.secret_key.strip())
