"""Eight clients posting to POST /api/events at once through `mapapp serve` lose no event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore

CLIENTS = 8
EVENTS_PER_CLIENT = 12
WORKERS = 3
MAPAPP = Path(sys.executable).with_name("mapapp")
DAY = edition_date(current_edition()).isoformat()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until the server answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mapapp serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError("mapapp serve did not start in time")


def post_events(base_url: str, client: int) -> list[str]:
    """Post this client's events one after another and return the ids the server gave."""
    ids = []
    for number in range(EVENTS_PER_CLIENT):
        body = {
            "title": f"Client {client} event {number}",
            "category": "online",
            "format": "online",
            "country": "KE",
            "starts_at": f"{DAY}T{8 + number % 10:02d}:00",
            "organiser": f"Organiser {client}-{number}",
            "contact_email": f"client{client}@example.org",
            "consent": True,
        }
        request = urllib.request.Request(
            base_url + "/api/events",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
            ids.append(json.loads(response.read())["id"])
    return ids


@pytest.mark.slow
def test_concurrent_api_clients_lose_no_event(tmp_path: Path, server_port: int) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "MAPAPP_DATA_DIR": str(data_dir),
        "MAPAPP_SECRET_KEY": "concurrency-test-secret",
        "MAPAPP_SUBMIT_RATE_LIMIT": "off",
        "MAPAPP_ENV": "production",
        "MAPAPP_PUBLIC_URL": f"http://127.0.0.1:{server_port}",
    }
    process = subprocess.Popen(
        [str(MAPAPP), "serve", "--port", str(server_port), "--workers", str(WORKERS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{server_port}"
    try:
        wait_until_up(base_url, process)
        with ProcessPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(post_events, [base_url] * CLIENTS, range(CLIENTS)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    acknowledged = [event_id for ids in results for event_id in ids]
    assert len(acknowledged) == CLIENTS * EVENTS_PER_CLIENT
    assert len(set(acknowledged)) == len(acknowledged)
    stored = EventStore(data_dir).frame()
    assert sorted(stored["id"]) == sorted(acknowledged)
    assert set(stored["status"]) == {"pending"}
    assert len(set(stored["title"])) == CLIENTS * EVENTS_PER_CLIENT
