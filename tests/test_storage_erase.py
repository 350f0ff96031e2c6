"""EventStore.erase: the row and its audit values go in one change, crash-safe, seen by every process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mapapp.storage import Audit, EventStore, RowNotFoundError
from mapapp.storage.event_store import ERASED
from tests.conftest import change, make_event

SECRET_TITLE = "Walk of Maria Dupont-Secret"
SECRET_EMAIL = "maria.secret@example.org"


def _erasable(store: EventStore) -> dict[str, str]:
    """Store an event with distinctive personal data and change it twice, audited."""
    event = store.add(
        make_event(title=SECRET_TITLE, contact_email=SECRET_EMAIL, organiser="Maria Dupont"),
        audit=Audit("organiser", "submit"),
    )
    change(store, event["id"], {"description": "Bring Maria's umbrella."})
    return change(store, event["id"], {"title": SECRET_TITLE + " (moved)"})


def _audit_rows(data_dir: Path) -> list[dict[str, str]]:
    """Return the audit log as a fresh store reads it from disk."""
    fresh = EventStore(data_dir)
    try:
        return fresh.audit.frame().to_dict("records")  # type: ignore[return-value]
    finally:
        fresh.close()


def _texts_in(data_dir: Path) -> str:
    """Return every data file's text, to search for what should be gone."""
    return "".join(
        path.read_text(encoding="utf-8-sig", errors="replace") for path in data_dir.rglob("*.csv")
    )


def test_erase_removes_the_row_and_every_value_its_audit_entries_held(data_dir: Path) -> None:
    store = EventStore(data_dir)
    other = store.add(make_event(title="Someone else's walk"))
    event = _erasable(store)

    erased = store.erase(event["id"], who="coordinator")

    assert erased["title"] == SECRET_TITLE + " (moved)"
    assert store.get(event["id"]) is None and store.get(other["id"]) is not None
    text = _texts_in(data_dir)
    for secret in (SECRET_TITLE, SECRET_EMAIL, "Maria"):
        assert secret not in text
    entries = [row for row in _audit_rows(data_dir) if row["event_id"] == event["id"]]
    # Who did what when stays; the values are gone; the erase itself records none.
    assert [(row["who"], row["action"]) for row in entries] == [
        ("organiser", "submit"),
        ("test", "edit"),
        ("test", "edit"),
        ("coordinator", "erase"),
    ]
    assert {row["changes"] for row in entries} == {ERASED}
    assert json.loads(ERASED) == "erased"
    others = [row for row in _audit_rows(data_dir) if row["event_id"] == other["id"]]
    assert others and all(row["changes"] != ERASED for row in others)


def test_another_process_sees_the_erase_and_never_reuses_its_version(data_dir: Path) -> None:
    store = EventStore(data_dir)
    kept = store.add(make_event(title="Kept"))
    event = _erasable(store)  # the erased event holds the store's highest version
    reader = EventStore(data_dir)
    assert reader.get(event["id"]) is not None

    store.erase(event["id"], who="coordinator")
    after = change(reader, kept["id"], {"title": "Kept, renamed"})

    assert reader.get(event["id"]) is None
    erase_version = next(
        int(row["version"]) for row in _audit_rows(data_dir) if row["action"] == "erase"
    )
    assert int(after["version"]) == erase_version + 1
    versions = [row["version"] for row in _audit_rows(data_dir)]
    assert len(versions) == len(set(versions))


def test_an_unknown_id_is_refused_and_nothing_written(data_dir: Path) -> None:
    store = EventStore(data_dir)
    store.add(make_event())
    before = (data_dir / "audit.csv").read_bytes(), (data_dir / "events.csv").read_bytes()

    with pytest.raises(RowNotFoundError):
        store.erase("nosuchid", who="coordinator")

    assert ((data_dir / "audit.csv").read_bytes(), (data_dir / "events.csv").read_bytes()) == before


DIES_BEFORE_THE_EVENTS_FILE = """
import os, sys
from mapapp.storage import EventStore
store = EventStore(sys.argv[1])
os.replace = lambda *args: os._exit(9)  # after the erase entry, before the events file
store.erase(sys.argv[2], who="dying")
"""

DIES_BEFORE_THE_AUDIT_SCRUB = """
import os, sys
from mapapp.storage import EventStore
store = EventStore(sys.argv[1])
store.audit._replace_file = lambda *args, **kwargs: os._exit(9)  # events written, audit not yet
store.erase(sys.argv[2], who="dying")
"""


def _die_while_erasing(script: str, data_dir: Path, event_id: str) -> None:
    """Run an erase in a process that is killed at a chosen step."""
    died = subprocess.run([sys.executable, "-c", script, str(data_dir), event_id], check=False)
    assert died.returncode == 9


def test_an_erase_that_died_before_the_events_file_is_undone_by_the_next_writer(
    data_dir: Path,
) -> None:
    store = EventStore(data_dir)
    event = _erasable(store)
    _die_while_erasing(DIES_BEFORE_THE_EVENTS_FILE, data_dir, event["id"])

    change(store, event["id"], {"description": "Still here."})

    assert store.get(event["id"])["description"] == "Still here."  # type: ignore[index]
    actions = [row["action"] for row in _audit_rows(data_dir) if row["event_id"] == event["id"]]
    assert "erase" not in actions  # no entry of an erase that never happened
    entries = [row for row in _audit_rows(data_dir) if row["event_id"] == event["id"]]
    assert all(row["changes"] != ERASED for row in entries)


def test_an_erase_that_died_before_the_audit_scrub_is_finished_by_the_next_writer(
    data_dir: Path,
) -> None:
    store = EventStore(data_dir)
    other = store.add(make_event(title="Other"))
    event = _erasable(store)
    _die_while_erasing(DIES_BEFORE_THE_AUDIT_SCRUB, data_dir, event["id"])
    assert SECRET_EMAIL not in (data_dir / "events.csv").read_text(encoding="utf-8-sig")
    assert SECRET_TITLE in (data_dir / "audit.csv").read_text(encoding="utf-8-sig")

    change(store, other["id"], {"title": "Other, renamed"})

    assert SECRET_TITLE not in _texts_in(data_dir)
    entries = [row for row in _audit_rows(data_dir) if row["event_id"] == event["id"]]
    assert [row["action"] for row in entries][-1] == "erase"
    assert {row["changes"] for row in entries} == {ERASED}


def test_copies_set_aside_that_hold_an_event_are_named(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = _erasable(store)
    (data_dir / "backups").mkdir()
    backup = data_dir / "backups" / "events-20270101T000000Z.csv"
    backup.write_bytes((data_dir / "events.csv").read_bytes())
    (data_dir / "recovered").mkdir()
    (data_dir / "recovered" / "audit-torn-x.csv.part").write_bytes(b"unrelated bytes")

    assert store.copies_holding([event["id"], SECRET_EMAIL]) == [backup]
