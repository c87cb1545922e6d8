"""The crypto venue's own thread: every ccxt call runs here, never on the engine thread.

Callers queue work (the kill path's ahead of the rest) and the engine thread waits for an
answer no longer than its timeout, then raises VenueError: a hung exchange cannot hold the
engine. Between tasks the thread runs its owner's periodic poll.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from engine.venues.base import VenueError

T = TypeVar("T")
log = logging.getLogger(__name__)
URGENT, NORMAL = 0, 1


class VenueThread:
    def __init__(self, name: str, poll: Callable[[], float], every_s: float) -> None:
        """`poll` runs every `every_s` seconds and returns how long to wait before the next
        one (its own backoff after a fault), or 0 for the usual interval."""
        self.name = name
        self._poll = poll
        self.every_s = every_s
        self._tasks: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = (
            queue.PriorityQueue()
        )
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_poll = 0.0
        self._polling = False
        self._start_lock = threading.Lock()

    def start(self, *, poll: bool = True) -> None:
        """Run the thread (once); `poll` False: only queued calls until a start that polls."""
        with self._start_lock:
            self._polling = self._polling or poll
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self.poll_soon()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._tasks.put((URGENT, -1, None))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def post(self, fn: Callable[[], None], *, urgent: bool = False) -> None:
        """Run `fn` on the venue thread later; its exceptions are its own to handle."""
        self._tasks.put((URGENT if urgent else NORMAL, next(self._seq), fn))

    def call(self, fn: Callable[[], T], timeout: float, *, urgent: bool = False) -> T:
        """Run `fn` on the venue thread and wait at most `timeout` s for its answer."""
        if self.on_thread:
            return fn()
        if self._thread is None:
            self.start(poll=False)  # a call before start (history, the live check): not here
        if self._stopping.is_set():
            raise VenueError(f"{self.name} is stopped")
        future: Future[T] = Future()

        def task() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who maps it
                future.set_exception(exc)

        self.post(task, urgent=urgent)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise VenueError(f"{self.name}: no answer within {timeout:g} s") from None

    def poll_soon(self) -> None:
        self._next_poll = 0.0
        self._tasks.put((NORMAL, next(self._seq), lambda: None))

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = max(0.0, self._next_poll - time.monotonic()) if self._polling else 1.0
            try:
                _, _, task = self._tasks.get(timeout=wait)
            except queue.Empty:
                task = None
            else:
                if task is None:
                    break
                self._safe(task)
            due = self._polling and time.monotonic() >= self._next_poll
            if due and not self._stopping.is_set():
                delay = self._safe_poll()
                self._next_poll = time.monotonic() + (delay or self.every_s)

    def _safe(self, task: Callable[[], None]) -> None:
        try:
            task()
        except Exception:  # a task reports its own faults; this only keeps the thread alive
            log.exception("%s: a task failed", self.name)

    def _safe_poll(self) -> float:
        try:
            return self._poll()
        except Exception:  # noqa: BLE001 - faults are the owner's; keep the thread
            return self.every_s
