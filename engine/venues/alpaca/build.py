"""Builds the Alpaca broker from its settings: keys required, the live-mode guard checked
against the account Alpaca reports, before anything trades."""

from __future__ import annotations

import random
import secrets
from pathlib import Path

from engine.clock import Clock
from engine.models import Instrument
from engine.settings import SettingsError
from engine.settings_group import SettingsError as GroupSettingsError
from engine.venues.alpaca.broker import AlpacaBroker
from engine.venues.alpaca.rest import AlpacaRest, build_client
from engine.venues.alpaca.settings import AlpacaSettings
from engine.venues.alpaca.stream import TradeUpdatesThread
from engine.venues.base import Broker, VenueError
from engine.venues.mode import TradingModeSettings, check_live_account
from engine.venues.net import Backoff, RequestBudget

SUFFIX_FILE = "alpaca_client_id"
KILL_PATH_RESERVE = 20  # requests a minute that only cancels and closes may spend


def build_from_settings(
    alpaca: AlpacaSettings,
    mode: TradingModeSettings,
    data_dir: Path,
    clock: Clock,
    instruments: dict[str, Instrument],
) -> Broker:
    """The registry's builder, from Alpaca's group and the trading mode (EngineSettings)."""
    suffix = client_suffix(data_dir)
    return connect_alpaca(alpaca, mode, clock, instruments, client_suffix=suffix)


def client_suffix(data_dir: Path) -> str:
    """This data directory's mark on its client_order_ids, made once and kept in it."""
    path = data_dir / SUFFIX_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    except OSError as exc:
        raise SettingsError(f"VIGIL_DATA_DIR: cannot read {path}: {exc}") from None
    if not token:
        token = secrets.token_hex(4)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(token + "\n")
            temp.replace(path)
        except OSError as exc:
            raise SettingsError(f"VIGIL_DATA_DIR: cannot write {path}: {exc}") from None
    return f".v{token}"


def make_alpaca_broker(
    alpaca: AlpacaSettings,
    mode: TradingModeSettings,
    clock: Clock,
    instruments: dict[str, Instrument],
    *,
    rng: random.Random | None = None,
    client_suffix: str = "",
) -> AlpacaBroker:
    """The broker, not yet connected (tests build it this way around a fake)."""
    client = build_client(
        alpaca.api_key,
        alpaca.secret_key,
        alpaca.trading_base(mode.live),
        alpaca.http_timeout_s,
        paper=not mode.live,
    )
    reserve = min(KILL_PATH_RESERVE, alpaca.requests_per_minute // 5)
    budget = RequestBudget(alpaca.requests_per_minute, 60.0, reserve=reserve, clock=clock)
    broker = AlpacaBroker(
        AlpacaRest(client, budget, alpaca.http_timeout_s),
        None,
        instruments,
        clock=clock,
        mode=mode.trading_mode,
        extended_hours=alpaca.extended_hours,
        poll_s=alpaca.poll_s,
        client_suffix=client_suffix,
    )
    broker.attach_stream(
        TradeUpdatesThread(
            alpaca.api_key,
            alpaca.secret_key,
            alpaca.trading_stream(mode.live),
            on_message=broker.on_message,
            on_state=broker.on_stream_state,
            on_resync=broker.resync,
            backoff=Backoff(0.5, 30.0, rng=rng),
            timeout_s=alpaca.http_timeout_s,
        )
    )
    return broker


def connect_alpaca(
    alpaca: AlpacaSettings,
    mode: TradingModeSettings,
    clock: Clock,
    instruments: dict[str, Instrument],
    *,
    client_suffix: str = "",
) -> AlpacaBroker:
    """Keys present, Alpaca reachable, the account the one live mode may trade: or one line."""
    if not alpaca.has_keys:
        raise SettingsError(
            "ALPACA_API_KEY: required with ALPACA_SECRET_KEY when VIGIL_BROKER=alpaca "
            "(paper keys from the Alpaca dashboard)"
        )
    broker = make_alpaca_broker(alpaca, mode, clock, instruments, client_suffix=client_suffix)
    try:
        account = broker.connect()
    except VenueError as exc:
        if "(401)" in str(exc) or "(403)" in str(exc):
            raise SettingsError(f"ALPACA_API_KEY: Alpaca refused the keys: {exc}") from None
        raise SettingsError(f"VIGIL_ALPACA_TRADING_URL: {exc}") from None
    try:
        check_live_account(mode, account.account_id, "Alpaca")
    except GroupSettingsError as exc:
        raise SettingsError(str(exc)) from None
    return broker
