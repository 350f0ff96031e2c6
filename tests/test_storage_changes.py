"""The store under many processes: exact change detection, compare-and-swap, the audit pair, faults.

These run real processes on the real file system of the data directory (ext4 here: tmpfs does not
hand inode numbers back, so a test there would prove nothing about the bug they guard against).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

import mapapp.storage.csv as csv_backend
from mapapp.storage import (
    Audit,
    ConflictError,
    EventStore,
    StoreDamagedError,
    StoreUnavailableError,
)
from tests.conftest import change, fill_disk, make_event

EDIT = Audit("tester", "edit")


def _serve_commands(data_dir: str, commands: Connection) -> None:
    """Run store commands sent by the test, in a process of its own, answering each."""
    store = EventStore(data_dir)
    while True:
        command, *args = commands.recv()
        if command == "stop":
            return
        if command == "read":
            commands.send({row["id"]: row["title"] for row in store.frame().to_dict("records")})
        elif command == "inode":
            commands.send(os.stat(store.path).st_ino)
        elif command == "update":
            event_id, title = args
            current = store.get(event_id)
            assert current is not None
            stored = store.update(
                event_id, {"title": title}, expected=current["version"], audit=EDIT
            )
            commands.send(stored["version"])


@pytest.fixture
def processes(data_dir: Path) -> Iterator[list[Connection]]:
    """Start three store processes on the data directory and stop them afterwards."""
    context = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for _ in range(3):
        ours, theirs = context.Pipe()
        worker = context.Process(target=_serve_commands, args=(str(data_dir), theirs))
        worker.start()
        pipes.append(ours)
        workers.append(worker)
    yield pipes
    for pipe in pipes:
        pipe.send(("stop",))
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0


def ask(pipe: Connection, *command: Any) -> Any:
    """Send a command to a store process and return its answer."""
    pipe.send(command)
    assert pipe.poll(60), f"no answer to {command}"
    return pipe.recv()


def file_system_reuses_inode_numbers(directory: Path) -> bool:
    """Return whether a file created after another was unlinked gets the freed inode number."""
    seen = set()
    for number in range(5):
        probe = directory / f".probe-{number}"
        probe.write_bytes(b"x")
        seen.add(os.stat(probe).st_ino)
        probe.unlink()
    return len(seen) < 5


def test_rewrites_by_two_processes_are_never_taken_for_an_append_by_a_third(
    data_dir: Path, processes: list[Connection]
) -> None:
    # Precondition: the file system really hands freed inode numbers back, as ext4 does.
    assert file_system_reuses_inode_numbers(data_dir), "this file system never reuses inodes"
    store = EventStore(data_dir)
    events = store.add_many(make_event(title=f"Title {n}") for n in range(5))
    first, second, third = processes
    for round_number in range(10):
        ask(third, "read")  # the third process caches the file as it is
        # Two same-size rewrites by the other two: the second may land on the first's inode.
        ask(first, "update", events[0]["id"], f"First {round_number:03d}")
        ask(second, "update", events[1]["id"], f"Secnd {round_number:03d}")
        assert ask(third, "read")[events[0]["id"]] == f"First {round_number:03d}"
        ask(third, "update", events[2]["id"], f"Third {round_number:03d}")
        titles = {
            row["id"]: row["title"] for row in EventStore(data_dir).frame().to_dict("records")
        }
        assert titles[events[0]["id"]] == f"First {round_number:03d}"
        assert titles[events[1]["id"]] == f"Secnd {round_number:03d}"
        assert titles[events[2]["id"]] == f"Third {round_number:03d}"


def test_a_replacement_by_another_program_is_seen(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event(title="Before"))
    store.frame()
    # A spreadsheet's save-and-rename, keeping the size and even the modification time.
    data = store.path.read_bytes().replace(b"Before", b"Behind")
    status = os.stat(store.path)
    replacement = data_dir / "saved-by-a-spreadsheet.csv"
    replacement.write_bytes(data)
    os.utime(replacement, ns=(status.st_atime_ns, status.st_mtime_ns))
    os.replace(replacement, store.path)

    assert store.get(event["id"])["title"] == "Behind"  # type: ignore[index]


def test_a_stale_version_is_refused_with_the_row_as_it_is(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event())
    saved = store.update(event["id"], {"title": "One"}, expected=event["version"], audit=EDIT)
    before = store.path.read_bytes()

    with pytest.raises(ConflictError) as raised:
        store.update(event["id"], {"title": "Two"}, expected=event["version"], audit=EDIT)

    assert raised.value.current[event["id"]]["title"] == "One"
    assert raised.value.current[event["id"]]["version"] == saved["version"]
    assert store.path.read_bytes() == before
    with pytest.raises(ValueError, match="No version given"):
        store.update(event["id"], {"title": "Three"}, expected="", audit=EDIT)


def test_versions_count_changes_across_the_store(data_dir: Path) -> None:
    store = EventStore(data_dir)
    first, second = store.add_many([make_event(), make_event()])
    assert first["version"] == second["version"] == "1"
    mark = store.version
    edited = change(store, second["id"], {"title": "Edited"})
    assert edited["version"] == "2"
    third = store.add(make_event())
    assert third["version"] == "3"
    assert store.changed_since(mark) == [second["id"], third["id"]]
    assert EventStore(data_dir).version == store.version


def test_skip_stale_writes_the_fresh_and_returns_the_stale(data_dir: Path) -> None:
    store = EventStore(data_dir)
    fresh, stale = store.add_many([make_event(), make_event()])
    change(store, stale["id"], {"title": "Changed meanwhile"})

    updated = store.update_many(
        {fresh["id"]: {"status": "pending"}, stale["id"]: {"status": "pending"}},
        expected={fresh["id"]: fresh["version"], stale["id"]: stale["version"]},
        audit=Audit("tester", "approve"),
        skip_stale=True,
    )

    assert [row["id"] for row in updated.rows] == [fresh["id"]]
    assert updated.stale[stale["id"]]["title"] == "Changed meanwhile"
    assert store.get(stale["id"])["status"] == "approved"  # type: ignore[index]


def test_an_edit_rewrites_only_the_changed_row(data_dir: Path) -> None:
    store = EventStore(data_dir)
    events = store.add_many(make_event(title=f"Event {n}") for n in range(3))
    # A row saved by hand with a bare \n line end and unneeded quotes: an edit elsewhere keeps it.
    data = store.path.read_bytes()
    lines = data.split(b"\r\n")
    lines[3] = lines[3].replace(b"Event 2", b'"Event 2"')
    store.path.write_bytes(b"\r\n".join(lines[:3]) + b"\r\n" + lines[3] + b"\n")
    hand_made = lines[3] + b"\n"

    change(store, events[0]["id"], {"title": "Changed"})

    assert hand_made in store.path.read_bytes()
    assert store.get(events[2]["id"])["title"] == "Event 2"  # type: ignore[index]


def test_a_short_write_is_finished_plainly(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EventStore(data_dir)
    events = store.add_many(make_event(title=f"Event {n}") for n in range(50))
    real_writev = os.writev

    def first_buffer_only(descriptor: int, buffers: Any) -> int:
        return real_writev(descriptor, list(buffers)[:1])  # what a short write returns

    monkeypatch.setattr(csv_backend.os, "writev", first_buffer_only)
    change(store, events[7]["id"], {"title": "After a short write"})
    monkeypatch.undo()

    fresh = EventStore(data_dir).frame()
    assert list(fresh["title"]) == [
        "After a short write" if n == 7 else f"Event {n}" for n in range(50)
    ]


def _hold_lock(lock_path: str, seconds: float, ready: Any) -> None:
    """Hold a store's write lock for a while, from another process."""
    with FileLock(lock_path):
        ready.set()
        time.sleep(seconds)


def test_reads_take_no_lock(data_dir: Path) -> None:
    store = EventStore(data_dir)
    store.add(make_event(title="Readable"))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_lock, args=(str(store.path) + ".lock", 5.0, ready))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        assert list(EventStore(data_dir).frame()["title"]) == ["Readable"]
        assert time.monotonic() - started < 4.0  # did not wait for the lock holder
    finally:
        holder.join(timeout=30)


def test_a_damaged_file_is_served_from_the_good_copy_and_never_written(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event(title="Good copy"))
    store.frame()
    damaged = store.path.read_bytes().replace(b"starts_at", b"Start", 1)
    store.path.write_bytes(damaged)

    assert store.get(event["id"])["title"] == "Good copy"  # type: ignore[index]
    assert any("starts_at" in problem for problem in store.damage)
    assert store.health() == "degraded"
    with pytest.raises(StoreUnavailableError) as raised:
        change(store, event["id"], {"title": "Would wipe the hand edit"})
    assert raised.value.reason == "damaged"
    with pytest.raises(StoreUnavailableError):
        store.add(make_event())
    assert store.path.read_bytes() == damaged
    with pytest.raises(StoreDamagedError, match="starts_at"):
        EventStore(data_dir).frame()  # a process that never had a good copy


@pytest.mark.parametrize("write", ["append", "edit"])
def test_a_full_disk_writes_nothing_and_reads_keep_working(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    print("variant: fault injected at the write call")
    store = EventStore(data_dir)
    event = store.add(make_event(title="Stored before"))
    before = {name: (data_dir / name).read_bytes() for name in ("events.csv", "audit.csv")}
    fill_disk(monkeypatch)

    with pytest.raises(StoreUnavailableError) as raised:
        if write == "append":
            store.add(make_event(title="Never acknowledged"))
        else:
            change(store, event["id"], {"title": "Never acknowledged"})

    assert raised.value.reason == "full"
    assert {name: (data_dir / name).read_bytes() for name in before} == before
    assert not (data_dir / "recovered").exists() or not list((data_dir / "recovered").iterdir())
    assert not list(data_dir.glob(".*.tmp"))
    assert store.get(event["id"])["title"] == "Stored before"  # type: ignore[index]
    assert EventStore(data_dir).get(event["id"])["title"] == "Stored before"  # type: ignore[index]
    assert store.health() == "read-only"
    monkeypatch.undo()
    change(store, event["id"], {"title": "Stored after"})
    assert store.health() == "ok"


def test_a_real_full_file_system_writes_nothing(tmp_path: Path) -> None:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a small tmpfs: {mounted.stderr.decode()}")
        pytest.skip(f"variant not run: cannot mount a small tmpfs ({mounted.stderr.decode()})")
    print("variant: a real 256 KiB tmpfs filled up")
    try:
        store = EventStore(mount_point)
        kept = store.add(make_event(title="Kept"))
        refused = 0
        for number in range(400):
            try:
                store.add(make_event(title=f"Filler {number}", description="x" * 4000))
            except StoreUnavailableError as exc:
                assert exc.reason == "full"
                refused += 1
                break
        assert refused == 1, "the disk never filled"
        fresh = EventStore(mount_point)
        frame = fresh.frame()
        assert frame["id"].is_unique and kept["id"] in set(frame["id"])
        audited = set(fresh.audit.frame()["event_id"])
        assert audited == set(frame["id"])  # every stored event has its entry, and only those
        assert not list(mount_point.glob("recovered/*"))
        store.close()
        fresh.close()
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


DYING_WRITER = """
import os, sys
from mapapp.storage import Audit, EventStore
store = EventStore(sys.argv[1])
event = store.get(sys.argv[2])
os.replace = lambda *args: os._exit(9)  # die after the audit entry, before the events file
store.update(event["id"], {"title": "Never stored"}, expected=event["version"],
             audit=Audit("dying", "edit"))
"""


def test_an_audit_entry_whose_change_never_landed_is_cut_by_the_next_writer(
    data_dir: Path,
) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event(title="Original"))
    died = subprocess.run(
        [sys.executable, "-c", DYING_WRITER, str(data_dir), event["id"]], check=False
    )
    assert died.returncode == 9
    assert "Never stored" in (data_dir / "audit.csv").read_text(encoding="utf-8-sig")

    change(store, event["id"], {"title": "Next change"})

    audit_text = (data_dir / "audit.csv").read_text(encoding="utf-8-sig")
    assert "Never stored" not in audit_text
    assert "Next change" in audit_text
    [kept_aside] = (data_dir / "recovered").iterdir()
    assert b"Never stored" in kept_aside.read_bytes()


AUDITED_WRITER = """
import sys
from mapapp.storage import Audit, EventStore
store = EventStore(sys.argv[1])
number = 0
while True:
    event = store.add({"title": f"crash {sys.argv[2]} {number}", "status": "pending",
                       "category": "other", "format": "online", "starts_at": "2027-02-28T10:00"},
                      audit=Audit("writer", "submit"))
    print("add", event["id"], event["version"], flush=True)
    edited = store.update(event["id"], {"description": "edited " + "y" * 3000},
                          expected=event["version"], audit=Audit("writer", "edit"))
    print("edit", edited["id"], edited["version"], flush=True)
    number += 1
"""


@pytest.mark.slow
def test_every_acknowledged_change_keeps_its_audit_entry_through_sigkills(data_dir: Path) -> None:
    rng = random.Random(9)
    acknowledged: list[tuple[str, str, str]] = []
    for attempt in range(30):
        with subprocess.Popen(
            [sys.executable, "-c", AUDITED_WRITER, str(data_dir), str(attempt)],
            stdout=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            acknowledged.append(tuple(writer.stdout.readline().split()))  # type: ignore[arg-type]
            time.sleep(rng.uniform(0.0, 0.2))
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
            acknowledged.extend(tuple(line.split()) for line in writer.stdout if line.strip())  # type: ignore[misc]
    store = EventStore(data_dir)
    change(store, store.frame()["id"].iloc[0], {"title": "settles the audit"})

    events = {row["id"]: row for row in store.frame().to_dict("records")}
    entries = store.audit.frame().to_dict("records")
    audited = {(entry["event_id"], entry["version"]) for entry in entries}
    # A line cut short by the kill was never seen by the client: not acknowledged.
    acknowledged = [line for line in acknowledged if len(line) == 3]
    for _action, event_id, version in acknowledged:
        assert event_id in events
        assert (event_id, version) in audited, (event_id, version)
        assert int(events[event_id]["version"]) >= int(version)
    for entry in entries:  # and no entry of a change that never landed
        assert entry["event_id"] in events
        assert int(entry["version"]) <= int(events[entry["event_id"]]["version"])
    assert len(acknowledged) >= 30
    json.dumps(acknowledged)  # plain data throughout


# Found by a red-team pass: rows another program writes get the same checks as a whole file.


def test_an_appended_row_with_a_stored_id_is_damage_not_a_second_copy(data_dir: Path) -> None:
    store = EventStore(data_dir)
    events = store.add_many(make_event(title=f"Event {n}") for n in range(3))
    first_row = store.path.read_bytes().split(b"\r\n")[1] + b"\r\n"
    with open(store.path, "ab") as handle:  # another program appends a copy of the first row
        handle.write(first_row.replace(b"Event 0", b"Event 0 copy"))

    assert store.damage and "used twice" in " ".join(store.damage)
    assert store.get(events[0]["id"])["title"] == "Event 0"  # type: ignore[index]
    with pytest.raises(StoreUnavailableError):
        store.add(make_event(title="Would land beside the duplicate"))


@pytest.mark.parametrize(
    "damage",
    [b"Ev\xe9nt 1", b"E" * 200_000, b"Event\x00 1"],
    ids=["not UTF-8", "a 200,000-character field", "NUL"],
)
def test_a_row_that_cannot_be_read_is_never_taken_in_piecemeal(
    data_dir: Path, damage: bytes
) -> None:
    store = EventStore(data_dir)
    store.add_many(make_event(title=f"Event {n}") for n in range(3))
    store.frame()
    replacement = data_dir / "replacement.csv"
    replacement.write_bytes(store.path.read_bytes().replace(b"Event 1", damage))
    os.replace(replacement, store.path)

    titles = list(store.frame()["title"])  # never a 500: the good copy, or the file if it is good
    if damage.startswith(b"E" * 10):
        assert titles[1] == damage.decode() and not store.damage  # long, but a valid CSV field
    else:
        assert titles == ["Event 0", "Event 1", "Event 2"] and store.damage
    assert EventStore(data_dir).health() == ("ok" if not store.damage else "degraded")


def test_an_in_place_overwrite_of_the_same_size_is_seen(data_dir: Path) -> None:
    store = EventStore(data_dir)
    first, second = store.add_many([make_event(title="AAAA first"), make_event(title="BBBB")])
    store.frame()
    time.sleep(0.02)  # a later modification time than the store saw
    data = store.path.read_bytes()
    with open(store.path, "r+b") as handle:  # an editor that saves in place
        handle.seek(data.index(b"AAAA first"))
        handle.write(b"ZZZZ")

    assert store.get(first["id"])["title"] == "ZZZZ first"  # type: ignore[index]
    change(store, second["id"], {"title": "Next"})
    assert EventStore(data_dir).get(first["id"])["title"] == "ZZZZ first"  # type: ignore[index]


def test_two_tables_adding_the_same_key_add_it_once(data_dir: Path) -> None:
    columns = ("key", "value")
    one = csv_backend.CsvTable(data_dir / "cache.csv", columns, "key")
    other = csv_backend.CsvTable(data_dir / "cache.csv", columns, "key")
    one.frame(), other.frame()

    assert one.append([{"key": "paris|fr", "value": "first"}])
    assert other.append([{"key": "paris|fr", "value": "second"}]) == []

    fresh = csv_backend.CsvTable(data_dir / "cache.csv", columns, "key")
    assert fresh.frame().to_dict("records") == [{"key": "paris|fr", "value": "first"}]
