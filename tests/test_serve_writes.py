"""Writes through `mapapp serve`: acknowledged changes survive killed workers; one of two saves wins.

The server runs with MAPAPP_ENV=testing and a fixed secret key, not production: production marks
the session cookie Secure, and a client (requests, like a browser) never sends a Secure cookie over
plain http, so neither sign-in nor any CSRF-protected form would work against http://127.0.0.1.
The environment changes nothing else (see mapapp/web/auth.py).

Test 1 covers every kind of write: coordinators' edits, approvals (one and bulk), rejections,
placements, imports (web and CLI), erasures and reviews of organisers' waiting changes; organisers'
submissions, edits, changes to published events, withdrawals and link revocations; and the outbox:
every acknowledged operation's message is queued, and the workers' senders deliver each as an
.eml file carrying its Message-ID, while workers are killed.
"""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests

from mapapp.storage import EventStore
from tests.serve_clients import (
    DAY,
    HTTP_TIMEOUT,
    Client,
    Tally,
    admin_path,
    check_erased,
    check_mail_files,
    check_messages,
    check_store,
    errors_in_log,
    find_form,
    import_with_cli,
    read_store,
    run_client,
    seed,
)
from tests.servers import STARTUP_SECONDS, serving

# Test 1: clients, their operations and the worker killer.
CLIENTS = 8
SEED_STATUSES = ("pending", "approved", "rejected", "pending", "approved")  # per client
KILLS = 12
KILL_PAUSE_SECONDS = (0.5, 1.5)
BUSY_POLLS = 30  # looks, 10 ms apart, for a worker busy with a request before killing any
BOOT_SECONDS = 2.5  # a worker younger than this may still be importing the app
# Test 2.
ADMIN_TRIALS = 30
ORGANISER_TRIALS = 6


# The server


def worker_states(master: int) -> dict[int, str]:
    """Return the gunicorn master's children, its workers, with their state (R, S, D...)."""
    states = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == master:
            states[int(entry)] = state
    return states


def pick_victim(master: int, first_seen: dict[int, float], rng: random.Random) -> int | None:
    """Return a booted worker, one busy with a request (running or on the disk) if one shows."""
    booted: list[int] = []
    for _ in range(BUSY_POLLS):
        now = time.monotonic()
        states = worker_states(master)
        for pid in states:
            first_seen.setdefault(pid, now)
        booted = [pid for pid in states if now - first_seen[pid] > BOOT_SECONDS]
        busy = [pid for pid in booted if states[pid] in {"R", "D"}]
        if busy:
            return rng.choice(busy)
        time.sleep(0.01)
    return rng.choice(booted) if booted else None


def kill_workers(master: int, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL a worker every 0.5-1.5 s, KILLS times at most, until stop is set.

    A worker busy with a request is preferred, so that kills land in the middle of writes; one
    that only just started is left to finish importing the app.
    """
    rng = random.Random(20270228)
    # The workers there at the start have served the clients' sign-ins: they are booted.
    first_seen = {pid: 0.0 for pid in worker_states(master)}
    for _ in range(KILLS):
        if stop.wait(rng.uniform(*KILL_PAUSE_SECONDS)):
            return
        victim = pick_victim(master, first_seen, rng)
        if victim is None:
            continue
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(victim)


@pytest.mark.slow
def test_every_acknowledged_change_of_every_kind_survives_worker_kills(
    tmp_path: Path, server_port: int
) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    names = [f"coordinator-{number}" for number in range(CLIENTS)]
    statuses = [SEED_STATUSES[n // CLIENTS] for n in range(CLIENTS * len(SEED_STATUSES))]
    ids = seed(data_dir, statuses, names)
    owned = [
        [(ids[n], statuses[n]) for n in range(number, len(ids), CLIENTS)]
        for number in range(CLIENTS)
    ]
    log_path = tmp_path / "serve.log"
    # Each client forks from one fresh process that imported this module once: no client
    # inherits this process's threads, and none pays the import again (~1.5 s of CPU apiece).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    start = context.Barrier(CLIENTS + 1)
    results = context.Queue()
    killed: list[int] = []
    stop = threading.Event()
    reports: list[dict[str, Any]] = []
    processes = []
    with serving(data_dir, log_path, server_port) as (base_url, server):
        killer = threading.Thread(target=kill_workers, args=(server.pid, stop, killed))
        try:
            for number in range(CLIENTS):
                process = context.Process(
                    target=run_client, args=(base_url, number, owned[number], start, results)
                )
                process.start()
                processes.append(process)
            try:
                start.wait(timeout=STARTUP_SECONDS)
            except threading.BrokenBarrierError:
                pass  # a client failed to start: its report says why
            killer.start()
            cli_titles = import_with_cli(data_dir, tmp_path)
            for _ in range(CLIENTS):
                reports.append(results.get(timeout=240))
        finally:
            stop.set()
            if killer.ident is not None:
                killer.join(timeout=10)
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=10)
            results.close()
            results.join_thread()
    load_seconds = time.monotonic() - started

    failed = [report["error"] for report in reports if "error" in report]
    assert not failed, "\n".join(failed)
    events, entries = read_store(data_dir)
    tally = Tally(reports, cli_titles)
    created, imported = len(tally.created), len(tally.imported)
    unanswered = len(events) + len(tally.erased) - len(ids) - created - imported
    print(
        f"\n{tally.summary()}\nand a CLI import of {len(cli_titles)} events; "
        f"{len(killed)} workers killed; {unanswered} events stored by an unanswered API "
        f"request; {len(events)} events stored, {len(entries)} audit entries; "
        f"{load_seconds:.1f} s until the server stopped"
    )

    assert check_store(tally, events, entries) == []
    assert errors_in_log(log_path) == []
    assert check_erased(data_dir, tally.erased, tally.erased_values) == []
    outbox = pd.read_csv(
        data_dir / "outbox.csv", dtype=str, keep_default_na=False, na_filter=False
    ).to_dict("records")
    assert check_messages(tally.changes, outbox) == []
    assert check_mail_files([data_dir], outbox) == []
    assert killed, "no worker was killed: the clients finished too soon"


# Test 2: two saves of one event at the same moment


def race(*posts: Callable[[], requests.Response | None]) -> list[requests.Response | None]:
    """Send each post from its own thread, released together."""
    barrier = threading.Barrier(len(posts), timeout=30)

    def released(post: Callable[[], requests.Response | None]) -> requests.Response | None:
        barrier.wait()
        return post()

    with ThreadPoolExecutor(len(posts)) as pool:
        futures = [pool.submit(released, post) for post in posts]
        return [future.result(timeout=2 * HTTP_TIMEOUT) for future in futures]


def admin_save(client: Client, event_id: str, title: str) -> Callable[[], requests.Response | None]:
    """Read the admin edit page now; return the POST of the form with a new title."""
    form = find_form(client.page(admin_path(event_id)) or "")
    assert form is not None, client.anomalies
    data = {**form.values(), "title": title}
    return lambda: client.request("POST", admin_path(event_id), data=data)


def organiser_save(
    client: Client, edit_path: str, title: str
) -> Callable[[], requests.Response | None]:
    """Read the organiser's edit page now; return the POST of its form with a new title."""
    form = find_form(client.page(edit_path) or "")
    assert form is not None, client.anomalies
    data = {**form.values(), "title": title}
    return lambda: client.request("POST", edit_path, data=data)


@pytest.mark.slow
def test_two_simultaneous_saves_of_one_event_exactly_one_wins(
    tmp_path: Path, server_port: int
) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    ids = seed(data_dir, list(SEED_STATUSES), ["alice", "bob"])
    store = EventStore(data_dir)
    winners: list[str] = []  # the title that won each trial
    wins: Counter[str] = Counter()
    try:
        with serving(data_dir, tmp_path / "serve.log", server_port) as (base_url, _server):
            alice, bob = Client(base_url, "alice"), Client(base_url, "bob")
            organiser = Client(base_url, "organiser")
            with alice.http, bob.http, organiser.http:
                alice.sign_in()
                bob.sign_in()
                body = {
                    "title": "Organiser's own event",
                    "category": "online",
                    "format": "online",
                    "country": "KE",
                    "starts_at": f"{DAY}T18:00",
                    "organiser": "Organiser",
                    "contact_email": "organiser@example.org",
                    "consent": True,
                }
                created = organiser.request("POST", "/api/events", json=body)
                assert created is not None and created.status_code == 201
                linked_id = created.json()["id"]
                edit_path = urlsplit(created.json()["edit_url"]).path

                for trial in range(ADMIN_TRIALS + ORGANISER_TRIALS):
                    # Alice (or, in the last trials, the organiser) against Bob.
                    by_organiser = trial >= ADMIN_TRIALS
                    event_id = linked_id if by_organiser else ids[trial % len(ids)]
                    first = organiser if by_organiser else alice
                    titles = [f"Trial {trial} by {first.name}", f"Trial {trial} by bob"]
                    if by_organiser:
                        first_post = organiser_save(organiser, edit_path, titles[0])
                    else:
                        first_post = admin_save(alice, event_id, titles[0])
                    responses = race(first_post, admin_save(bob, event_id, titles[1]))

                    codes = [-1 if answer is None else answer.status_code for answer in responses]
                    assert sorted(codes) == [303, 409], (trial, codes)
                    winner = titles[codes.index(303)]
                    loser = responses[codes.index(409)]
                    assert loser is not None and html.escape(winner) in loser.text
                    stored = store.get(event_id)
                    assert stored is not None and stored["title"] == winner, (trial, codes)
                    winners.append(winner)
                    wins[winner.split(" by ")[1]] += 1
    finally:
        store.close()
    _events, entries = read_store(data_dir)
    saved = [
        new
        for entry in entries
        for name, (_old, new) in json.loads(entry["changes"] or "{}").items()
        if name == "title" and new.startswith("Trial ")
    ]
    assert saved == winners
    answered = alice.statuses + bob.statuses + organiser.statuses
    assert [code for code in answered if code >= 500] == []
    assert errors_in_log(tmp_path / "serve.log") == []
    print(
        f"\n{len(winners)} races, each one 303 and one 409; wins: {dict(sorted(wins.items()))}; "
        f"{time.monotonic() - started:.1f} s"
    )
