"""`.env.example`, every variable Vigil reads with its default, rendered from the settings groups.

`python -m dashboard.settings_docs` rewrites the file; `--check` exits 1 when it is out of date
(tests/test_settings_docs.py fails then too). A variable's line comes from its field: the
alias, the default (or the field's first example, commented out, when it has no default) and
the description; a group's docstring heads its section.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from dashboard.settings import VigilSettings
from engine.settings_group import SettingsGroup
from notifier.settings import WatchdogSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
# Every group a Vigil process reads: the server's tree, then the watchdog's own process.
DOCUMENTED: tuple[type[SettingsGroup], ...] = (*VigilSettings.groups(), WatchdogSettings)
HEADER = (
    "# Vigil configuration. Every variable is optional; the values shown are the defaults.\n"
    "# Copy to .env (gitignored) and export it, or set them in your process manager.\n"
    "# Written by `python -m dashboard.settings_docs` from the settings groups: a new\n"
    '# variable is a field in its group (docs/ARCHITECTURE.md, "Adding a setting").\n'
)
COMMENT_AT = 32


def _value(default: Any) -> str:
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, float):
        return str(int(default)) if default.is_integer() else repr(default)
    if isinstance(default, Path) and not default.is_absolute():
        return f"./{default}"
    return str(default)


def _line(variable: str, field: FieldInfo) -> str:
    default = field.get_default()
    if default is None or default == "":
        example = field.examples[0] if field.examples else ""
        line = f"# {variable}={example}"
    else:
        line = f"{variable}={_value(default)}"
    if not field.description:
        return line
    return f"{line.ljust(COMMENT_AT - 1)} # {field.description}"


def _section(group: type[SettingsGroup]) -> str:
    title = (group.__doc__ or group.__name__).strip().splitlines()[0]
    where = group.__module__.replace(".", "/") + ".py"
    lines = [f"# --- {title} ({where}) ---"]
    lines += [_line(variable, field) for variable, field in group.variables().items()]
    return "\n".join(lines) + "\n"


def render() -> str:
    return "\n".join([HEADER, *(_section(group) for group in DOCUMENTED)])


def main(argv: list[str]) -> int:
    new = render()
    old = ENV_EXAMPLE.read_text(encoding="utf-8") if ENV_EXAMPLE.exists() else ""
    if "--check" in argv:
        if new != old:
            print(f"{ENV_EXAMPLE}: out of date; run python -m dashboard.settings_docs")
            return 1
        return 0
    if new != old:
        ENV_EXAMPLE.write_text(new, encoding="utf-8")
    print(new, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
