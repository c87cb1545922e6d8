"""The serving process's graceful stop: on SIGTERM (or SIGINT, SIGQUIT) the pages are told,
the engine stops (strategies first, then the feed, the engine thread, the store's record and
checkpoint; the latch is not touched), then the notifier and the bridge, then the websockets
close so the worker can end before gunicorn's graceful timeout runs out.

Before this, the stop ran from `atexit` only, which never came while a page held a websocket:
the worker's thread pool waited for it, and gunicorn ended the worker with SIGKILL.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class GracefulStop:
    """Runs `steps` once, in order, each one whatever the previous did; then `finish`."""

    def __init__(
        self,
        steps: list[tuple[str, Callable[[], None]]],
        finish: Callable[[], None] | None = None,
    ) -> None:
        self._steps = steps
        self._finish = finish
        self._once = threading.Lock()
        self._done = threading.Event()
        self._started = False

    def run(self) -> None:
        with self._once:
            if self._started:
                return
            self._started = True
        try:
            for name, step in self._steps:
                try:
                    step()
                except Exception:
                    log.exception("graceful stop: %s failed", name)
            if self._finish is not None:
                self._finish()
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def install(self, *, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        """Run on the first stop signal (from a thread of its own: the handler may interrupt a
        thread that holds a lock the steps need), chained to the handler installed before
        (gunicorn's); and at exit, for a stop that came some other way."""
        atexit.register(self.run)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in signals:
            signal.signal(signum, self._chain(signal.getsignal(signum)))

    def _start_in_background(self) -> None:
        if "gevent" in sys.modules:
            from gevent import monkey

            if monkey.is_module_patched("threading"):
                # A gevent worker runs this handler in its hub, where starting a thread (which
                # waits for it to start) is not allowed; a greenlet is spawned without waiting.
                import gevent

                gevent.spawn(self.run)
                return
        threading.Thread(target=self.run, name="vigil-stopping", daemon=True).start()

    def _chain(self, previous: Any) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: Any) -> None:
            self._start_in_background()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                # Nobody else handles it: stop gracefully, then die of the signal as before.
                self.wait(30.0)
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        return handler
