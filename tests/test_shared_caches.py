"""What hosts share: the export cache on every backend, and the API's bodies through Redis.

Two apps on two data directories sharing one Redis or one PostgreSQL stand for two hosts; where
processes matter, two `mapapp serve` instances. The servers are real (the redis_url and
postgres_url fixtures); a server that is down is a loopback port nothing listens on.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask

from mapapp import create_app
from mapapp.cli import cli
from mapapp.config import ConfigError
from mapapp.filters import parse_filter
from mapapp.publication import export_family
from mapapp.storage import database, shared
from mapapp.storage.blobs import Blobs, BlobStore
from mapapp.storage.pg_shared import PostgresBlobs
from mapapp.storage.redis_shared import RedisBlobs
from mapapp.web.api import body_cache
from mapapp.web.exports import export_cache
from scripts.make_sample_data import generate_events, write_events
from tests.conftest import add_valid_event
from tests.servers import held_port, server_env, serving

HIT = "mapapp-exports; hit"
STALE = "mapapp-exports; hit; detail=stale-while-revalidate"
RENDERED = "mapapp-exports; fwd=miss; stored"
SERVE_EVENTS = 3000  # enough that a cold workbook takes a while to render
PUBLIC_URL = "https://events.example.org"  # both hosts answer for one site


@pytest.fixture
def refused_port() -> Iterator[int]:
    """Return a loopback port that is bound but not listening: connections are refused."""
    with held_port() as port:
        yield port


@pytest.fixture(params=["files", "redis", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Return the settings of one export cache backend, as two hosts would share it."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {"EXPORT_CACHE_DIR": str(tmp_path / "exports")}  # one host's workers


@pytest.fixture(params=["redis", "postgres"])
def shared_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return the settings of a backend several hosts share."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {"DATABASE_URL": request.getfixturevalue("postgres_url")}


@pytest.fixture
def make_blobs(backend: dict[str, Any], tmp_path: Path) -> Callable[[int], Blobs]:
    """Return a maker of the backend's blob store (each call: another host's instance)."""

    def make(max_bytes: int) -> Blobs:
        config = {"DATA_DIR": str(tmp_path), "EXPORT_CACHE_BYTES": max_bytes, **backend}
        return shared.export_cache(config)

    return make


def read(found: Any) -> bytes:
    """Return the bytes of an open blob (and close it)."""
    assert found is not None
    with found:
        return bytes(found.read())


# The interface, on every backend.


def test_the_settings_choose_the_backend(tmp_path: Path) -> None:
    base = {"DATA_DIR": str(tmp_path), "EXPORT_CACHE_BYTES": 1000, "API_CACHE_BYTES": 1000}
    redis, database_url = "redis://127.0.0.1:1/0", "postgresql://mapapp@127.0.0.1:1/mapapp"
    both = {**base, "REDIS_URL": redis, "DATABASE_URL": database_url}
    assert isinstance(shared.export_cache(base), BlobStore)
    assert isinstance(shared.export_cache(both), RedisBlobs)
    assert isinstance(shared.export_cache({**base, "DATABASE_URL": database_url}), PostgresBlobs)
    assert isinstance(shared.export_cache({**both, "CACHE_BACKEND": "postgres"}), PostgresBlobs)
    assert isinstance(shared.export_cache({**both, "CACHE_BACKEND": "files"}), BlobStore)
    assert isinstance(shared.body_store(both), RedisBlobs)
    assert shared.body_store({**both, "CACHE_BACKEND": "postgres"}) is None
    assert shared.body_store(base) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CACHE_BACKEND": "memcached"}, "MAPAPP_CACHE_BACKEND must be one of files, redis"),
        ({"CACHE_BACKEND": "redis"}, "MAPAPP_CACHE_BACKEND is redis, but MAPAPP_REDIS_URL"),
        ({"CACHE_BACKEND": "postgres"}, "is postgres, but MAPAPP_DATABASE_URL is not set"),
    ],
)
def test_a_backend_that_cannot_be_used_stops_the_app(
    app_config: dict[str, Any], settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app({**app_config, **settings})


def test_blobs_keep_the_newest_version_of_a_family(make_blobs: Callable[[int], Blobs]) -> None:
    blobs, other_host = make_blobs(1 << 20), make_blobs(1 << 20)
    assert blobs.open("csv-a", "v1") is None and blobs.latest("csv-a") is None
    assert read(blobs.put("csv-a", "v1", b"first\x00\xff")) == b"first\x00\xff"
    assert read(other_host.open("csv-a", "v1")) == b"first\x00\xff"
    assert other_host.exists("csv-a", "v1") and not other_host.exists("csv-a", "v2")
    other_host.put("csv-a", "v2", b"second").close()
    assert blobs.open("csv-a", "v1") is None
    version, file = blobs.latest("csv-a") or ("", None)
    assert (version, read(file)) == ("v2", b"second")
    assert blobs.size() == len(b"second")


def test_blobs_stay_under_their_byte_bound(make_blobs: Callable[[int], Blobs]) -> None:
    blobs = make_blobs(1000)
    for number in range(8):
        blobs.put(f"family-{number}", "v1", bytes(300)).close()
        assert blobs.size() <= 1000
    kept = [number for number in range(8) if blobs.exists(f"family-{number}", "v1")]
    assert kept == [5, 6, 7]
    too_big = blobs.put("huge", "v1", bytes(2000))
    assert read(too_big) == bytes(2000) and not blobs.exists("huge", "v1")
    assert blobs.size() == 900


def test_a_render_lock_has_one_holder_across_hosts(make_blobs: Callable[[int], Blobs]) -> None:
    host_a, host_b = make_blobs(1000), make_blobs(1000)
    with host_a.flight("csv-a") as mine:
        assert mine
        with host_b.flight("csv-a", wait=False) as theirs:
            assert not theirs
        with host_b.flight("csv-b", wait=False) as other_family:
            assert other_family
    with host_b.flight("csv-a", wait=False) as theirs:
        assert theirs


def test_discarding_waits_for_a_render_in_flight_on_another_host(
    make_blobs: Callable[[int], Blobs],
) -> None:
    renderer, eraser = make_blobs(1 << 20), make_blobs(1 << 20)
    renderer.put("csv-family", "v1", b"old copy").close()
    renderer.put("json-family", "v1", b"another").close()
    rendering = threading.Event()

    def render_from_data_read_before() -> None:
        with renderer.flight("csv-family"):
            rendering.set()
            time.sleep(0.3)
            renderer.put("csv-family", "v2", b"render of the data before the erase").close()

    thread = threading.Thread(target=render_from_data_read_before)
    thread.start()
    assert rendering.wait(5)
    removed = eraser.discard_all()
    thread.join()

    assert removed == 2
    assert renderer.latest("csv-family") is None and renderer.latest("json-family") is None
    assert eraser.size() == 0


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "dot.dot", "a:b"])
def test_blob_names_are_checked_on_every_backend(
    make_blobs: Callable[[int], Blobs], name: str
) -> None:
    with pytest.raises(ValueError, match="Not a blob name"):
        make_blobs(1000).put(name, "v1", b"x")


def test_a_hit_counts_as_a_use_in_redis(redis_url: str) -> None:
    blobs = RedisBlobs(redis_url, "mapapp:test:", 700)
    blobs.put("older", "v1", bytes(300)).close()
    blobs.put("newer", "v1", bytes(300)).close()
    read(blobs.open("older", "v1"))
    blobs.put("newest", "v1", bytes(300)).close()
    assert blobs.exists("older", "v1") and not blobs.exists("newer", "v1")


# Two hosts: two apps on two data directories sharing one server.


def two_hosts(
    tmp_path: Path, app_config: dict[str, Any], settings: dict[str, Any]
) -> tuple[Flask, Flask, dict[str, str]]:
    """Return two apps sharing the settings' server and the same events, and one event."""
    config = {**app_config, **settings, "PUBLIC_URL": PUBLIC_URL}
    host_a = create_app({**config, "DATA_DIR": str(tmp_path / "host-a")})
    event = add_valid_event(host_a.extensions["mapapp.store"], title="Paris lights")
    add_valid_event(host_a.extensions["mapapp.store"], title="Lyon run", city="Lyon")
    (tmp_path / "host-b").mkdir()
    events_file = tmp_path / "host-a" / "events.csv"
    if events_file.exists():  # the CSV store: host B gets the same file (a database is shared)
        shutil.copy2(events_file, tmp_path / "host-b" / "events.csv")
    host_b = create_app({**config, "DATA_DIR": str(tmp_path / "host-b")})
    return host_a, host_b, event


def test_an_export_rendered_by_one_host_is_served_by_the_other(
    tmp_path: Path, app_config: dict[str, Any], shared_backend: dict[str, Any]
) -> None:
    host_a, host_b, _ = two_hosts(tmp_path, app_config, shared_backend)

    rendered = host_a.test_client().get("/events.csv?country=FR")
    served = host_b.test_client().get("/events.csv?country=FR")

    assert (rendered.status_code, rendered.headers["Cache-Status"]) == (200, RENDERED)
    assert (served.status_code, served.headers["Cache-Status"]) == (200, HIT)
    assert served.data == rendered.data and b"Paris lights" in served.data
    assert served.headers["ETag"] == rendered.headers["ETag"]
    assert not list(tmp_path.rglob("*.blob"))  # nothing on either host's disk


def test_an_erase_through_one_host_discards_the_exports_of_every_host(
    tmp_path: Path, app_config: dict[str, Any], shared_backend: dict[str, Any]
) -> None:
    host_a, host_b, event = two_hosts(tmp_path, app_config, shared_backend)
    for url in ("/events.csv", "/events.json"):
        assert host_b.test_client().get(url).headers["Cache-Status"] == RENDERED
    assert host_b.test_client().get("/api/events.geojson").status_code == 200
    bodies = body_cache(host_b).shared  # Redis: the API's bodies are shared, and go too
    assert bodies is None or bodies.size() > 0

    erased = host_a.test_cli_runner().invoke(cli, args=["erase", event["id"], "--yes"])

    assert erased.exit_code == 0, erased.output
    assert "2 kept export file(s)" in erased.output
    family = export_family("csv", parse_filter({}), PUBLIC_URL + "/")
    assert export_cache(host_b).latest(family) is None
    assert export_cache(host_b).size() == 0
    assert bodies is None or bodies.size() == 0
    again = host_b.test_client().get("/events.csv")  # never the copy that held the event
    assert again.headers["Cache-Status"] == RENDERED


def test_a_body_cached_by_one_host_is_used_by_the_other_for_the_same_version(
    tmp_path: Path, app_config: dict[str, Any], redis_url: str
) -> None:
    host_a, host_b, _ = two_hosts(tmp_path, app_config, {"REDIS_URL": redis_url})
    # Last-Modified is the store's time on the host that built the body: it tells them apart.
    os.utime(tmp_path / "host-a" / "events.csv", (1_577_880_000, 1_577_880_000))  # 2020
    os.utime(tmp_path / "host-b" / "events.csv", (1_704_067_200, 1_704_067_200))  # 2024
    url = "/api/events.geojson?country=FR"

    built = host_a.test_client().get(url)
    reused = host_b.test_client().get(url)

    assert built.status_code == reused.status_code == 200
    assert reused.headers["Last-Modified"] == built.headers["Last-Modified"]
    assert "2020" in reused.headers["Last-Modified"]
    assert (reused.data, reused.headers["ETag"]) == (built.data, built.headers["ETag"])
    # A change on host B's side: its public version moves on, so it builds its own body.
    add_valid_event(host_b.extensions["mapapp.store"], title="Only on host B")
    fresh = host_b.test_client().get(url)
    assert "Only on host B" in fresh.get_data(as_text=True)
    assert "2020" not in fresh.headers["Last-Modified"]
    assert "Only on host B" not in host_a.test_client().get(url).get_data(as_text=True)


# A shared server that is down: everything still answers, uncached, and the log says so once.


def test_with_redis_down_exports_and_bodies_still_answer(
    app_config: dict[str, Any], refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{refused_port}/0"})
    add_valid_event(app.extensions["mapapp.store"], title="Still exported")
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            export = client.get("/events.csv")
            assert (export.status_code, export.headers["Cache-Status"]) == (200, RENDERED)
            assert b"Still exported" in export.data
            body = client.get("/api/events.geojson")
            assert body.status_code == 200 and "Still exported" in body.get_data(as_text=True)
    down = [
        record.getMessage() for record in caplog.records if "unreachable" in record.getMessage()
    ]
    assert sum("mapapp:exports:*" in message for message in down) == 1, down
    assert sum("mapapp:bodies:*" in message for message in down) == 1, down


@pytest.mark.parametrize("server", ["redis", "postgres"])
def test_a_blob_store_whose_server_is_down_keeps_nothing_and_locks_per_process(
    server: str, refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    blobs: Blobs
    if server == "redis":
        blobs = RedisBlobs(f"redis://127.0.0.1:{refused_port}/0", "mapapp:test:", 1000)
    else:
        blobs = PostgresBlobs(f"postgresql://mapapp@127.0.0.1:{refused_port}/mapapp", 1000)
    try:
        with caplog.at_level(logging.WARNING):
            assert read(blobs.put("csv-a", "v1", b"rendered")) == b"rendered"
            assert blobs.open("csv-a", "v1") is None and blobs.latest("csv-a") is None
            assert blobs.size() == 0
            with blobs.flight("csv-a") as mine:
                assert mine
                results: list[bool] = []

                def try_it() -> None:
                    with blobs.flight("csv-a", wait=False) as theirs:
                        results.append(theirs)

                holder = threading.Thread(target=try_it)
                holder.start()
                holder.join()
                assert results == [False]  # the other thread of this process waits its turn
            assert blobs.discard_all() == 0
    finally:
        database.close_pools()
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable" in message for message in messages) == 1, messages
    assert any("could not be discarded" in message for message in messages), messages


# Two `mapapp serve` hosts (2 workers each) sharing one server.


@pytest.fixture
def big_events(tmp_path: Path) -> Path:
    """Return a file of a few thousand generated events."""
    folder = tmp_path / "generated"
    write_events(folder, generate_events(SERVE_EVENTS))
    return folder / "events.csv"


@pytest.mark.slow
def test_two_hosts_render_a_cold_export_once(
    tmp_path: Path, big_events: Path, shared_backend: dict[str, Any]
) -> None:
    url = "/events.xlsx?year=all"
    servers = []
    with held_port() as port_a, held_port() as port_b:
        for name, port in (("host-a", port_a), ("host-b", port_b)):
            data_dir = tmp_path / name
            data_dir.mkdir()
            shutil.copy2(big_events, data_dir / "events.csv")
            env = {
                **server_env(data_dir),
                **{f"MAPAPP_{name}": value for name, value in shared_backend.items()},
                "MAPAPP_PUBLIC_URL": PUBLIC_URL,
            }
            servers.append(serving(data_dir, tmp_path / f"{name}.log", port, 2, env=env))
        with servers[0] as (base_a, _), servers[1] as (base_b, _):
            bases = [base_a, base_b] * 3
            with ThreadPoolExecutor(len(bases)) as pool:
                answers = list(pool.map(lambda base: requests.get(base + url, timeout=120), bases))
            statuses = [
                (answer.status_code, answer.headers.get("Cache-Status")) for answer in answers
            ]
            rendered = [
                answer for answer in answers if answer.headers.get("Cache-Status") == RENDERED
            ]
            assert len(rendered) == 1, statuses
            for answer in answers:  # the others: the copy, or come back soon
                assert answer.status_code in {200, 503}, statuses
                if answer.status_code == 200:
                    assert answer.content == rendered[0].content
            for base in (base_a, base_b):
                kept = requests.get(base + url, timeout=120)
                assert (kept.headers["Cache-Status"], kept.content) == (HIT, rendered[0].content)


def test_an_erase_while_redis_does_not_answer_is_done_once_it_answers(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    other_host = RedisBlobs(redis_url, "mapapp:test:", 1 << 20)
    other_host.put("csv-a", "v1", b"holds the erased event").close()
    eraser = RedisBlobs(redis_url, "mapapp:test:", 1 << 20)
    assert eraser.exists("csv-a", "v1")
    with redis.Redis.from_url(redis_url) as admin:
        admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")  # Redis answers nobody for 3 s
    with caplog.at_level(logging.WARNING):
        assert eraser.discard_all() == 0
    assert any("could not be discarded" in record.getMessage() for record in caplog.records)
    deadline = time.monotonic() + 30
    while eraser.outage.down and time.monotonic() < deadline:
        eraser.size()  # each call after the recheck interval tries Redis again
        time.sleep(0.2)
    assert not other_host.exists("csv-a", "v1")
    assert any("Discarded the 1 export(s)" in record.getMessage() for record in caplog.records)
