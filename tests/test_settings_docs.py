"""Every variable Vigil reads has one home (one field in one group) and is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dashboard import settings_docs
from dashboard.settings import VigilSettings
from notifier.settings import WatchdogSettings

ROOT = Path(__file__).resolve().parents[1]
NAMED = re.compile(r"\b(?:VIGIL|PUSHOVER)_[A-Z0-9_]+\b")
# The variable of docs/ARCHITECTURE.md's worked example "Adding a setting": read by no group.
EXAMPLES = {"VIGIL_SESSION_HOURS"}


def _documented() -> set[str]:
    return {name for group in settings_docs.DOCUMENTED for name in group.variables()}


def _read_by_vigil() -> set[str]:
    """What the serving process and the watchdog read, found from their roots."""
    return set(VigilSettings.variables()) | set(WatchdogSettings.variables())


def test_env_example_is_rendered_from_the_groups() -> None:
    text = settings_docs.ENV_EXAMPLE.read_text(encoding="utf-8")
    assert settings_docs.render() == text, "run: python -m dashboard.settings_docs"


def test_every_variable_then_its_own_line_in_env_example() -> None:
    text = settings_docs.ENV_EXAMPLE.read_text(encoding="utf-8")
    lines = [re.sub(r"^# ", "", line).split("=", 1)[0] for line in text.splitlines()]
    for variable in _read_by_vigil():
        assert lines.count(variable) == 1, f"{variable} is not in .env.example once"


def test_each_variable_then_declared_in_one_group_only() -> None:
    names = [n for group in settings_docs.DOCUMENTED for n in group.variables()]
    assert len(names) == len(set(names))


def test_every_variable_the_docs_name_then_one_a_group_reads() -> None:
    """No stale name: README.md and docs/*.md only name variables some group declares."""
    known = _read_by_vigil() | EXAMPLES
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        unknown = set(NAMED.findall(doc.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{doc.name} names {sorted(unknown)}, which no settings group reads"


def test_check_command_when_up_to_date_then_exit_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.settings_docs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
