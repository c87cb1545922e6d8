"""The web layer's settings, and the process's root: engine + web + alerts in one tree.

The root lives here, where the engine's tree, the web group and the notifier's group are all
visible (engine/ sees neither of the others); wsgi.py loads it once at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from dashboard.redis_settings import RedisSettings
from engine.settings import EngineSettings
from engine.settings_group import SettingsError, SettingsGroup, SettingsTree, comma_list
from notifier.settings import AlertSettings


class WebSettings(SettingsGroup):
    """Web server, accounts and sessions"""

    host: str = Field(
        "127.0.0.1",
        alias="VIGIL_HOST",
        description="bind address; anything but loopback needs TLS (see README, Security)",
    )
    port: int = Field(5000, alias="VIGIL_PORT", ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", alias="VIGIL_LOG_LEVEL", description="DEBUG | INFO | WARNING | ERROR"
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        alias="VIGIL_LOG_FORMAT",
        description="text | json: one JSON object per line (ts, level, logger, message, exc_info)",
    )
    admin_password: str | None = Field(
        None,
        alias="VIGIL_ADMIN_PASSWORD",
        repr=False,
        description="creates/updates the 'admin' user at start; "
        "unset on first run → generated and printed once",
    )
    secret_key: str | None = Field(
        None,
        alias="VIGIL_SECRET_KEY",
        repr=False,
        description="session signing key; unset → generated once into $VIGIL_DATA_DIR/secret_key",
    )
    secure_cookies: bool = Field(
        False,
        alias="VIGIL_SECURE_COOKIES",
        description="1 behind TLS: cookies only over https",
    )
    allowed_origins: str = Field(
        "",
        alias="VIGIL_ALLOWED_ORIGINS",
        description="extra origins allowed for Socket.IO and POSTs, comma-separated; "
        "default same-origin only",
    )
    trust_proxy: bool = Field(
        False,
        alias="VIGIL_TRUST_PROXY",
        description="1 behind a reverse proxy that sets X-Forwarded-For/-Proto/-Host",
    )
    max_message_bytes: int = Field(
        65_536,
        alias="VIGIL_MAX_MESSAGE_BYTES",
        ge=1024,
        description="largest inbound HTTP body or Socket.IO message",
    )
    threads: int = Field(
        32,
        alias="VIGIL_THREADS",
        ge=4,
        le=1024,
        description="gunicorn threads; each open websocket holds one, "
        "a quarter (>= 3) stays free for requests",
    )
    max_connections_per_ip: int = Field(
        8,
        alias="VIGIL_MAX_CONNECTIONS_PER_IP",
        ge=1,
        le=1024,
        description="open websockets per client address (needs VIGIL_TRUST_PROXY=1 behind a proxy)",
    )

    @property
    def origins(self) -> list[str]:
        return comma_list(self.allowed_origins)


class WebhookSettings(SettingsGroup):
    """Signal webhook: POST /api/signals, signed with HMAC-SHA256"""

    secret: str = Field(
        "",
        alias="VIGIL_WEBHOOK_SECRET",
        repr=False,
        description="the HMAC-SHA256 key senders sign with (>= 16 characters); "
        "unset: the webhook is off",
    )
    rate_per_min: int = Field(
        60,
        alias="VIGIL_WEBHOOK_RATE_PER_MIN",
        ge=1,
        le=6000,
        description="webhook requests per minute per client address; more are refused (429)",
    )

    def check(self) -> None:
        if self.secret and len(self.secret.strip()) < 16:
            raise SettingsError("VIGIL_WEBHOOK_SECRET: must be at least 16 characters")


class VigilSettings(SettingsTree):
    """Everything the serving process reads: `settings.engine.limits.max_order_qty`,
    `settings.web.port`, `settings.alerts.dedupe_s`."""

    web: WebSettings
    webhook: WebhookSettings
    redis: RedisSettings
    alerts: AlertSettings
    engine: EngineSettings


def load_settings(env: Mapping[str, str] | None = None) -> VigilSettings:
    """The process's settings from `env` (default: os.environ).

    Raises SettingsError with one line naming the variable, e.g.
    ``VIGIL_PORT: Input should be a valid integer (got 'abc')``.
    """
    return VigilSettings.load(env)
