"""Rate limits hold as configured across every worker: the counter file, Redis, and when neither.

The server tests run the real `mapapp serve --workers 3` (MAPAPP_ENV=testing, see
tests/servers.py) and send their requests from several clients at once, so that every
worker serves some of them: counted per worker, 3 workers would let up to 30 through.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import re
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from mapapp import create_app
from mapapp.config import ConfigError
from mapapp.storage import EventStore
from mapapp.storage.counters import (
    CLEANUP_SECONDS,
    COUNTERS_FILE,
    RECHECK_SECONDS,
    CounterStorage,
    FailoverStorage,
    counters_uri,
    redis_url,
)
from mapapp.web.limits import storage_uri
from tests import servers
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, make_submission
from tests.servers import SECRET_KEY, held_port, read_only_data_dir, server_env

WORKERS = 3
LIMIT = 10
ATTEMPTS = 30
CLIENTS = 6  # requests in flight at once, more than there are workers
HTTP_TIMEOUT = 30
REDIS_STARTUP_SECONDS = 30
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FALLBACK_LOG = "Rate limit storage unreachable: {}"
RECOVERED_LOG = "Rate limits count in {} again, shared by every worker."
PER_WORKER_LOG = "Rate limits count per worker process, not across workers"
# Liveness bound (not a speed check) for a worker to find a restarted Redis (it checks every
# RECHECK_SECONDS).
RECOVERY_SECONDS = 120
# Processes and increments of the concurrency test.
PROCESSES = 4
INCREMENTS = 150
STARTUP_SECONDS = 120  # for a spawned process to import the test module, on a busy machine


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Return a hand-moved clock."""
    return Clock()


@pytest.fixture
def counter_storage(tmp_path: Path, clock: Clock) -> Iterator[CounterStorage]:
    """Return a counter store in the test's own directory, on the hand-moved clock."""
    storage = CounterStorage(counters_uri(tmp_path), clock=clock)
    yield storage
    storage.close()


# The counter store itself


def test_the_storage_uri_names_the_counter_file(tmp_path: Path) -> None:
    storage = storage_from_string(counters_uri(tmp_path))
    assert isinstance(storage, CounterStorage)
    assert storage.path == tmp_path / COUNTERS_FILE
    assert not storage.path.exists()  # made at the first hit, not before
    assert storage.incr("k", 60) == 1
    assert storage.path.stat().st_mode & 0o777 == 0o600
    storage.close()


def test_hits_count_within_a_window_and_start_again_after_it(
    counter_storage: CounterStorage, clock: Clock
) -> None:
    start = clock.now
    assert [counter_storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert counter_storage.incr("k", 60, amount=2) == 5
    assert counter_storage.incr("other", 60) == 1
    assert (counter_storage.get("k"), counter_storage.get("missing")) == (5, 0)
    clock.now += 59.5
    assert counter_storage.get("k") == 5
    assert counter_storage.get_expiry("k") == start + 60  # the window keeps its first end
    clock.now = start + 60
    assert counter_storage.get("k") == 0
    assert counter_storage.get_expiry("k") == clock.now
    assert counter_storage.incr("k", 60) == 1  # a new window
    assert counter_storage.get_expiry("k") == clock.now + 60


def test_the_fixed_window_strategy_lets_exactly_the_limit_through(tmp_path: Path) -> None:
    storage = CounterStorage(counters_uri(tmp_path))
    strategy = FixedWindowRateLimiter(storage)
    limit = parse("10 per minute")
    assert [strategy.hit(limit, "client") for _ in range(15)] == [True] * 10 + [False] * 5
    assert strategy.get_window_stats(limit, "client").remaining == 0
    assert strategy.hit(limit, "another client")
    storage.close()


def test_clear_and_reset_forget_counts(counter_storage: CounterStorage) -> None:
    counter_storage.incr("a", 60)
    counter_storage.incr("b", 60)
    assert counter_storage.acquire_entry("c", 5, 60)
    counter_storage.clear("a")
    assert (counter_storage.get("a"), counter_storage.get("b")) == (0, 1)
    assert counter_storage.reset() == 2
    assert counter_storage.get("b") == 0
    assert counter_storage.get_moving_window("c", 5, 60)[1] == 0
    assert counter_storage.check()


def test_the_moving_window_counts_the_last_period(
    counter_storage: CounterStorage, clock: Clock
) -> None:
    strategy = MovingWindowRateLimiter(counter_storage)
    limit = parse("3 per minute")
    start = clock.now
    for offset in (0, 10, 20):
        clock.now = start + offset
        assert strategy.hit(limit, "client")
    clock.now = start + 30
    assert not strategy.hit(limit, "client")
    assert counter_storage.get_moving_window(limit.key_for("client"), 3, 60) == (start, 3)
    clock.now = start + 60.5  # the first hit has left the window
    assert strategy.hit(limit, "client")
    assert not strategy.hit(limit, "client")
    assert not counter_storage.acquire_entry("big", 2, 60, amount=3)


def test_expired_counts_are_deleted(counter_storage: CounterStorage, clock: Clock) -> None:
    for key in ("a", "b", "c"):
        counter_storage.incr(key, 10)
    counter_storage.acquire_entry("d", 5, 10)
    clock.now += 11
    counter_storage.incr("fresh", 10)  # not yet: cleaning runs once per CLEANUP_SECONDS
    assert rows(counter_storage.path) == (4, 1)
    clock.now += CLEANUP_SECONDS
    counter_storage.incr("fresh", 1000)
    assert rows(counter_storage.path) == (1, 0)


def rows(path: Path) -> tuple[int, int]:
    """Return how many counters and moving-window entries the file holds."""
    with sqlite3.connect(path) as db:
        counters = db.execute("SELECT COUNT(*) FROM counters").fetchone()[0]
        entries = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    db.close()
    return int(counters), int(entries)


def increment_many(uri: str, start: Any, results: Any) -> None:
    """Wait for the others, then hit one key INCREMENTS times and report every count seen."""
    storage = CounterStorage(uri)
    try:
        start.wait(timeout=STARTUP_SECONDS)
        results.put([storage.incr("shared", 3600) for _ in range(INCREMENTS)])
    except Exception as exc:  # reported by the test rather than waited for
        results.put(repr(exc))
    storage.close()


def test_concurrent_increments_from_several_processes_count_exactly(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    uri = counters_uri(tmp_path)
    processes = [
        context.Process(target=increment_many, args=(uri, start, results)) for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    reports: list[Any] = []
    deadline = time.monotonic() + STARTUP_SECONDS * 2
    while len(reports) < PROCESSES:
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            crashed = [process.exitcode for process in processes if process.exitcode]
            assert not crashed, f"a process exited with {crashed} before reporting"
            assert time.monotonic() < deadline, "the processes did not report"
    assert all(isinstance(report, list) for report in reports), reports
    seen = [count for report in reports for count in report]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    # Every count from 1 to the total was handed out exactly once: no two processes read alike.
    assert sorted(seen) == list(range(1, PROCESSES * INCREMENTS + 1))
    counter = CounterStorage(uri)
    assert counter.get("shared") == PROCESSES * INCREMENTS
    counter.close()


def test_failover_counts_locally_while_the_shared_file_fails_and_goes_back(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / COUNTERS_FILE).mkdir()  # in the way: the file cannot be opened
    storage = FailoverStorage("failover+" + counters_uri(tmp_path), clock=clock)
    with caplog.at_level(logging.WARNING, logger="mapapp.storage.counters"):
        assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]  # in this process
        assert storage.get("k") == 3
        assert storage.acquire_entry("m", 1, 60)
        assert not storage.acquire_entry("m", 1, 60)
        (tmp_path / COUNTERS_FILE).rmdir()
        assert storage.incr("k", 60) == 4  # not checked again yet
        clock.now += RECHECK_SECONDS
        assert storage.incr("k", 60) == 1  # the shared file again, which starts at 1
        assert storage.incr("k", 60) == 2
    assert isinstance(storage.shared, CounterStorage)
    assert storage.shared.get("k") == 2
    name = counters_uri(tmp_path)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith(f"Rate limit storage unreachable: {name} (")
    assert messages[1] == f"Rate limits count in {name} again, shared by every worker."
    assert storage.check()
    storage.close()


# Where limits count, by configuration


def test_limits_count_in_the_data_directory_by_default(tmp_path: Path) -> None:
    uri, where = storage_uri({"DATA_DIR": str(tmp_path)})
    assert uri == f"failover+mapapp-sqlite://{tmp_path / COUNTERS_FILE}"
    assert isinstance(storage_from_string(uri), FailoverStorage)
    assert where == f"Rate limits count in {tmp_path / COUNTERS_FILE}, shared by every worker."


def test_a_data_directory_not_made_yet_gets_the_counter_file_at_the_first_hit(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "new" / "data"
    uri, _ = storage_uri({"DATA_DIR": str(data_dir)})
    assert not data_dir.exists()  # choosing writes nothing
    storage = FailoverStorage(uri)
    assert storage.incr("k", 60) == 1
    assert (data_dir / COUNTERS_FILE).is_file()
    storage.close()


def test_redis_url_is_used_with_timeouts_and_no_password_in_the_log(tmp_path: Path) -> None:
    config = {"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://:s3cret@cache.internal:6380/2"}
    uri, where = storage_uri(config)
    assert uri == (
        "failover+redis://:s3cret@cache.internal:6380/2"
        "?socket_connect_timeout=2.0&socket_timeout=2.0"
    )
    assert "s3cret" not in where
    assert "redis://:***@cache.internal:6380/2" in where
    assert storage_uri({**config, "REDIS_URL": "unix:///run/redis.sock?socket_timeout=5"})[0] == (
        "failover+redis+unix:///run/redis.sock?socket_timeout=5&socket_connect_timeout=2.0"
    )


def test_an_explicit_storage_uri_overrides_redis_and_the_file(tmp_path: Path) -> None:
    config = {
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://localhost:6379/0",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    assert storage_uri(config) == (
        "memory://",
        "Rate limits count in memory:// (per worker process).",
    )


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("REDIS_URL", "http://localhost:6379", "MAPAPP_REDIS_URL must be a Redis address"),
        ("REDIS_URL", "localhost:6379", "MAPAPP_REDIS_URL must be a Redis address"),
        (
            "RATELIMIT_STORAGE_URI",
            "bogus://somewhere",
            "MAPAPP_RATELIMIT_STORAGE_URI must be a storage URI that Flask-Limiter knows",
        ),
    ],
)
def test_a_wrong_address_stops_the_app_with_a_message(
    app_config: dict[str, Any], setting: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app({**app_config, setting: value})


def test_redis_url_helper_reads_the_one_setting() -> None:
    assert redis_url({"REDIS_URL": " redis://localhost:6379/0 "}) == "redis://localhost:6379/0"
    assert redis_url({"REDIS_URL": ""}) == ""
    assert redis_url({}) == ""


def test_a_counter_file_that_cannot_be_opened_falls_back_and_says_so(
    app_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    counter_file = Path(app_config["DATA_DIR"]) / COUNTERS_FILE
    counter_file.write_bytes(b"not a database, but someone's file\n" * 100)
    with caplog.at_level(logging.WARNING, logger="mapapp.web.limits"):
        app = create_app({**app_config, "LOGIN_RATE_LIMIT": "3 per minute"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert [record.getMessage() for record in caplog.records] == [
        f"{PER_WORKER_LOG}: {counter_file} cannot be opened (file is not a database). "
        "Make the data directory writable or set MAPAPP_REDIS_URL."
    ]
    client = app.test_client()
    statuses = [client.post("/admin/sign-in", data={}).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 429, 429]  # still limited, in this process
    assert counter_file.read_bytes() == b"not a database, but someone's file\n" * 100


@pytest.mark.parametrize(
    ("settings", "per_host"),
    [({}, True), ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, False)],
)
def test_hosts_sharing_a_database_without_redis_are_told_limits_count_per_host(
    app_config: dict[str, Any],
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
    settings: dict[str, str],
    per_host: bool,
) -> None:
    with caplog.at_level(logging.INFO, logger="mapapp.web.limits"):
        create_app({**app_config, "DATABASE_URL": postgres_url, **settings})
    warnings = [
        record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
    ]
    told = [message for message in warnings if "count rate limits each for itself" in message]
    assert len(told) == (1 if per_host else 0), warnings
    if per_host:
        assert told[0].endswith("set MAPAPP_REDIS_URL to count them across hosts.")


# Under `mapapp serve`: exactly the limit, across workers


@dataclass
class Redis:
    """A redis-server the test started, on a port held for the whole test."""

    url: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (again) and wait until it answers."""
        import redis

        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        with redis.Redis.from_url(self.url, socket_timeout=2) as client:
            for _ in range(REDIS_STARTUP_SECONDS * 10):
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    assert self.process.poll() is None, self.log_path.read_text()
                    time.sleep(0.1)
        raise RuntimeError("redis-server did not start in time")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=30)

    def keys(self) -> list[bytes]:
        """Return the rate-limit keys the server holds."""
        import redis

        with redis.Redis.from_url(self.url, socket_timeout=2) as client:
            return list(client.keys("LIMITS:LIMITER/*"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    """Start a real redis-server on a free loopback port in a temp directory, without saving."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is missing: install Debian's redis-server."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path / "redis"
    directory.mkdir()
    with held_port() as port:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
        command += ["--save", "", "--appendonly", "no"]
        server = Redis(f"redis://127.0.0.1:{port}/0", command, tmp_path / "redis.log")
        try:
            server.start()
            yield server
        finally:
            server.kill()


@contextmanager
def serving(data_dir: Path, log_path: Path, user: str = "", **settings: str) -> Iterator[str]:
    """Run `mapapp serve --workers 3` with the limits under test (as user); yield its URL."""
    env = {
        **server_env(data_dir),
        "MAPAPP_LOGIN_RATE_LIMIT": f"{LIMIT} per minute",
        "MAPAPP_SUBMIT_RATE_LIMIT": f"{LIMIT} per hour",
        **{f"MAPAPP_{name}": value for name, value in settings.items()},
    }
    if "GAZETTEER_CACHE_DIR" in settings:
        env["HOME"] = settings["GAZETTEER_CACHE_DIR"]  # another user's own home, not root's
    prefix = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"] if user else []
    with held_port() as port:
        with servers.serving(data_dir, log_path, port, WORKERS, env, prefix) as (base_url, _server):
            yield base_url


def wrong_sign_in(base_url: str) -> int:
    """Sign in with a wrong password through the real form; return the POST's status."""
    with requests.Session() as http:
        page = http.get(base_url + "/admin/sign-in", timeout=HTTP_TIMEOUT)
        match = CSRF_FIELD.search(page.text)
        assert match, page.text
        form = {"csrf_token": match.group(1), "name": COORDINATOR_NAME, "password": "wrong guess"}
        response = http.post(base_url + "/admin/sign-in", data=form, timeout=HTTP_TIMEOUT)
        return response.status_code


def submit(base_url: str, number: int) -> int:
    """Post an event to the JSON API; return the status."""
    event = {**make_submission(format="online", city="", country="KE"), "consent": True}
    event["title"] = f"Rate limit test event {number}"
    response = requests.post(base_url + "/api/events", json=event, timeout=HTTP_TIMEOUT)
    return response.status_code


def at_once(base_url: str, attempt: Any, count: int = ATTEMPTS) -> Counter[int]:
    """Make count attempts from CLIENTS clients at once; return how many got each status."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        if attempt is submit:
            statuses = list(pool.map(lambda n: submit(base_url, n), range(count)))
        else:
            statuses = list(pool.map(lambda _: attempt(base_url), range(count)))
    return Counter(statuses)


def prepare(data_dir: Path) -> None:
    """Add the coordinator whose password the clients get wrong."""
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY, "ENV": "testing"})
    with app.app_context():
        from mapapp import coordinators

        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_limits_hold_across_workers(
    backend: str, data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = {}
    if backend == "redis":
        settings["REDIS_URL"] = request.getfixturevalue("redis_server").url
    prepare(data_dir)
    log = tmp_path / "server.log"
    with serving(data_dir, log, **settings) as base_url:
        sign_ins = at_once(base_url, wrong_sign_in)
        submissions = at_once(base_url, submit)
    assert sign_ins == {401: LIMIT, 429: ATTEMPTS - LIMIT}, log.read_text()
    assert submissions == {201: LIMIT, 429: ATTEMPTS - LIMIT}, log.read_text()
    assert len(EventStore(data_dir).frame()) == LIMIT
    assert (data_dir / COUNTERS_FILE).exists() == (backend == "file")
    if backend == "redis":
        assert len(request.getfixturevalue("redis_server").keys()) == 2  # sign-in, submit
    assert "Traceback" not in log.read_text()


def test_redis_going_down_leaves_each_worker_counting_for_itself(
    redis_server: Redis, data_dir: Path, tmp_path: Path
) -> None:
    prepare(data_dir)
    log = tmp_path / "server.log"
    with serving(data_dir, log, REDIS_URL=redis_server.url) as base_url:
        before = at_once(base_url, wrong_sign_in, LIMIT + 1)
        redis_server.kill()
        after = at_once(base_url, wrong_sign_in, 4 * LIMIT)
        # Back on the same port (empty: it saves nothing), it gets the counts again once a
        # worker's periodic check finds it.
        redis_server.start()
        deadline = time.monotonic() + RECOVERY_SECONDS
        while not redis_server.keys():
            assert time.monotonic() < deadline, "no worker went back to Redis"
            assert wrong_sign_in(base_url) in {401, 429}
            time.sleep(0.5)
    text = log.read_text()
    assert before == {401: LIMIT, 429: 1}, text
    # Fails open to per-worker counts: no error, some pass, and no worker lets more than LIMIT.
    assert set(after) <= {401, 429}, text
    assert LIMIT <= after[401] <= WORKERS * LIMIT, after
    assert after[429] >= 4 * LIMIT - WORKERS * LIMIT, after
    assert text.count(FALLBACK_LOG.format(redis_server.url)) == WORKERS, text
    assert RECOVERED_LOG.format(redis_server.url) in text
    assert "Traceback" not in text


@pytest.fixture
def read_only_data() -> Iterator[Path]:
    """Return a data directory owned by root that the user nobody can read but not write."""

    def ready(data_dir: Path) -> None:
        prepare(data_dir)
        EventStore(data_dir).frame()

    with read_only_data_dir("mapapp-limits-read-only-", ready) as data_dir:
        yield data_dir


def test_a_read_only_data_directory_counts_per_worker_and_says_so(read_only_data: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        message = "needs root and setpriv to run the server as nobody"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    log = read_only_data.parent / "server.log"
    cache = str(read_only_data.parent / "cache")
    with serving(read_only_data, log, "nobody", GAZETTEER_CACHE_DIR=cache) as base_url:
        statuses = at_once(base_url, wrong_sign_in, 4 * LIMIT)
    text = log.read_text()
    assert PER_WORKER_LOG in text, text
    assert f"the data directory {read_only_data} is not writable by this user" in text
    assert set(statuses) <= {401, 429}, text
    assert LIMIT <= statuses[401] <= WORKERS * LIMIT, statuses
    assert not (read_only_data / COUNTERS_FILE).exists()
