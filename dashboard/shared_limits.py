"""SharedLimits: the per-address websocket count and the per-account event budget and flood block,
kept in Redis so that N web processes give a client one budget instead of N.

Each web worker keeps its own limits in memory as before (dashboard/connection_guard.py,
dashboard/event_guard.py) and checks them first; this adds the shared check behind them. When
Redis cannot answer, the local decision stands alone (never "refuse everyone", never "no
limit") and the fallback is counted (`vigil_shared_limit_fallbacks_total`); after a failure
Redis is left alone for RETRY_AFTER_S, so a dead Redis costs one timeout per interval, not one
per event.

Keys (prefix VIGIL_REDIS_PREFIX), every one expiring on its own:
- `<p>:conns:<address>`: sorted set, one member per open websocket (`<worker id>:<n>`), scored
  with its expiry in Redis's own clock (ms). The worker that holds it re-scores its members
  every TTL/3; a worker that dies (even SIGKILL) stops doing so, and its members drop out of
  the count at most the TTL (VIGIL_REDIS_HEARTBEAT_TTL_S, 5 s) after its last refresh.
- `<p>:events:<account>`: hash, the account's token bucket and patience (refusals left before
  a drop), refilled by Redis's clock; it expires once both would be full again.
- `<p>:flood_block:<account>`: set with the cool-down as its expiry when a socket is dropped
  for flooding; every worker refuses that account's new sockets while it exists.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_S = 1.0
# A loopback Redis answers in well under a millisecond; a socket's reader waits this at most.
REDIS_TIMEOUT_S = 0.5
POOL_SIZE = 32
MAX_KEY_PART = 100
LOG_EVERY_S = 10.0

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_EXPIRE_AT_LAST = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
"""
# KEYS[1] the address's set; ARGV: member, cap, ttl ms. 1 admitted, 0 at the cap.
_HOLD = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
"""
    + _EXPIRE_AT_LAST
    + "return 1\n"
)
# KEYS[1] the address's set; ARGV: ttl ms, members... (re-added: also after a Redis restart).
_REFRESH = (
    _NOW_MS
    + """
local expiry = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"""
    + _EXPIRE_AT_LAST
    + "return 1\n"
)
# KEYS[1] the bucket, KEYS[2] the block; ARGV: rate, burst, patience, patience rate,
# cool-down ms. event_guard's ADMIT 1, REFUSE 0, DROP -1 (out of patience: blocked now).
_TAKE = (
    _NOW_MS
    + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local pcap, prate = tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'patience', 'last')
local elapsed = math.max(now - (tonumber(b[3]) or now), 0) / 1000
local tokens = math.min(burst, (tonumber(b[1]) or burst) + elapsed * rate)
local patience = math.min(pcap, (tonumber(b[2]) or pcap) + elapsed * prate)
local verdict = 1
if tokens >= 1 then
  tokens = tokens - 1
elseif patience >= 1 then
  patience = patience - 1
  verdict = 0
else
  verdict = -1
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[5])
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'patience', tostring(patience),
  'last', now)
local full_ms = math.max((burst - tokens) / rate, (pcap - patience) / prate) * 1000
redis.call('PEXPIRE', KEYS[1], math.ceil(full_ms) + 1000)
return verdict
"""
)


def limits_client(url: str) -> redis.Redis:
    """A small blocking pool with short timeouts: thousands of sockets share it, and a Redis
    that does not answer must cost a reader a fraction of a second, not seconds."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        retry_on_timeout=False,
        health_check_interval=0,
    )
    return redis.Redis(connection_pool=pool, retry=None)


def key_part(text: str) -> str:
    """An address or account as a key part; a long one (never from a sane client) hashed."""
    if len(text) <= MAX_KEY_PART:
        return text
    return "sha1-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class SharedLimits:
    """One per web worker. Every method answers without raising: None (or 0) means "Redis did
    not say", and the caller's local limit decides alone."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        hold_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self.hold_ttl_ms = max(int(hold_ttl_s * 1000), 100)
        self._clock = clock
        self._worker = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._hold = client.register_script(_HOLD)
        self._refresh = client.register_script(_REFRESH)
        self._take = client.register_script(_TAKE)
        self._lock = threading.Lock()
        # address -> hold ids this worker holds: what its heartbeat keeps alive in Redis.
        self._held: dict[str, set[str]] = {}
        # Serialises a release with the heartbeat, which could otherwise re-add what was
        # just removed (the hold would then linger for one TTL).
        self._sync = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        self._down_until = 0.0
        self._last_log = 0.0
        self.fallbacks = {"connections": 0, "events": 0}
        self.redis_errors = 0

    def key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _conns_key(self, address: str) -> str:
        return self.key("conns", key_part(address))

    def _block_key(self, account: str) -> str:
        return self.key("flood_block", key_part(account))

    # ----- Redis or the local decision -----
    def _ask(self, kind: str, call: Callable[[], T]) -> T | None:
        """`call()`'s answer, or None (counted as a fallback for `kind`) when Redis fails or
        failed less than RETRY_AFTER_S ago."""
        if self._clock() >= self._down_until:
            try:
                return call()
            except redis.RedisError as exc:
                self._failed(exc)
        with self._lock:
            self.fallbacks[kind] += 1
        return None

    def _failed(self, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            self.redis_errors += 1
            self._down_until = now + RETRY_AFTER_S
            if now - self._last_log < LOG_EVERY_S:
                return
            self._last_log = now
        log.warning("shared limits: Redis not reachable (%s); this worker's limits alone", exc)

    # ----- open websockets per address -----
    def hold(self, address: str, cap: int) -> str | None:
        """A hold id when `address` has fewer than `cap` websockets open across all workers
        (or when Redis cannot say); None when it is at the cap."""
        hold_id = f"{self._worker}:{next(self._ids)}"
        key = self._conns_key(address)
        admitted = self._ask(
            "connections", lambda: self._hold(keys=[key], args=[hold_id, cap, self.hold_ttl_ms])
        )
        if admitted is not None and not int(admitted):
            return None
        with self._lock:
            self._held.setdefault(address, set()).add(hold_id)
        self._start_heartbeat()
        return hold_id

    def release(self, address: str, hold_id: str) -> None:
        with self._lock:
            held = self._held.get(address)
            if held is not None:
                held.discard(hold_id)
                if not held:
                    del self._held[address]
        if self._clock() < self._down_until:
            return  # its expiry removes it
        with self._sync:
            try:
                self._redis.zrem(self._conns_key(address), hold_id)
            except redis.RedisError as exc:
                self._failed(exc)

    def held(self) -> dict[str, int]:
        with self._lock:
            return {address: len(ids) for address, ids in self._held.items()}

    def _start_heartbeat(self) -> None:
        """Started on the first hold, not by create_app (the factory starts no thread)."""
        with self._lock:
            if self._heartbeat is not None or self._stop.is_set():
                return
            self._heartbeat = threading.Thread(
                target=self._beat, name="vigil-shared-limits", daemon=True
            )
        self._heartbeat.start()

    def _beat(self) -> None:
        interval = self.hold_ttl_ms / 3000
        while not self._stop.wait(interval):
            self.refresh()

    def refresh(self) -> None:
        """Re-score (or re-add, after a Redis restart) every hold of this worker: one round
        trip for all of them."""
        with self._lock:
            held = [(address, sorted(ids)) for address, ids in self._held.items()]
        if not held or self._clock() < self._down_until:
            return
        with self._sync:
            try:
                pipe = self._redis.pipeline(transaction=False)
                for address, ids in held:
                    key = self._conns_key(address)
                    self._refresh(keys=[key], args=[self.hold_ttl_ms, *ids], client=pipe)
                pipe.execute()
            except redis.RedisError as exc:
                self._failed(exc)

    def close(self) -> None:
        """Stop the heartbeat (tests; a real worker's holds end with the process)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)

    # ----- inbound events per account -----
    def take_event(
        self,
        account: str,
        *,
        rate: float,
        burst: float,
        patience: float,
        patience_rate: float,
        cooldown_s: float,
    ) -> int | None:
        """event_guard's ADMIT, REFUSE or DROP (refused and out of patience: the account is
        now blocked for `cooldown_s` everywhere); None when Redis cannot say. One round trip."""
        keys = [self.key("events", key_part(account)), self._block_key(account)]
        args = [rate, burst, patience, patience_rate, max(int(cooldown_s * 1000), 1)]
        verdict = self._ask("events", lambda: self._take(keys=keys, args=args))
        return None if verdict is None else int(verdict)

    def block(self, account: str, cooldown_s: float) -> None:
        """Tell every worker: no new socket for `account` for `cooldown_s` (a local drop)."""
        key = self._block_key(account)
        self._ask("events", lambda: self._redis.set(key, 1, px=max(int(cooldown_s * 1000), 1)))

    def blocked_for(self, account: str) -> float:
        """Seconds left of the account's block in Redis; 0 when none or Redis cannot say."""
        key = self._block_key(account)
        ms = self._ask("events", lambda: self._redis.pttl(key))
        return ms / 1000 if isinstance(ms, int) and ms > 0 else 0.0

    # ----- /metrics -----
    def collector(self) -> Collector:
        return _Collector(self)


class _Collector(Collector):
    def __init__(self, limits: SharedLimits) -> None:
        self._limits = limits

    def collect(self) -> Iterable[Metric]:
        limits = self._limits
        fallbacks = CounterMetricFamily(
            "vigil_shared_limit_fallbacks",
            "Connection and event-rate decisions taken on this worker's limits alone because "
            "Redis did not answer",
            labels=["limit"],
        )
        for kind, count in sorted(limits.fallbacks.items()):
            fallbacks.add_metric([kind], count)
        yield fallbacks
        yield GaugeMetricFamily(
            "vigil_shared_limit_holds",
            "Websockets this worker holds in the shared per-address count",
            value=sum(limits.held().values()),
        )


def shared_limits(url: str, prefix: str, hold_ttl_s: float) -> SharedLimits:
    return SharedLimits(limits_client(url), prefix, hold_ttl_s=hold_ttl_s)
