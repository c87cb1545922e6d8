"""RedisSettings: the scale-out settings (engine process + web processes over Redis)."""

from __future__ import annotations

from pydantic import Field

from engine.settings_group import SettingsError, SettingsGroup


class RedisSettings(SettingsGroup):
    """Scale-out: one engine process and web processes over Redis"""

    url: str = Field(
        "",
        alias="VIGIL_REDIS_URL",
        description="redis://host:port/db; set: `flask --app wsgi engine` runs the engine alone "
        "and the web processes talk to it through Redis; unset: one process (make run)",
    )
    prefix: str = Field(
        "vigil",
        alias="VIGIL_REDIS_PREFIX",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="prefix of every Redis key and channel, so two Vigils can share one Redis",
    )
    command_timeout_s: float = Field(
        10.0,
        alias="VIGIL_REDIS_COMMAND_TIMEOUT_S",
        gt=0,
        le=120,
        description="how long a web process waits for the engine's answer to a command",
    )
    heartbeat_ttl_s: float = Field(
        5.0,
        alias="VIGIL_REDIS_HEARTBEAT_TTL_S",
        ge=1,
        le=300,
        description="the engine's heartbeat in Redis expires after this; web /readyz then says "
        "the engine is not reachable; a dead web process's socket holds leave the shared "
        "per-address count within this time",
    )
    web_workers: int = Field(
        1,
        alias="VIGIL_WEB_WORKERS",
        ge=1,
        le=64,
        description="gunicorn workers per web process; more than 1 only with VIGIL_REDIS_URL",
    )

    max_connections: int = Field(
        5000,
        alias="VIGIL_MAX_CONNECTIONS",
        ge=10,
        le=100_000,
        description="open websockets per web worker over Redis (gevent worker: no thread per "
        "page); more get 503 and retry",
    )

    def check(self) -> None:
        if self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("VIGIL_REDIS_URL: must start with redis://, rediss:// or unix://")
        if self.web_workers > 1 and not self.url:
            raise SettingsError(
                "VIGIL_WEB_WORKERS: more than 1 needs VIGIL_REDIS_URL "
                "(one process holds the engine)"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def channel(self) -> str:
        """The Flask-SocketIO message queue's pub/sub channel."""
        return f"{self.prefix}-socketio"
