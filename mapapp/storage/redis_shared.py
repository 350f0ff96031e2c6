"""Redis for what hosts share: blobs (the exports, the API's bodies) and turns (Nominatim's).

Blobs under a key prefix (`mapapp:exports:`, say): the bytes of each family's version
(`d:<family>:<version>`), and the books: each family's version (`versions`), size (`sizes`) and
last use in Redis's own clock (a sorted set, `lru`). Each write, its books and its eviction are
one MULTI (the bytes, then a Lua script), so the byte bound holds across hosts without counting
on Redis's maxmemory (our keys carry no expiry: a `volatile-*` policy
leaves them alone; `allkeys-*` could drop one, which only costs a render). `flight(family)` is a
`redis.lock.Lock` (`lock:<family>`) with a lease, so a host that dies while rendering holds it
for at most LEASE_SECONDS. The scripts name keys under the prefix themselves: one Redis server
(or a primary), not a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.lock

from mapapp.storage.blobs import FLIGHT_TIMEOUT_SECONDS, SharedBlobs
from mapapp.storage.database import without_password
from mapapp.storage.outages import Outage
from mapapp.storage.remote import REDIS_ERRORS, redis_client
from mapapp.storage.turns import Held, Turn, TurnBusy, TurnUnavailable

# A render lock left by a host that died goes after this long (renders take seconds).
LEASE_SECONDS = FLIGHT_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

TURNS_PREFIX = "mapapp:turns:"
# A turn's stamp key outlives the moment it holds by this long, then goes by itself.
STAMP_EXTRA_MS = 60_000

# KEYS: stamp. Seconds from now (Redis's clock) until the stored moment, as text (Lua numbers
# would come back as integers).
WAIT_SCRIPT = """
local now = redis.call('TIME')
local at = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(at - (now[1] + now[2] / 1000000))
"""
# KEYS: stamp; ARGV: seconds. The stored moment becomes at least now + seconds.
PUSH_SCRIPT = """
local now = redis.call('TIME')
local seconds = now[1] + now[2] / 1000000
local at = seconds + tonumber(ARGV[1])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored > at then at = stored end
local ttl = math.ceil((at - seconds) * 1000) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', at), 'PX', ttl)
return 1
"""
# The bytes never pass through Lua (that copies them twice): a plain GET reads them, and a
# write sets them in the same MULTI as the script that keeps the books.
# KEYS: lru; ARGV: family. A hit counts as a use (of a family still kept).
TOUCH_SCRIPT = """
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', now[1] * 1000 + math.floor(now[2] / 1000), ARGV[1])
return 1
"""
# KEYS: versions, sizes, lru; ARGV: family, version, size, max bytes, prefix. The data key of
# the new version is set already; the family's older one goes, then the least recently used.
PUT_SCRIPT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and old ~= ARGV[2] then redis.call('DEL', ARGV[5] .. 'd:' .. ARGV[1] .. ':' .. old) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], now[1] * 1000 + math.floor(now[2] / 1000), ARGV[1])
local total = 0
for _, size in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(size) end
local bound = tonumber(ARGV[4])
local evicted = 0
while total > bound do
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 1)
  local victim = oldest[1]
  if victim == ARGV[1] then victim = oldest[2] end
  if not victim then break end
  total = total - (tonumber(redis.call('HGET', KEYS[2], victim)) or 0)
  local version = redis.call('HGET', KEYS[1], victim)
  if version then redis.call('DEL', ARGV[5] .. 'd:' .. victim .. ':' .. version) end
  redis.call('HDEL', KEYS[1], victim)
  redis.call('HDEL', KEYS[2], victim)
  redis.call('ZREM', KEYS[3], victim)
  evicted = evicted + 1
end
return evicted
"""
# KEYS: versions, sizes, lru; ARGV: family, prefix. Returns 1 if the family was kept.
FORGET_SCRIPT = """
local version = redis.call('HGET', KEYS[1], ARGV[1])
local kept = 0
if version then kept = redis.call('DEL', ARGV[2] .. 'd:' .. ARGV[1] .. ':' .. version) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return kept
"""


class RedisBlobs(SharedBlobs):
    """Blobs under a key prefix of one Redis server, bounded in bytes (least recently used go)."""

    errors = REDIS_ERRORS

    def __init__(self, url: str, prefix: str, max_bytes: int) -> None:
        super().__init__(f"Redis at {without_password(url)} ({prefix}*)", max_bytes)
        self.url = url
        self.prefix = prefix
        self._scripts: dict[str, Any] = {}

    @property
    def client(self) -> redis.Redis:
        """Return this process's client."""
        return redis_client(self.url)

    def _script(self, source: str) -> Any:
        """Return a registered script (sent once, then called by its hash)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        return script

    def _books(self) -> list[str]:
        """Return the keys of the family versions, sizes and uses (the books every script keeps)."""
        return [f"{self.prefix}versions", f"{self.prefix}sizes", f"{self.prefix}lru"]

    def _data_key(self, family: str, version: str) -> str:
        return f"{self.prefix}d:{family}:{version}"

    def _open(self, family: str, version: str) -> bytes | None:
        pipeline = self.client.pipeline(transaction=False)
        pipeline.get(self._data_key(family, version))
        self._script(TOUCH_SCRIPT)(keys=[self._books()[2]], args=[family], client=pipeline)
        found, _ = pipeline.execute()
        return bytes(found) if found is not None else None

    def _exists(self, family: str, version: str) -> bool:
        return bool(self.client.exists(self._data_key(family, version)))

    def _latest(self, family: str) -> tuple[str, bytes] | None:
        for _ in range(3):  # a new version may replace the one read meanwhile: read it then
            kept: Any = self.client.hget(self._books()[0], family)
            if kept is None:
                return None
            version = bytes(kept).decode()
            data: Any = self.client.get(self._data_key(family, version))
            if data is not None:
                return version, bytes(data)
        return None

    def _put(self, family: str, version: str, data: bytes) -> None:
        pipeline = self.client.pipeline(transaction=True)
        pipeline.set(self._data_key(family, version), data)
        self._script(PUT_SCRIPT)(
            keys=self._books(),
            args=[family, version, len(data), self.max_bytes, self.prefix],
            client=pipeline,
        )
        pipeline.execute()

    def _size(self) -> int:
        sizes: Any = self.client.hvals(f"{self.prefix}sizes")
        return sum(int(size) for size in sizes)

    def _discard_all(self) -> int:
        client = self.client
        versions, sizes, uses = self._books()
        kept: Any = [*client.hkeys(versions), *client.hkeys(sizes), *client.zrange(uses, 0, -1)]
        families = {bytes(name).decode() for name in kept}
        lock_prefix = f"{self.prefix}lock:"
        families |= {
            bytes(key).decode().removeprefix(lock_prefix)
            for key in client.scan_iter(match=f"{lock_prefix}*")
        }
        removed = 0
        for family in sorted(families):
            release = self._acquire(family, wait=True)
            if release is None:
                log.warning("could not wait for the render of %s; removing it anyway", family)
            try:
                removed += int(
                    self._script(FORGET_SCRIPT)(
                        keys=self._books(), args=[family, self.prefix], client=client
                    )
                )
            finally:
                if release is not None:
                    release()
        return removed

    def _acquire(self, family: str, wait: bool) -> Callable[[], None] | None:
        lock = redis.lock.Lock(
            self.client, f"{self.prefix}lock:{family}", timeout=LEASE_SECONDS, thread_local=False
        )
        if not lock.acquire(
            blocking=wait, blocking_timeout=FLIGHT_TIMEOUT_SECONDS if wait else None
        ):
            return None
        return lock.release


class RedisTurn(Turn):
    """A turn of every host using one Redis server."""

    def __init__(self, url: str, name: str, lease: float) -> None:
        super().__init__(name, lease)
        self.url = url
        self.outage = Outage(
            f"Redis at {without_password(url)} (the {name} turn)", f"no {name} request is sent"
        )

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[Held]:
        if not self.outage.usable():
            raise TurnUnavailable(self.name)
        client = redis_client(self.url)
        lock = redis.lock.Lock(
            client, f"{TURNS_PREFIX}{self.name}:lock", timeout=self.lease, thread_local=False
        )
        try:
            taken = lock.acquire(blocking_timeout=timeout)
        except REDIS_ERRORS as exc:
            self.outage.failed(exc)
            raise TurnUnavailable(self.name) from exc
        if not taken:
            raise TurnBusy(self.name)
        self.outage.answered()
        try:
            yield _RedisHeld(self, client)
        finally:
            try:
                lock.release()
            except REDIS_ERRORS:
                pass  # the lease ran out, or Redis went away: the lock frees itself


class _RedisHeld(Held):
    def __init__(self, turn: RedisTurn, client: redis.Redis) -> None:
        self.turn = turn
        self.client = client
        self.key = f"{TURNS_PREFIX}{turn.name}:next"

    def wait_seconds(self) -> float:
        try:
            return float(self.client.eval(WAIT_SCRIPT, 1, self.key))  # type: ignore[arg-type]
        except REDIS_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc

    def not_before(self, seconds: float) -> None:
        try:
            self.client.eval(PUSH_SCRIPT, 1, self.key, f"{seconds:.6f}", STAMP_EXTRA_MS)
        except REDIS_ERRORS as exc:
            self.turn.outage.failed(exc)
            raise TurnUnavailable(self.turn.name) from exc
