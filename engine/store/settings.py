"""The store's settings: the data directory and the files Vigil keeps in it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field

from engine.settings_group import SettingsError, SettingsGroup


class StoreSettings(SettingsGroup):
    """Data directory"""

    data_dir: Path = Field(
        Path("./var"),
        alias="VIGIL_DATA_DIR",
        description="SQLite store, kill-switch latch, secret key, alert outbox; back it up",
    )

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

    def check(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".probe-"):
                pass
        except OSError as exc:
            raise SettingsError(
                f"VIGIL_DATA_DIR: {self.data_dir} is not a writable directory ({exc.strerror})"
            ) from None
