"""Turns across processes and hosts (files, Redis, PostgreSQL), and Nominatim taking them.

Hosts are processes (or clients) with data directories of their own sharing one Redis or one
PostgreSQL; the local Nominatim stand-in records when each request arrived.
"""

# The stub fixtures are imported, so each test parameter naming one "redefines" it:
# ruff: noqa: F811
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mapapp import create_app
from mapapp.geocoding import locate
from mapapp.geocoding.nominatim import TURN_NAME, NominatimClient, NominatimUnavailable
from mapapp.storage import database, shared
from mapapp.storage.pg_shared import PostgresTurn
from mapapp.storage.redis_shared import RedisTurn
from mapapp.storage.turns import FileTurn, Turn, TurnBusy, TurnUnavailable
from tests.nominatim_stub import (  # noqa: F401  (fixtures)
    NominatimStub,
    nominatim_config,
    nominatim_stub,
)
from tests.servers import held_port

LEASE = 30.0
INTERVAL = 1.0


@pytest.fixture(params=["files", "redis", "postgres"])
def turn_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return the settings that put turns in one backend (files: the host's data directory)."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


@pytest.fixture(params=["redis", "postgres"])
def shared_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return the settings of a server several hosts share turns in."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {"DATABASE_URL": request.getfixturevalue("postgres_url")}


@pytest.fixture
def refused_port() -> Iterator[int]:
    """Return a loopback port that is bound but not listening: connections are refused."""
    with held_port() as port:
        yield port


def make_turn(settings: dict[str, Any], data_dir: Path) -> Turn:
    """Return the turn the settings choose, as one host sees it."""
    return shared.turn({"DATA_DIR": str(data_dir), **settings}, TURN_NAME, LEASE)


def test_the_settings_choose_where_turns_are_taken(tmp_path: Path) -> None:
    redis, database_url = "redis://127.0.0.1:1/0", "postgresql://mapapp@127.0.0.1:1/mapapp"
    assert isinstance(make_turn({}, tmp_path), FileTurn)
    assert isinstance(make_turn({"DATABASE_URL": database_url}, tmp_path), PostgresTurn)
    both = {"DATABASE_URL": database_url, "REDIS_URL": redis}
    assert isinstance(make_turn(both, tmp_path), RedisTurn)
    # The cache's backend does not move turns: every host must take them in one place.
    assert isinstance(make_turn({**both, "CACHE_BACKEND": "files"}, tmp_path), RedisTurn)


def test_a_turn_has_one_holder_and_keeps_the_next_moment(
    turn_settings: dict[str, Any], tmp_path: Path
) -> None:
    host_a = make_turn(turn_settings, tmp_path / "a" if turn_settings else tmp_path)
    host_b = make_turn(turn_settings, tmp_path / "b" if turn_settings else tmp_path)
    with host_a.hold(5) as held:
        assert held.wait_seconds() <= 0  # never taken: go now
        held.not_before(30)
        held.not_before(10)  # never earlier than a moment already set
        results: list[str] = []

        def other_host() -> None:
            try:
                with host_b.hold(0.3):
                    results.append("held")
            except TurnBusy:
                results.append("busy")

        thread = threading.Thread(target=other_host)
        thread.start()
        thread.join()
        assert results == ["busy"]
    with host_b.hold(5) as held:
        assert 20 < held.wait_seconds() <= 30  # less the time since, however loaded the machine


CLIENT_SCRIPT = """
import json, sys
from mapapp.geocoding import build_geocoder
settings = json.loads(sys.argv[1])
client = build_geocoder(settings).nominatim
for number in range(2):
    client.search(f"{number} Street of host {sys.argv[2]}")
client.close()
"""


def test_hosts_send_one_request_a_second_between_them(
    turn_settings: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
    tmp_path: Path,
) -> None:
    processes = []
    for host in range(3):
        # Files: the workers of one host share its data directory; servers: hosts have their own.
        data_dir = tmp_path / (f"host-{host}" if turn_settings else "host")
        settings = {
            **nominatim_config,
            **turn_settings,
            "GEOCODER": "nominatim",
            "NOMINATIM_TIMEOUT": 10.0,
            "DATA_DIR": str(data_dir),
        }
        command = [sys.executable, "-c", CLIENT_SCRIPT, json.dumps(settings), str(host)]
        processes.append(subprocess.Popen(command))
    assert [process.wait(timeout=90) for process in processes] == [0, 0, 0]

    arrivals = sorted(request.arrived for request in nominatim_stub.search_requests())
    assert len(arrivals) == 6
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= INTERVAL


def test_a_retry_after_told_to_one_host_holds_for_the_other(
    shared_settings: dict[str, Any], nominatim_stub: NominatimStub, tmp_path: Path
) -> None:
    clients = [
        NominatimClient(
            nominatim_stub.url,
            "mapapp-tests/1.0",
            5.0,
            INTERVAL,
            tmp_path / name,
            turn=make_turn(shared_settings, tmp_path / name),
        )
        for name in ("host-a", "host-b")
    ]
    nominatim_stub.fail_with(503, {"Retry-After": "3"})
    try:
        with pytest.raises(NominatimUnavailable) as failure:
            clients[0].search("10 Downing Street, London")
        assert failure.value.retry_after == 3
        clients[1].search("10 Downing Street, London")  # waits for the first host's Retry-After
    finally:
        for client in clients:
            client.close()

    first, second = nominatim_stub.search_requests()
    assert second.arrived - first.arrived >= 3


def test_a_long_retry_after_makes_the_other_host_fail_at_once(
    shared_settings: dict[str, Any], nominatim_stub: NominatimStub, tmp_path: Path
) -> None:
    host_a, host_b = (
        NominatimClient(
            nominatim_stub.url,
            "mapapp-tests/1.0",
            2.0,
            INTERVAL,
            tmp_path / name,
            turn=make_turn(shared_settings, tmp_path / name),
        )
        for name in ("host-a", "host-b")
    )
    nominatim_stub.fail_with(429, {"Retry-After": "60"})
    with pytest.raises(NominatimUnavailable):
        host_a.search("10 Downing Street, London")
    with pytest.raises(NominatimUnavailable) as failure:
        host_b.search("10 Downing Street, London")
    host_a.close()
    host_b.close()

    assert failure.value.retry_after is not None and failure.value.retry_after > 55
    assert len(nominatim_stub.search_requests()) == 1


@pytest.mark.parametrize("server", ["redis", "postgres"])
def test_with_the_turns_server_down_nothing_is_sent_and_the_town_is_kept(
    server: str,
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
    refused_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = (
        {"REDIS_URL": f"redis://127.0.0.1:{refused_port}/0"}
        if server == "redis"
        else {"DATABASE_URL": f"postgresql://mapapp@127.0.0.1:{refused_port}/mapapp"}
    )
    turn = make_turn(down, app_config["DATA_DIR"])
    client = NominatimClient(
        nominatim_stub.url, "mapapp-tests/1.0", 1.0, INTERVAL, app_config["DATA_DIR"], turn=turn
    )
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                with pytest.raises(NominatimUnavailable, match="turns cannot be taken"):
                    client.search("10 Downing Street, London")
        with pytest.raises(TurnUnavailable):
            with turn.hold(1):
                pass
    finally:
        client.close()
        database.close_pools()

    assert nominatim_stub.search_requests() == []
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable" in message for message in messages) == 1, messages


def test_a_chain_geocoder_keeps_the_town_when_redis_is_down(
    app_config: dict[str, Any],
    nominatim_config: dict[str, Any],
    nominatim_stub: NominatimStub,
    refused_port: int,
) -> None:
    app = create_app(
        {**app_config, **nominatim_config, "REDIS_URL": f"redis://127.0.0.1:{refused_port}/0"}
    )
    with app.app_context():
        result = locate(address="10 Downing Street", city="London", country="GB")

    assert (result.status, result.best.source) == ("found", "gazetteer")
    assert nominatim_stub.search_requests() == []
