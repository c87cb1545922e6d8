"""Chart history fetched off the engine thread, handed over in slices the engine can wait on.

A remote feed's history is a few REST calls that may take seconds (or hang until their
deadline). The engine loads history in slices between queued commands (engine/runtime.py);
`background_slices` runs the fetch on its own thread and yields an empty slice every
`wait_s` until it is done, so a kill switch pressed during the load is handled at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

E = TypeVar("E")
SLICE_WAIT_S = 0.05  # the engine waits at most this long per slice (commands first)


def background_slices(
    fetch: Callable[[], Sequence[E]],
    progress: Callable[[], float],
    *,
    name: str,
    wait_s: float = SLICE_WAIT_S,
) -> Iterator[tuple[float, list[E]]]:
    """Run `fetch` on a thread named `name`; yield (progress below 1, []) while it runs, then
    (1.0, its events). Its exception is raised here, on the caller's (the engine's) thread."""
    result: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result["events"] = list(fetch())
        except BaseException as exc:  # noqa: BLE001 - handed to the engine thread below
            result["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    while not done.wait(wait_s):
        yield min(progress(), 0.99), []
    if "error" in result:
        raise result["error"]
    yield 1.0, result["events"]
