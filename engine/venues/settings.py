"""Which venues Vigil connects to, and how the simulated or recorded market is played."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from engine.settings_group import SettingsError, SettingsGroup, comma_list
from engine.venues.replay.csv_file import parse_timestamp


class BrokerSettings(SettingsGroup):
    """Broker"""

    name: Literal["paper", "alpaca", "ccxt"] = Field(
        "paper", alias="VIGIL_BROKER", description="paper | alpaca | ccxt"
    )


class FeedSettings(SettingsGroup):
    """Market data: the feed, and how the simulated or recorded market is played"""

    name: Literal["sim", "replay", "alpaca", "polygon", "ccxt"] = Field(
        "sim",
        alias="VIGIL_FEED",
        description="sim | replay | alpaca | polygon | ccxt",
    )
    symbols: str = Field(
        "",
        alias="VIGIL_SYMBOLS",
        description="instruments, comma-separated in the venue's notation (SPY,QQQ); "
        "default: the feed's set",
    )
    seed: int = Field(42, alias="VIGIL_SEED", description="simulated market seed")
    sim_speed: float = Field(
        1.0,
        alias="VIGIL_SIM_SPEED",
        gt=0,
        le=1000,
        description="simulated seconds per wall-clock second",
    )
    sim_tick_ms: int = Field(
        200,
        alias="VIGIL_SIM_TICK_MS",
        ge=1,
        le=60_000,
        description="how often the simulated (or recorded) market steps",
    )
    sim_history_s: float = Field(
        6 * 3600.0,
        alias="VIGIL_SIM_HISTORY_S",
        ge=0,
        le=7 * 86_400,
        description="history generated at start for the charts "
        "(replay: the recorded bars before the start)",
    )
    sim_save_s: float = Field(
        5.0,
        alias="VIGIL_SIM_SAVE_S",
        gt=0,
        le=3600,
        description="how often the simulated market saves its state (data dir/sim_market.json)",
    )
    replay_csv: str = Field(
        "",
        alias="VIGIL_REPLAY_CSV",
        description="replay: OHLCV CSV file(s), comma-separated "
        "(timestamp,open,high,low,close,volume[,symbol])",
    )
    replay_symbol: str = Field(
        "",
        alias="VIGIL_REPLAY_SYMBOL",
        description="replay: the symbol of each file without a symbol column, in order",
    )
    replay_speed: float = Field(
        60.0,
        alias="VIGIL_REPLAY_SPEED",
        gt=0,
        le=1_000_000,
        description="replay: recorded seconds per second",
    )
    replay_start: str = Field(
        "",
        alias="VIGIL_REPLAY_START",
        description="replay: start here (ISO 8601 with a zone, or epoch s/ms); "
        "default the first bar",
    )

    @field_validator("replay_start")
    @classmethod
    def _valid_start(cls, value: str) -> str:
        if value.strip():
            parse_timestamp(value)  # its ValueError names the problem
        return value

    @field_validator("symbols")
    @classmethod
    def _distinct_symbols(cls, value: str) -> str:
        names = comma_list(value)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return value

    def check(self) -> None:
        if self.name == "replay" and not self.replay_paths:
            raise SettingsError(
                "VIGIL_REPLAY_CSV: required when VIGIL_FEED=replay (a CSV file path)"
            )

    @property
    def symbol_list(self) -> list[str]:
        """VIGIL_SYMBOLS as a list; empty means the feed's own default set."""
        return comma_list(self.symbols)

    @property
    def replay_paths(self) -> list[Path]:
        return [Path(p) for p in comma_list(self.replay_csv)]

    @property
    def replay_symbols(self) -> list[str]:
        return comma_list(self.replay_symbol)

    @property
    def replay_start_ts(self) -> float | None:
        return parse_timestamp(self.replay_start) if self.replay_start.strip() else None
