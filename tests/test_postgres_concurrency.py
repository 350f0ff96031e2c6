"""Several real processes writing every kind of change to one PostgreSQL store at once.

Each process is a host of its own (its own store objects, pool and caches): it adds events,
edits and approves them with compare-and-swap (reading again after a conflict), erases some,
claims outbox rows and imports one shared batch. Afterwards every acknowledged change is in the
database exactly once, with its audit entry, and nothing unacknowledged is.
"""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest

from mapapp.storage import Audit, ConflictError, RowNotFoundError
from mapapp.storage.event_store import ERASED
from mapapp.storage.validation import TableSpec
from tests.conftest import make_event

PROCESSES = 4
ROUNDS = 12
OUTBOX = TableSpec(file_name="outbox.csv", columns=("id", "status", "sender"), key="id")
SHARED_IMPORT = [make_event(title=f"Shared import {number}") for number in range(10)]


def host(url: str, data_dir: str, number: int, seed_ids: list[str], results: str) -> None:
    """Do every kind of write as one host would, and write down what was acknowledged."""
    from mapapp.storage.pg_events import PgEventStore

    store = PgEventStore(url, data_dir)
    outbox = store.table(OUTBOX.file_name, OUTBOX, key="id")
    rng = random.Random(number)
    done: dict[str, list[Any]] = {"added": [], "edits": [], "erased": [], "claims": []}
    imported = store.add_many(
        SHARED_IMPORT, audit=Audit(f"host{number}", "import"), unless_stored=lambda e: e["title"]
    )
    done["imported"] = [row["title"] for row in imported]
    for round_number in range(ROUNDS):
        added = store.add(make_event(title=f"host{number} event {round_number}", status="pending"))
        done["added"].append(added["id"])
        target = rng.choice(seed_ids)
        while True:  # as the edit page does: a lost race is read again and tried again
            current = store.get(target)
            assert current is not None
            value = f"host{number} edit {round_number}"
            try:
                stored = store.update(
                    target,
                    {"description": value},
                    expected=current["version"],
                    audit=Audit(f"host{number}", "edit"),
                )
            except ConflictError:
                continue
            done["edits"].append([target, value, stored["version"]])
            break
        approved = store.update(
            added["id"], {"status": "approved"}, expected=added["version"], audit=Audit("a", "ok")
        )
        assert approved["status"] == "approved"
        if round_number % 4 == 3:
            victim = done["added"][round_number - 1]
            try:
                store.erase(victim, who=f"host{number}")
                done["erased"].append(victim)
            except RowNotFoundError:
                pass

        def claim(frame: Any) -> dict[str, dict[str, str]]:
            queued = frame[frame["status"] == "queued"]
            if queued.empty:
                return {}
            return {str(queued.iloc[0]["id"]): {"status": "sending", "sender": f"host{number}"}}

        done["claims"] += [row["id"] for row in outbox.change_rows(claim)]
    Path(results).write_text(json.dumps(done), encoding="utf-8")


@pytest.mark.slow
def test_every_acknowledged_change_from_several_hosts_is_stored_once(
    postgres_url: str, tmp_path: Path
) -> None:
    from mapapp.storage.pg_events import PgEventStore

    store = PgEventStore(postgres_url, tmp_path)
    store.create_missing()
    seeded = store.add_many([make_event(title=f"Seed {number}") for number in range(3)])
    seed_ids = [row["id"] for row in seeded]
    outbox = store.table(OUTBOX.file_name, OUTBOX, key="id")
    outbox.append([{"id": f"m{n:03}", "status": "queued"} for n in range(PROCESSES * ROUNDS - 5)])
    context = multiprocessing.get_context("spawn")  # fresh hosts: nothing shared but the database
    files = [tmp_path / f"host{number}.json" for number in range(PROCESSES)]
    processes = [
        context.Process(
            target=host, args=(postgres_url, str(tmp_path), number, seed_ids, str(files[number]))
        )
        for number in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    done = [json.loads(path.read_text(encoding="utf-8")) for path in files]

    reader = PgEventStore(postgres_url, tmp_path)
    events = {row["id"]: row for row in reader.frame().to_dict("records")}
    audit = reader.audit.frame().to_dict("records")
    erased = {event_id for host_done in done for event_id in host_done["erased"]}
    added = [event_id for host_done in done for event_id in host_done["added"]]
    assert len(added) == len(set(added)) == PROCESSES * ROUNDS
    assert {event_id for event_id in added if event_id not in erased} <= set(events)
    assert not erased & set(events)
    titles = [row["title"] for row in events.values()]
    assert len(titles) == len(set(titles))  # every title (each added or imported once) once
    imported = sorted(title for host_done in done for title in host_done["imported"])
    assert imported == sorted(event["title"] for event in SHARED_IMPORT)
    # Each acknowledged edit has its own version and audit entry; the last one is what is stored.
    edits = [edit for host_done in done for edit in host_done["edits"]]
    versions = [int(version) for _, _, version in edits]
    assert len(versions) == len(set(versions)) == PROCESSES * ROUNDS
    for event_id in seed_ids:
        mine = sorted((int(v), value) for target, value, v in edits if target == event_id)
        if mine:
            assert events[event_id]["description"] == mine[-1][1]
            assert events[event_id]["version"] == str(mine[-1][0])
    edit_entries = {(row["event_id"], row["version"]) for row in audit if row["action"] == "edit"}
    assert edit_entries == {(target, version) for target, _, version in edits}
    # Versions are the store's change numbers: each change's entries carry one, never reused.
    batches: dict[str, set[str]] = {}
    for row in audit:
        batches.setdefault(row["version"], set()).add(row["batch"])
    assert all(len(batch) == 1 for batch in batches.values())
    for row in audit:
        if row["event_id"] in erased:
            assert row["changes"] == ERASED
    # Every outbox row claimed once, by one host.
    claims = [claim for host_done in done for claim in host_done["claims"]]
    assert sorted(claims) == [f"m{n:03}" for n in range(PROCESSES * ROUNDS - 5)]
    rows = reader.table(OUTBOX.file_name, OUTBOX, key="id").frame().to_dict("records")
    owner = {claim: f"host{n}" for n, host_done in enumerate(done) for claim in host_done["claims"]}
    assert all(row["status"] == "sending" and row["sender"] == owner[row["id"]] for row in rows)
