"""The process's settings: engine, web and alerts groups from one environment, checked at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.settings import VigilSettings, load_settings
from engine.settings_group import SettingsError


def test_process_settings_from_one_mapping_then_each_part_reads_its_own(tmp_path: Path) -> None:
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "var"),
        "VIGIL_PORT": "5123",
        "VIGIL_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "VIGIL_MAX_NOTIONAL": "750",
        "VIGIL_ALERT_MIN_PRIORITY": "high",
        "VIGIL_ALERT_DEDUPE_S": "60",
        "PUSHOVER_API_TOKEN": "a-token-never-shown",
        "VIGIL_ADMIN_PASSWORD": "a-password-never-shown",
    }
    settings = load_settings(env)

    assert isinstance(settings, VigilSettings)
    assert settings.web.port == 5123
    assert settings.web.origins == ["https://a.example", "https://b.example"]
    assert settings.engine.limits.max_notional == 750
    assert settings.engine.store.data_dir == tmp_path / "var"
    assert (settings.alerts.min_priority, settings.alerts.dedupe_s) == (1, 60)
    shown = repr(settings)
    assert "a-token-never-shown" not in shown and "a-password-never-shown" not in shown


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VIGIL_THREADS",
            "2",
            "VIGIL_THREADS: Input should be greater than or equal to 4 (got '2')",
        ),
        ("VIGIL_ALERT_QUEUE_SIZE", "0", "VIGIL_ALERT_QUEUE_SIZE: must be at least 1"),
        (
            "VIGIL_ORDER_RATE_MAX",
            "0",
            "VIGIL_ORDER_RATE_MAX: Input should be greater than or equal to 1 (got '0')",
        ),
    ],
)
def test_bad_value_in_any_part_then_one_line_before_anything_starts(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"VIGIL_DATA_DIR": str(tmp_path / "var"), variable: value})
    assert str(caught.value) == message


def test_process_tree_then_engine_web_and_alert_groups_all_in_it() -> None:
    variables = VigilSettings.variables()
    assert {"VIGIL_PORT", "VIGIL_DATA_DIR", "VIGIL_MAX_NOTIONAL", "PUSHOVER_USER_KEY"} <= set(
        variables
    )
