"""The base of every settings group: a frozen pydantic-settings model read from the environment.

A group is owned by the package that reads it (the paper venue's next to the paper venue, the
notifier's in notifier/). Its fields name their environment variable as the alias, e.g.
``port: int = Field(5000, alias="VIGIL_PORT")``; `load_group` builds one from a mapping (by
default the process environment) and turns the first validation error into one line naming the
variable, with secrets never echoed. A `SettingsTree` nests groups (and trees): the engine's
root, the process's root; `load()` builds every group in it from the same mapping.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

SECRET_SUFFIXES = ("PASSWORD", "KEY", "TOKEN", "SECRET")
# The error type of `refuse`: its message is the whole text after "VARIABLE: ".
_EXACT = "vigil_settings"


class SettingsError(ValueError):
    """One line that names the variable at fault; printed instead of a traceback."""


def refuse(message: str) -> PydanticCustomError:
    """For a validator: raise refuse("must not be negative (got '-1')") and the one-line error
    is "VARIABLE: " + message exactly (no "Value error, " prefix, no "(got ...)" appended)."""
    return PydanticCustomError(_EXACT, "{message}", {"message": message})


def comma_list(value: str) -> list[str]:
    """A comma-separated variable's items, stripped, empty ones dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


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

    def check(self) -> None:
        """Checks across fields or outside the process (a directory writable); load_group runs
        it after validation. Raise SettingsError("VARIABLE: ...") to refuse the start."""


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
        loaded = group(**values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc, values)) from None
    loaded.check()
    return loaded


def _one_line(exc: ValidationError, values: Mapping[str, Any]) -> str:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "configuration"
    if error["type"] == _EXACT:
        return f"{name}: {error['msg']}"
    shown = values.get(name)
    secret = name.endswith(SECRET_SUFFIXES)
    got = "" if shown is None or secret else f" (got {shown!r})"
    return f"{name}: {error['msg']}{got}"


T = TypeVar("T", bound="SettingsTree")


class SettingsTree(BaseModel):
    """Groups (and trees) nested by concern; each field's type is a group or a tree.

    A field typed ``SomeGroup | None = None`` is optional: loaded only when `wants` says so
    (the engine's root loads a venue's group only when VIGIL_BROKER or VIGIL_FEED names it).
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def load(cls: type[T], env: Mapping[str, str] | None = None) -> T:
        """Every group from the same `env` (default: os.environ), in field order."""
        source = os.environ if env is None else env
        loaded: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            kind, optional = _member(field)
            if optional and not cls.wants(name, loaded):
                loaded[name] = None
            elif issubclass(kind, SettingsGroup):
                loaded[name] = load_group(kind, source)
            else:
                loaded[name] = kind.load(source)
        return cls(**loaded)

    @classmethod
    def wants(cls, name: str, loaded: Mapping[str, Any]) -> bool:
        """Whether the optional member `name` is loaded, given the members loaded before it."""
        return False

    @classmethod
    def groups(cls) -> list[type[SettingsGroup]]:
        """Every group in the tree, depth first in field order (optional ones included)."""
        found: list[type[SettingsGroup]] = []
        for field in cls.model_fields.values():
            kind, _ = _member(field)
            found.extend([kind] if issubclass(kind, SettingsGroup) else kind.groups())
        return found

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Every environment variable the tree reads -> its field."""
        return {name: f for group in cls.groups() for name, f in group.variables().items()}


def _member(field: FieldInfo) -> tuple[type[Any], bool]:
    """A tree field's group (or tree) type, and whether it is optional (``X | None``)."""
    annotation = field.annotation
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation, optional = args[0], True
    if not (isinstance(annotation, type) and issubclass(annotation, SettingsGroup | SettingsTree)):
        raise TypeError(f"a settings tree holds groups and trees, not {annotation!r}")
    return annotation, optional
