"""The Polygon feed's settings: key, endpoints (pointable at loopback fakes), plan, timeouts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.settings_group import SettingsGroup

# massive is the maintained successor of polygon-api-client; its hosts serve Polygon keys.
REST_URL = "https://api.massive.com"
WS_URL = "wss://socket.massive.com"


class PolygonSettings(SettingsGroup):
    """Polygon (loaded when VIGIL_FEED is polygon)"""

    api_key: str = Field(
        "", alias="POLYGON_API_KEY", description="required for VIGIL_FEED=polygon", repr=False
    )
    rest_url: str = Field(
        REST_URL,
        alias="VIGIL_POLYGON_REST_URL",
        description="the REST host (a loopback fake in tests)",
    )
    # ws://host:port or wss://host (Polygon's delayed feed: wss://delayed.massive.com).
    ws_url: str = Field(
        WS_URL,
        alias="VIGIL_POLYGON_WS_URL",
        description="e.g. wss://delayed.massive.com for a delayed plan",
    )
    # The VIX comes from the indices feed when the plan has it ("auto" tries and falls back to
    # the realized-volatility proxy when Polygon refuses; "off" never asks).
    indices: Literal["auto", "off"] = Field(
        "auto",
        alias="VIGIL_POLYGON_INDICES",
        description="auto: VIX from the indices feed, the realized-vol proxy if the plan "
        "refuses | off",
    )
    http_timeout_s: float = Field(
        5.0,
        alias="VIGIL_POLYGON_HTTP_TIMEOUT_S",
        description="each REST call, and the websocket's opening handshake",
        gt=0,
        le=60,
    )
    # The whole chart history (every symbol, retries included) gets at most this long.
    history_timeout_s: float = Field(
        20.0,
        alias="VIGIL_POLYGON_HISTORY_TIMEOUT_S",
        description="the whole chart history, retries included",
        gt=0,
        le=300,
    )
    # No trade, quote or bar for this long on a connected stream: the feed says STALE.
    stale_after_s: float = Field(
        10.0,
        alias="VIGIL_POLYGON_STALE_S",
        description="no data this long on a connected stream: the feed says STALE",
        gt=0,
        le=3600,
    )
    # Reconnect delays: exponential from the base, capped, with jitter (engine/venues/net.py).
    reconnect_base_s: float = Field(
        1.0,
        alias="VIGIL_POLYGON_RECONNECT_BASE_S",
        description="reconnect delay: exponential from this, with jitter,",
        gt=0,
        le=60,
    )
    reconnect_cap_s: float = Field(
        30.0, alias="VIGIL_POLYGON_RECONNECT_CAP_S", description="... capped here", gt=0, le=600
    )

    @property
    def has_key(self) -> bool:
        return bool(self.api_key.strip())

    @property
    def rest_base(self) -> str:
        return self.rest_url.strip().rstrip("/")

    @property
    def ws_host(self) -> tuple[str, bool]:
        """(host[:port], secure) as massive's WebSocketClient takes them (feed=, secure=)."""
        url = self.ws_url.strip().rstrip("/")
        for scheme, secure in (("wss://", True), ("ws://", False)):
            if url.startswith(scheme):
                return url[len(scheme) :], secure
        return url, True
