"""The import rule: dashboard → engine ← notifier. The engine loads no web layer and no notifier."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("flask", "flask_socketio", "socketio", "engineio", "notifier", "dashboard")


def engine_modules() -> list[str]:
    import engine

    return ["engine"] + [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]


def test_importing_every_engine_module_then_no_web_or_notifier_module_is_loaded() -> None:
    modules = engine_modules()
    assert "engine.runtime" in modules and "engine.safety.latch" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    leaks = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaks == []


def test_notifier_does_not_import_the_dashboard() -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import notifier\n"
        "for m in pkgutil.walk_packages(notifier.__path__, 'notifier.'):\n"
        "    if m.name != 'notifier.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if m.split(".")[0] in ("dashboard", "flask", "flask_socketio")] == []
