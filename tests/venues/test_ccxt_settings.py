"""The crypto venue's settings, URL override, live-account guard and ccxt's exception tree, each
checked with the real ccxt (against the Binance fake where a request is made)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import ccxt
import pytest

from engine.clock import SystemClock
from engine.models import AssetClass, Instrument, OrderType, Side
from engine.settings import EngineSettings, SettingsError
from engine.settings_group import SettingsError as GroupSettingsError
from engine.settings_group import load_group
from engine.venues.ccxt import errors
from engine.venues.ccxt.build import build_ccxt_broker
from engine.venues.ccxt.exchange import MarketRules, make_exchange
from engine.venues.ccxt.settings import CcxtSettings
from engine.venues.ccxt.translate import order_args
from tests.conftest import make_settings
from tests.venues.broker_contract import make_order
from tests.venues.ccxt_harness import ccxt_settings, fast_exchange
from tests.venues.fakes.binance_book import FakeMarket
from tests.venues.fakes.binance_json import UID
from tests.venues.fakes.binance_rest import API_KEY, SECRET, FakeBinance


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    server = FakeBinance().start()
    server.ex.add_market(FakeMarket("BTCUSDT", "BTC", tick="0.1"), 49_999.9, 50_000.1)
    yield server
    server.stop()


def urls(exchange: object) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(exchange.urls["api"])  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("exchange", ["binance", "bybit"])
def test_url_override_then_every_api_url_points_there_with_its_path(exchange: str) -> None:
    plain = make_exchange(load_group(CcxtSettings, {"VIGIL_CCXT_EXCHANGE": exchange}), False)
    settings = load_group(
        CcxtSettings,
        {"VIGIL_CCXT_EXCHANGE": exchange, "VIGIL_CCXT_API_URL": "http://127.0.0.1:9"},
    )
    pointed = make_exchange(settings, live=False)
    before, after = urls(plain), urls(pointed)
    assert after and all(u.startswith("http://127.0.0.1:9") for u in after)
    assert [urlsplit(u).path for u in before] == [urlsplit(u).path for u in after]
    assert "testnet" in " ".join(before)  # testnet unless live


def test_live_mode_then_the_exchanges_own_urls() -> None:
    live = make_exchange(load_group(CcxtSettings, {}), live=True)
    assert all("testnet" not in u for u in urls(live))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"VIGIL_CCXT_EXCHANGE": "kraken"}, "VIGIL_CCXT_EXCHANGE"),
        ({"VIGIL_CCXT_MARKET": "futures"}, "VIGIL_CCXT_MARKET"),
        ({"VIGIL_CCXT_API_URL": "http://127.0.0.1:9/api"}, "VIGIL_CCXT_API_URL"),
    ],
)
def test_bad_setting_then_one_line_naming_it(env: dict[str, str], variable: str) -> None:
    with pytest.raises(GroupSettingsError, match=f"^{variable}: "):
        load_group(CcxtSettings, env)


def ccxt_settings_for(fake: FakeBinance, data_dir: Path, **extra: str) -> EngineSettings:
    """The engine's settings for a ccxt start on the fake, loaded as at a real start."""
    values = {
        "VIGIL_BROKER": "ccxt",
        "VIGIL_FEED": "ccxt",
        "VIGIL_CCXT_MARKET": "swap",
        "VIGIL_CCXT_API_KEY": API_KEY,
        "VIGIL_CCXT_SECRET": SECRET,
        "VIGIL_CCXT_API_URL": fake.url,
    } | extra
    return make_settings(data_dir, **values).engine


INSTRUMENTS = {"BTCUSDT": Instrument("BTCUSDT", AssetClass.CRYPTO)}


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({"VIGIL_CCXT_API_KEY": ""}, "^VIGIL_CCXT_API_KEY: "),
        ({"VIGIL_TRADING_MODE": "live"}, "^VIGIL_LIVE_ACCOUNT: required"),
        (
            {"VIGIL_TRADING_MODE": "live", "VIGIL_LIVE_ACCOUNT": "999"},
            f"^VIGIL_LIVE_ACCOUNT: binance reports account '{UID}', not '999'",
        ),
    ],
)
def test_builder_refuses_start_in_one_line(
    fake: FakeBinance,
    tmp_path: Path,
    extra: dict[str, str],
    line: str,
) -> None:
    settings = ccxt_settings_for(fake, tmp_path / "var", **extra)
    with pytest.raises(SettingsError, match=line):
        build_ccxt_broker(settings, SystemClock(), INSTRUMENTS)


def test_live_account_matches_then_broker_built(fake: FakeBinance, tmp_path: Path) -> None:
    settings = ccxt_settings_for(
        fake, tmp_path / "var", VIGIL_TRADING_MODE="live", VIGIL_LIVE_ACCOUNT=str(UID)
    )
    broker = build_ccxt_broker(settings, SystemClock(), INSTRUMENTS)
    assert broker.details()["mode"] == "live"
    assert fake.calls("/api/v3/account") == 1  # the account asked, on the live URLs


def test_broker_without_the_ccxt_feed_then_refused(fake: FakeBinance, tmp_path: Path) -> None:
    settings = ccxt_settings_for(fake, tmp_path / "var", VIGIL_FEED="sim")
    with pytest.raises(SettingsError, match=r"^VIGIL_FEED: VIGIL_BROKER=ccxt needs"):
        build_ccxt_broker(settings, SystemClock(), INSTRUMENTS)


@pytest.mark.parametrize(
    ("status", "code", "msg", "raised", "fate"),
    [
        (429, -1003, "Too many requests.", ccxt.DDoSProtection, errors.Fate.RETRY),
        (418, -1003, "Way too many requests; IP banned.", ccxt.DDoSProtection, errors.Fate.RETRY),
        (503, -1001, "Internal error.", ccxt.OperationFailed, errors.Fate.RETRY),
        (401, -2015, "Invalid API-key.", ccxt.AuthenticationError, errors.Fate.AUTH),
        (400, -1013, "Filter failure: NOTIONAL", ccxt.BadRequest, errors.Fate.REFUSED),
        # ccxt 4.5.90 maps -2019 on futures to no subclass: refused all the same.
        (400, -2019, "Margin is insufficient.", ccxt.ExchangeError, errors.Fate.REFUSED),
        (400, -2010, "Account has insufficient balance.", ccxt.InvalidOrder, errors.Fate.REFUSED),
        (400, -2010, "Insufficient balance.", ccxt.InvalidOrder, errors.Fate.REFUSED),
    ],
)
def test_ccxt_exception_then_sorted_by_its_class_tree(
    fake: FakeBinance,
    status: int,
    code: int,
    msg: str,
    raised: type[Exception],
    fate: errors.Fate,
) -> None:
    exchange = fast_exchange(ccxt_settings(fake.url, "swap"))
    exchange.load_markets()
    fake.fail_next(1, status, code, msg, path="/fapi/v1/order")
    with pytest.raises(raised) as caught:
        exchange.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    assert errors.classify(caught.value) is fate
    assert errors.message(caught.value) == msg


def test_timeout_then_request_timeout_is_a_retry(fake: FakeBinance) -> None:
    exchange = fast_exchange(ccxt_settings(fake.url, "swap", VIGIL_CCXT_HTTP_TIMEOUT_S="0.3"))
    exchange.load_markets()
    fake.hang_next(1, path="/fapi/v1/openOrders")
    with pytest.raises(ccxt.RequestTimeout) as caught:
        exchange.fetch_open_orders("BTC/USDT:USDT")
    assert errors.classify(caught.value) is errors.Fate.RETRY


@pytest.mark.parametrize(
    ("exc", "fate"),
    [
        (ccxt.InsufficientFunds('bybit {"retCode":110007,"retMsg":"ab not enough"}'), "refused"),
        (ccxt.ExchangeNotAvailable("bybit 502 Bad Gateway"), "retry"),
        (ccxt.RateLimitExceeded("bybit 403"), "retry"),
        (ccxt.PermissionDenied("bybit no trading permission"), "auth"),
        (KeyError("price"), "bug"),
    ],
)
def test_exception_classes_not_raised_by_the_fake_then_sorted_too(
    exc: Exception, fate: str
) -> None:
    assert errors.classify(exc).value == fate


def test_bybit_contract_stop_then_trigger_direction_from_its_side() -> None:
    """Read from ccxt's bybit.py (not run against a fake): its contracts' trigger orders need
    a direction; a sell stop (a long's stop-loss) triggers on a fall."""
    rules = MarketRules("BTCUSDT", "BTC/USDT:USDT", "BTCUSDT", "BTC", "USDT", 0.1, 0.001, 0.001, 5)
    stop = make_order(Side.SELL, 1.0, OrderType.STOP, reduce_only=True)
    stop = dataclasses.replace(stop, symbol="BTCUSDT", stop_price=49_000.0)
    args = order_args(stop, rules, swap=True, exchange="bybit")
    assert args["params"] == {
        "clientOrderId": stop.id,
        "reduceOnly": True,
        "triggerPrice": 49_000.0,
        "triggerDirection": "descending",
    }
    assert "triggerDirection" not in order_args(stop, rules, True, "binance")["params"]
