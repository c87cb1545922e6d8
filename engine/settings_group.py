"""The base of every settings group: a frozen pydantic-settings model read from the environment.

A group is owned by the package that reads it (the paper venue's next to the paper venue, the
notifier's in notifier/). Its fields name their environment variable as the alias, e.g.
``port: int = Field(5000, alias="VIGIL_PORT")``; `load_group` builds one from a mapping (by
default the process environment) and turns the first validation error into one line naming the
variable, with secrets never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

SECRET_SUFFIXES = ("PASSWORD", "KEY", "TOKEN", "SECRET")


class SettingsError(ValueError):
    """One line that names the variable at fault; printed instead of a traceback."""


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ,
    so a test (or a second loader) passes its own environment without patching the process."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(dict(self._env), True, True, None)


class SettingsGroup(BaseSettings):
    """One concern's settings; subclasses declare fields with their variable as the alias."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, case_sensitive=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what load_group passes: keyword overrides first, then the mapping it was given.
        return (init_settings,)

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Environment variable name -> field, for docs and for the one-line errors."""
        return {field.alias or name: field for name, field in cls.model_fields.items()}


G = TypeVar("G", bound=SettingsGroup)


def load_group(group: type[G], env: Mapping[str, str] | None = None, **overrides: Any) -> G:
    """Build `group` from `env` (default: os.environ); `overrides` are by field name.

    Raises SettingsError naming the variable, e.g.
    ``VIGIL_PORT: Input should be a valid integer (got 'abc')``.
    """
    source = _MappingEnvSource(group, os.environ if env is None else env)
    values: dict[str, Any] = dict(source())
    fields = group.model_fields
    for name, value in overrides.items():
        values[fields[name].alias or name] = value
    try:
        return group(**values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc, values)) from None


def _one_line(exc: ValidationError, values: Mapping[str, Any]) -> str:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "configuration"
    shown = values.get(name)
    secret = name.endswith(SECRET_SUFFIXES)
    got = "" if shown is None or secret else f" (got {shown!r})"
    return f"{name}: {error['msg']}{got}"
