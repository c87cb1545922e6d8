"""SharedLoginThrottle: the login and reset-password throttle shared by every web process over
Redis, so N processes do not give a password guesser N budgets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from dashboard.auth import BUSY_RETRY_S, FAILURE_WINDOW_S, LOCKOUT_S, MAX_FAILURES, LoginThrottle
from dashboard.redis_link import redis_client

log = logging.getLogger(__name__)


class SharedLoginThrottle(LoginThrottle):
    """LoginThrottle (which still bounds this process's checks in flight) plus failures and
    lockouts kept in Redis per key: MAX_FAILURES failures within FAILURE_WINDOW_S of the first
    lock the key for LOCKOUT_S in every process. Redis unreachable: the local throttle alone."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._redis = redis_client(url)
        self._prefix = prefix

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}:throttle:{kind}:{key}"

    def _shared_wait(self, keys: tuple[str, ...]) -> float:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(self._key("lock", key))
                pipe.get(self._key("fail", key))
            found = pipe.execute()
        except redis.RedisError as exc:
            log.warning("login throttle: Redis not reachable (%s); this process's alone", exc)
            return 0.0
        locks, fails = found[0::2], found[1::2]
        wait = max((ms / 1000 for ms in locks if isinstance(ms, int) and ms > 0), default=0.0)
        if wait > 0:
            return wait
        if any(int(n) >= MAX_FAILURES for n in fails if n is not None):
            return BUSY_RETRY_S
        return 0.0

    def locked(self, *keys: str) -> float:
        return max(super().locked(*keys), self._shared_wait(keys))

    def begin(self, *keys: str) -> float:
        wait = self._shared_wait(keys)
        return wait if wait > 0 else super().begin(*keys)

    def failure(self, *keys: str) -> None:
        super().failure(*keys)
        try:
            for key in keys:
                fail = self._key("fail", key)
                count = int(self._redis.incr(fail))
                if count == 1:
                    self._redis.pexpire(fail, int(FAILURE_WINDOW_S * 1000))
                if count >= MAX_FAILURES:
                    self._redis.set(self._key("lock", key), 1, px=int(LOCKOUT_S * 1000))
                    self._redis.delete(fail)
        except redis.RedisError as exc:
            log.warning("login throttle: failure not shared (%s)", exc)

    def success(self, *keys: str) -> None:
        super().success(*keys)
        try:
            self._redis.delete(*(self._key("fail", key) for key in keys))
        except redis.RedisError as exc:
            log.warning("login throttle: success not shared (%s)", exc)
