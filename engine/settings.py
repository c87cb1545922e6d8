"""Vigil's configuration: environment variables, validated once at start."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.venues.replay.csv_file import parse_timestamp

DEFAULT_BREAKERS = "rapid_loss,error_rate,drawdown,daily_loss,max_positions,order_rate,stale_feed"


class SettingsError(ValueError):
    """One line that names the variable at fault; printed instead of a traceback."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    host: str = Field("127.0.0.1", alias="VIGIL_HOST")
    port: int = Field(5000, alias="VIGIL_PORT", ge=1, le=65535)
    data_dir: Path = Field(Path("./var"), alias="VIGIL_DATA_DIR")
    broker: Literal["paper", "alpaca", "ccxt"] = Field("paper", alias="VIGIL_BROKER")
    feed: Literal["sim", "replay", "alpaca", "polygon", "ccxt"] = Field("sim", alias="VIGIL_FEED")
    symbols: str = Field("", alias="VIGIL_SYMBOLS")
    strategy: Literal["demo", "none"] = Field("demo", alias="VIGIL_STRATEGY")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="VIGIL_LOG_LEVEL")

    seed: int = Field(42, alias="VIGIL_SEED")
    sim_speed: float = Field(1.0, alias="VIGIL_SIM_SPEED", gt=0, le=1000)
    sim_tick_ms: int = Field(200, alias="VIGIL_SIM_TICK_MS", ge=1, le=60_000)
    sim_history_s: float = Field(6 * 3600.0, alias="VIGIL_SIM_HISTORY_S", ge=0, le=7 * 86_400)
    # The simulated market saves its state (data dir / sim_market.json) this often.
    sim_save_s: float = Field(5.0, alias="VIGIL_SIM_SAVE_S", gt=0, le=3600)
    replay_csv: str = Field("", alias="VIGIL_REPLAY_CSV")
    replay_symbol: str = Field("", alias="VIGIL_REPLAY_SYMBOL")
    replay_speed: float = Field(60.0, alias="VIGIL_REPLAY_SPEED", gt=0, le=1_000_000)
    replay_start: str = Field("", alias="VIGIL_REPLAY_START")
    starting_balance: float = Field(100_000.0, alias="VIGIL_STARTING_BALANCE", gt=0)
    fee_bps: float = Field(1.0, alias="VIGIL_FEE_BPS", ge=0, le=1000)
    slippage_bps: float = Field(1.0, alias="VIGIL_SLIPPAGE_BPS", ge=0, le=1000)
    # The paper venue (engine/venues/paper): how late it answers, how much one fill may take
    # (0: the whole order), and faults to rehearse with: "reject", "fail" or "stall".
    paper_latency_ms: int = Field(20, alias="VIGIL_PAPER_LATENCY_MS", ge=0, le=60_000)
    paper_max_fill_qty: float = Field(0.0, alias="VIGIL_PAPER_MAX_FILL_QTY", ge=0)
    paper_faults: Literal["", "reject", "fail", "stall"] = Field("", alias="VIGIL_PAPER_FAULTS")

    regime_ultra_low_below: float = Field(12.0, alias="VIGIL_REGIME_ULTRA_LOW_BELOW", gt=0)
    regime_high_above: float = Field(25.0, alias="VIGIL_REGIME_HIGH_ABOVE", gt=0)

    max_order_qty: float = Field(1_000.0, alias="VIGIL_MAX_ORDER_QTY", gt=0)
    max_notional: float = Field(500.0, alias="VIGIL_MAX_NOTIONAL", gt=0)
    max_positions: int = Field(3, alias="VIGIL_MAX_POSITIONS", ge=0)
    daily_loss_limit: float = Field(1_000.0, alias="VIGIL_DAILY_LOSS_LIMIT", gt=0)
    price_collar_pct: float = Field(5.0, alias="VIGIL_PRICE_COLLAR_PCT", gt=0, le=100)
    stale_quote_s: float = Field(10.0, alias="VIGIL_STALE_QUOTE_S", gt=0)
    order_rate_max: int = Field(20, alias="VIGIL_ORDER_RATE_MAX", ge=1)
    order_rate_window_s: float = Field(60.0, alias="VIGIL_ORDER_RATE_WINDOW_S", gt=0)
    breakers: str = Field(DEFAULT_BREAKERS, alias="VIGIL_BREAKERS")
    session_tz: str = Field("America/New_York", alias="VIGIL_SESSION_TZ")
    session_start: str = Field("00:00", alias="VIGIL_SESSION_START", pattern=r"^\d{2}:\d{2}$")
    # Reconciliation with the venue's record (engine/trading/reconcile.py): how often while
    # running, and how old an order or fill must be before it is compared (in flight before).
    reconcile_every_s: float = Field(30.0, alias="VIGIL_RECONCILE_EVERY_S", gt=0, le=86_400)
    reconcile_grace_s: float = Field(10.0, alias="VIGIL_RECONCILE_GRACE_S", ge=0, le=3600)

    admin_password: str | None = Field(None, alias="VIGIL_ADMIN_PASSWORD", repr=False)
    secret_key: str | None = Field(None, alias="VIGIL_SECRET_KEY", repr=False)
    secure_cookies: bool = Field(False, alias="VIGIL_SECURE_COOKIES")
    allowed_origins: str = Field("", alias="VIGIL_ALLOWED_ORIGINS")
    trust_proxy: bool = Field(False, alias="VIGIL_TRUST_PROXY")
    max_message_bytes: int = Field(65_536, alias="VIGIL_MAX_MESSAGE_BYTES", ge=1024)
    # gunicorn's thread count (gunicorn.conf.py reads it too); the web layer keeps some free.
    threads: int = Field(32, alias="VIGIL_THREADS", ge=4, le=1024)
    max_connections_per_ip: int = Field(8, alias="VIGIL_MAX_CONNECTIONS_PER_IP", ge=1, le=1024)

    pushover_user_key: str | None = Field(None, alias="PUSHOVER_USER_KEY", repr=False)
    pushover_api_token: str | None = Field(None, alias="PUSHOVER_API_TOKEN", repr=False)
    pushover_api_url: str = Field(
        "https://api.pushover.net/1/messages.json", alias="VIGIL_PUSHOVER_API_URL"
    )

    @field_validator("session_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("replay_start")
    @classmethod
    def _valid_start(cls, value: str) -> str:
        if value.strip():
            parse_timestamp(value)  # its ValueError names the problem
        return value

    @field_validator("symbols")
    @classmethod
    def _distinct_symbols(cls, value: str) -> str:
        names = _comma_list(value)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return value

    @property
    def symbol_list(self) -> list[str]:
        """VIGIL_SYMBOLS as a list; empty means the feed's own default set."""
        return _comma_list(self.symbols)

    @property
    def replay_paths(self) -> list[Path]:
        return [Path(p) for p in _comma_list(self.replay_csv)]

    @property
    def replay_symbols(self) -> list[str]:
        return _comma_list(self.replay_symbol)

    @property
    def replay_start_ts(self) -> float | None:
        return parse_timestamp(self.replay_start) if self.replay_start.strip() else None

    @property
    def breaker_names(self) -> list[str]:
        return [name.strip() for name in self.breakers.split(",") if name.strip()]

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "vigil.sqlite3"

    @property
    def latch_path(self) -> Path:
        return self.data_dir / "kill_switch.json"

    @property
    def paper_venue_path(self) -> Path:
        """The paper venue's own record of orders, positions, cash and fills."""
        return self.data_dir / "paper_venue.json"


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from `env` (default: os.environ) and check the data directory.

    Raises SettingsError with one line naming the variable, e.g.
    ``VIGIL_PORT: Input should be a valid integer (got 'abc')``.
    """
    source = dict(os.environ if env is None else env)
    fields = Settings.model_fields
    known = {f.alias for f in fields.values() if f.alias}
    values: dict[str, object] = {k: v for k, v in source.items() if k in known and v != ""}
    for name, value in overrides.items():
        values[fields[name].alias or name] = value
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "configuration"
        shown = values.get(name)
        secret = name.endswith(("PASSWORD", "KEY", "TOKEN", "SECRET"))
        got = "" if shown is None or secret else f" (got {shown!r})"
        raise SettingsError(f"{name}: {error['msg']}{got}") from None
    if settings.feed == "replay" and not settings.replay_paths:
        raise SettingsError("VIGIL_REPLAY_CSV: required when VIGIL_FEED=replay (a CSV file path)")
    if settings.regime_ultra_low_below >= settings.regime_high_above:
        raise SettingsError("VIGIL_REGIME_ULTRA_LOW_BELOW: must be below VIGIL_REGIME_HIGH_ABOVE")
    _check_writable(settings.data_dir)
    return settings


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise SettingsError(
            f"VIGIL_DATA_DIR: {path} is not a writable directory ({exc.strerror})"
        ) from None
