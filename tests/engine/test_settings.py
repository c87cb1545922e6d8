"""Settings groups: loaded from a given mapping, one-line errors, checks, the engine's tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, field_validator

from engine.market.settings import RegimeSettings
from engine.safety.settings import LimitSettings
from engine.settings import EngineSettings
from engine.settings_group import (
    SettingsError,
    SettingsGroup,
    SettingsTree,
    load_group,
    refuse,
)
from engine.store.settings import StoreSettings
from engine.venues.settings import FeedSettings


class _VenueSettings(SettingsGroup):
    """A venue's own group as a venue folder would declare it: a required secret."""

    api_key: str = Field(alias="VIGIL_TEST_VENUE_API_KEY", min_length=20, repr=False)
    region: str = Field("eu", alias="VIGIL_TEST_VENUE_REGION")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in ("eu", "us"):
            raise refuse(f"no region {value!r} (use eu or us)")
        return value


class _EngineWithVenue(EngineSettings):
    # The one line a venue adds to the engine's root; ccxt's slot, its real group swapped for this.
    ccxt: _VenueSettings | None = None  # type: ignore[assignment]


def test_group_from_a_mapping_then_its_values_and_defaults_not_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIL_MAX_POSITIONS", "9")  # the process's own: not the mapping given
    limits = load_group(LimitSettings, {"VIGIL_MAX_NOTIONAL": "750", "VIGIL_STALE_QUOTE_S": ""})

    assert limits.max_notional == 750
    assert limits.max_positions == 3  # the default, not the process environment's 9
    assert limits.stale_quote_s == 10  # an empty variable counts as unset


def test_group_without_a_mapping_then_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIL_MAX_POSITIONS", "9")
    assert load_group(LimitSettings).max_positions == 9


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"VIGIL_MAX_NOTIONAL": "lots"},
            "VIGIL_MAX_NOTIONAL: Input should be a valid number, unable to parse string as a "
            "number (got 'lots')",
        ),
        (
            {"VIGIL_MAX_POSITIONS": "-1"},
            "VIGIL_MAX_POSITIONS: Input should be greater than or equal to 0 (got '-1')",
        ),
        (
            {"VIGIL_SESSION_TZ": "Mars/Olympus"},
            "VIGIL_SESSION_TZ: Value error, unknown time zone 'Mars/Olympus' (got 'Mars/Olympus')",
        ),
        (
            {"VIGIL_REGIME_ULTRA_LOW_BELOW": "30"},
            "VIGIL_REGIME_ULTRA_LOW_BELOW: must be below VIGIL_REGIME_HIGH_ABOVE",
        ),
        (
            {"VIGIL_FEED": "replay"},
            "VIGIL_REPLAY_CSV: required when VIGIL_FEED=replay (a CSV file path)",
        ),
    ],
)
def test_bad_value_then_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        EngineSettings.load({"VIGIL_DATA_DIR": str(tmp_path), **env})
    assert str(caught.value) == message


def test_bad_secret_then_named_but_never_echoed() -> None:
    secret = "short-but-private"
    with pytest.raises(SettingsError) as caught:
        load_group(_VenueSettings, {"VIGIL_TEST_VENUE_API_KEY": secret})
    assert str(caught.value) == (
        "VIGIL_TEST_VENUE_API_KEY: String should have at least 20 characters"
    )
    assert secret not in str(caught.value) and "\n" not in str(caught.value)


def test_refuse_then_exactly_its_text_after_the_variable() -> None:
    env = {"VIGIL_TEST_VENUE_API_KEY": "k" * 20, "VIGIL_TEST_VENUE_REGION": "mars"}
    with pytest.raises(SettingsError) as caught:
        load_group(_VenueSettings, env)
    assert str(caught.value) == "VIGIL_TEST_VENUE_REGION: no region 'mars' (use eu or us)"


def test_data_dir_not_writable_then_refused_naming_it(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    with pytest.raises(SettingsError, match=r"^VIGIL_DATA_DIR: .*a-file is not a writable"):
        load_group(StoreSettings, {"VIGIL_DATA_DIR": str(taken)})


def test_data_dir_when_other_settings_are_bad_then_not_created(tmp_path: Path) -> None:
    wanted = tmp_path / "var"
    with pytest.raises(SettingsError, match=r"^VIGIL_SIM_SPEED: "):
        EngineSettings.load({"VIGIL_DATA_DIR": str(wanted), "VIGIL_SIM_SPEED": "0"})
    assert not wanted.exists()


def test_engine_tree_from_one_mapping_then_each_group_holds_its_variables(tmp_path: Path) -> None:
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "var"),
        "VIGIL_MAX_ORDER_QTY": "7",
        "VIGIL_SESSION_START": "09:30",
        "VIGIL_PAPER_LATENCY_MS": "0",
        "VIGIL_REGIME_HIGH_ABOVE": "30",
        "VIGIL_SYMBOLS": "SPY, QQQ",
    }
    settings = EngineSettings.load(env)

    assert settings.limits.max_order_qty == 7
    assert settings.session.start == "09:30"
    assert settings.paper.latency_ms == 0
    assert settings.regime.high_above == 30
    assert settings.feed.symbol_list == ["SPY", "QQQ"]
    assert settings.store.db_path == tmp_path / "var" / "vigil.sqlite3"
    assert (tmp_path / "var").is_dir()


def test_venue_group_when_its_venue_is_not_chosen_then_not_loaded(tmp_path: Path) -> None:
    settings = _EngineWithVenue.load({"VIGIL_DATA_DIR": str(tmp_path)})  # no key: not needed
    assert settings.ccxt is None


def test_venue_group_when_its_venue_is_chosen_then_loaded_and_checked(tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path), "VIGIL_BROKER": "ccxt"}
    with pytest.raises(SettingsError, match=r"^VIGIL_TEST_VENUE_API_KEY: Field required$"):
        _EngineWithVenue.load(env)

    key = "k" * 24
    settings = _EngineWithVenue.load({**env, "VIGIL_TEST_VENUE_API_KEY": key})
    assert settings.ccxt is not None and settings.ccxt.api_key == key
    assert key not in repr(settings)


def test_venue_group_when_named_as_the_feed_then_loaded(tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path), "VIGIL_FEED": "ccxt"}
    settings = _EngineWithVenue.load({**env, "VIGIL_TEST_VENUE_API_KEY": "k" * 20})
    assert settings.ccxt is not None


def test_tree_member_that_is_no_group_then_refused() -> None:
    class Broken(SettingsTree):
        port: int

    with pytest.raises(TypeError, match="groups and trees"):
        Broken.load({})


def test_variables_of_the_engine_tree_then_every_group_and_each_variable_once() -> None:
    groups = EngineSettings.groups()
    names = [variable for group in groups for variable in group.variables()]

    assert len(names) == len(set(names)), "a variable declared in two groups"
    assert {FeedSettings, LimitSettings, RegimeSettings, StoreSettings} <= set(groups)
    assert set(EngineSettings.variables()) == set(names)


def test_real_venue_groups_then_loaded_from_the_mapping_only_for_the_chosen_feed(
    tmp_path: Path,
) -> None:
    base = {"VIGIL_DATA_DIR": str(tmp_path), "VIGIL_POLYGON_STALE_S": "7"}
    paper_only = EngineSettings.load(base)
    assert paper_only.polygon is None and paper_only.alpaca is None

    polygon = EngineSettings.load({**base, "VIGIL_FEED": "polygon", "POLYGON_API_KEY": "k"})
    assert polygon.polygon is not None and polygon.polygon.stale_after_s == 7
    assert polygon.alpaca is None
