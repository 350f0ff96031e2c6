"""The CSV store: round trips, concurrent writers, crashes, caching."""

from __future__ import annotations

import csv
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapapp.storage import Audit, EventNotFoundError, EventStore, StoreDamagedError, per_frame
from mapapp.storage.event_store import FIELDS_BEFORE_CHANGES, STORED_FIELDS
from mapapp.storage.records import UTF8_BOM, complete_length
from tests.conftest import change, make_event

AWKWARD_TEXTS = [
    "comma, inside",
    'double "quotes" and ""doubled""',
    "new\nline",
    "carriage\rreturn",
    "windows\r\nline",
    "tab\there",
    "  leading and trailing spaces  ",
    "NA",
    "null",
    "None",
    "nan",
    "",
    "#N/A",
    "😀🎉 emoji",
    "مرحبا بالعالم",
    "שלום עולם",
    "上海 東京 서울",
    '"',
    "\n",
    ",",
    "=1+1",
]


def read_raw(path: Path) -> list[dict[str, str]]:
    """Return the rows of a CSV file as the csv module reads them."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_text_survives_a_round_trip_exactly(data_dir: Path, text: str) -> None:
    stored = EventStore(data_dir).add(make_event(title=text, description=text, venue=text))

    fresh = EventStore(data_dir).get(stored["id"])

    assert fresh is not None
    assert (fresh["title"], fresh["description"], fresh["venue"]) == (text, text, text)
    assert (
        pd.read_csv(data_dir / "events.csv", dtype=str, keep_default_na=False, na_filter=False).loc[
            0, "description"
        ]
        == text
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Every text but NUL, which validation refuses everywhere (no spreadsheet writes one).
@given(
    texts=st.lists(
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
        min_size=1,
        max_size=4,
    )
)
def test_any_text_survives_appends_and_rewrites(tmp_path: Path, texts: list[str]) -> None:
    data_dir = tmp_path / f"run-{random.random()}"
    store = EventStore(data_dir)
    ids = [store.add(make_event(description=text))["id"] for text in texts]
    change(store, ids[0], {"title": texts[-1]})

    fresh = EventStore(data_dir)

    assert [fresh.get(event_id)["description"] for event_id in ids] == texts  # type: ignore[index]
    assert fresh.get(ids[0])["title"] == texts[-1]  # type: ignore[index]


def test_file_is_utf8_with_header_in_schema_order(data_dir: Path) -> None:
    EventStore(data_dir).add(make_event(title="Łódź"))

    data = (data_dir / "events.csv").read_bytes()

    assert data.startswith(UTF8_BOM)
    header = data[len(UTF8_BOM) :].split(b"\r\n", 1)[0].decode()
    assert header.split(",") == list(STORED_FIELDS)
    assert read_raw(data_dir / "events.csv")[0]["title"] == "Łódź"


def test_add_assigns_unique_url_safe_ids_and_timestamps(data_dir: Path) -> None:
    store = EventStore(data_dir)

    stored = store.add_many([make_event() for _ in range(500)])

    ids = [event["id"] for event in stored]
    assert len(set(ids)) == 500
    assert all(len(event_id) == 8 and event_id.isalnum() for event_id in ids)
    assert all(event["created_at"].endswith("Z") for event in stored)


def test_add_replaces_an_id_that_is_taken(data_dir: Path) -> None:
    store = EventStore(data_dir)
    first = store.add(make_event(id="takenid1"))

    second = store.add(make_event(id="takenid1"))

    assert first["id"] == "takenid1"
    assert second["id"] != "takenid1"


def test_update_changes_only_the_named_event(data_dir: Path) -> None:
    store = EventStore(data_dir)
    first, second = store.add_many([make_event(title="one"), make_event(title="two")])

    change(store, first["id"], {"status": "rejected", "moderation_note": "spam"})

    fresh = EventStore(data_dir)
    assert fresh.get(first["id"])["status"] == "rejected"  # type: ignore[index]
    assert fresh.get(first["id"])["moderation_note"] == "spam"  # type: ignore[index]
    assert fresh.get(second["id"]) == second


def test_update_of_unknown_event_or_field_writes_nothing(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event())
    before = (data_dir / "events.csv").read_bytes()

    with pytest.raises(EventNotFoundError):
        store.update("nosuchid", {"status": "approved"}, expected="1", audit=Audit("t", "edit"))
    with pytest.raises(ValueError, match="Unknown fields: colour"):
        change(store, event["id"], {"colour": "red"})

    assert (data_dir / "events.csv").read_bytes() == before


def test_reads_are_cached_until_the_file_changes(data_dir: Path) -> None:
    store = EventStore(data_dir)
    store.add(make_event())
    first = store.frame()

    assert store.frame() is first
    EventStore(data_dir).add(make_event(title="from elsewhere"))
    refreshed = store.frame()

    assert refreshed is not first
    assert list(refreshed["title"]) == ["Light up the town hall", "from elsewhere"]


def test_appends_by_another_store_are_read_from_the_tail(data_dir: Path, monkeypatch) -> None:
    store, other = EventStore(data_dir), EventStore(data_dir)
    store.add(make_event())
    store.frame(), other.frame(), store.audit.frame(), other.audit.frame()
    full_reads: list[object] = []
    monkeypatch.setattr(pd, "read_csv", lambda *args, **kwargs: full_reads.append(args))

    other.add(make_event(title="tail"))

    assert list(store.frame()["title"]) == ["Light up the town hall", "tail"]
    assert full_reads == []


def test_an_edit_by_another_store_is_taken_in_row_by_row(data_dir: Path, monkeypatch) -> None:
    store, other = EventStore(data_dir), EventStore(data_dir)
    first, second = store.add_many([make_event(title="one"), make_event(title="two")])
    store.frame(), other.frame(), store.audit.frame(), other.audit.frame()
    full_reads: list[object] = []
    monkeypatch.setattr(pd, "read_csv", lambda *args, **kwargs: full_reads.append(args))

    change(other, second["id"], {"title": "two, edited"})
    other.add(make_event(title="three"))

    assert list(store.frame()["title"]) == ["one", "two, edited", "three"]
    assert store.get(second["id"])["version"] == other.get(second["id"])["version"]  # type: ignore[index]
    assert store.version == other.version
    assert full_reads == []
    monkeypatch.undo()
    assert EventStore(data_dir).frame().equals(store.frame())


def test_version_changes_with_every_write(data_dir: Path) -> None:
    store = EventStore(data_dir)
    versions = {store.version}
    event = store.add(make_event())
    versions.add(store.version)
    change(store, event["id"], {"title": "changed"})
    versions.add(store.version)

    assert len(versions) == 3


def test_a_file_with_the_previous_header_is_upgraded_once_with_a_backup(data_dir: Path) -> None:
    event = {**make_event(id="oldevent"), "created_at": "2026-01-01T10:00:00Z"}
    with open(data_dir / "events.csv", "w", encoding="utf-8", newline="") as handle:
        # The oldest header: no version column, no columns for changes waiting for review.
        writer = csv.DictWriter(handle, FIELDS_BEFORE_CHANGES, extrasaction="ignore")
        writer.writeheader()
        writer.writerow(event)
    original = (data_dir / "events.csv").read_bytes()

    store = EventStore(data_dir)

    assert store.get("oldevent")["title"] == event["title"]  # type: ignore[index]
    assert list(store.frame().columns) == list(STORED_FIELDS)
    assert read_raw(data_dir / "events.csv")[0]["version"] == "1"
    [backup] = (data_dir / "backups").iterdir()
    assert backup.read_bytes() == original
    EventStore(data_dir).frame()  # upgraded once: a second reader finds nothing to do
    assert len(list((data_dir / "backups").iterdir())) == 1


def test_a_file_that_is_not_the_events_table_is_named_and_never_rewritten(
    data_dir: Path,
) -> None:
    (data_dir / "events.csv").write_text("title\nno id column\n")
    before = (data_dir / "events.csv").read_bytes()

    with pytest.raises(StoreDamagedError, match="events.csv"):
        EventStore(data_dir).frame()
    assert (data_dir / "events.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a,b\n1,2\n", 8),  # complete
        (b"a,b\n1,2", 4),  # last record lacks its newline
        (b'a,b\n1,"x\n', 4),  # cut inside a quoted newline
        (b'a,b\n1,"x\ny"\n', 12),  # quoted newline, complete
        (b'a,b\n1,"say ""hi""\n', 4),  # cut after an escaped quote and a newline
        (b'a,b\n1,"say ""hi"""\n', 19),  # escaped quotes, complete
        (b"", 0),
    ],
)
def test_complete_length_finds_the_last_whole_record(data: bytes, expected: int) -> None:
    assert complete_length(data) == expected


def test_a_torn_last_record_is_cut_and_kept_aside(data_dir: Path) -> None:
    store = EventStore(data_dir)
    kept = store.add(make_event(description="kept"))
    with open(data_dir / "events.csv", "ab") as handle:
        handle.write(b'torn0001,pending,"half a record\nwith a newline')

    fresh = EventStore(data_dir)
    added = fresh.add(make_event(title="after the crash"))

    assert [event["id"] for event in read_raw(data_dir / "events.csv")] == [kept["id"], added["id"]]
    recovered = list((data_dir / "recovered").iterdir())
    assert len(recovered) == 1
    assert recovered[0].read_bytes().startswith(b"torn0001,pending")


def test_a_torn_append_is_ignored_by_readers_and_cut_by_the_next_writer(data_dir: Path) -> None:
    store = EventStore(data_dir)
    store.add(make_event())
    with open(data_dir / "events.csv", "ab") as handle:
        handle.write(b"torn0002,pend")

    assert len(store.frame()) == 1
    assert len(EventStore(data_dir).frame()) == 1
    assert (data_dir / "events.csv").read_bytes().endswith(b"torn0002,pend")  # readers cut nothing
    store.add(make_event(title="next"))
    assert b"torn0002" not in (data_dir / "events.csv").read_bytes()
    assert len(EventStore(data_dir).frame()) == 2


def test_a_rewrite_that_died_before_its_rename_leaves_the_store_intact(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event())
    leftover = data_dir / ".events.csv.999.1.tmp"
    leftover.write_bytes(b"partial rewrite")

    fresh = EventStore(data_dir)

    assert fresh.get(event["id"]) == event
    assert leftover.exists()  # a reader removes nothing: the rewrite might still be running
    change(fresh, event["id"], {"title": "next"})
    assert not leftover.exists()  # the next lock holder knows it is a leftover


def _write_many(data_dir: str, worker: int, count: int) -> None:
    """Add events one by one from a separate process."""
    store = EventStore(data_dir)
    for number in range(count):
        store.add(make_event(title=f"worker {worker} event {number}"))


@pytest.mark.slow
def test_eight_processes_writing_at_once_lose_nothing(data_dir: Path) -> None:
    workers, per_worker = 8, 200
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_many, args=(str(data_dir), worker, per_worker))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0

    frame = EventStore(data_dir).frame()

    assert len(frame) == workers * per_worker
    assert frame["id"].is_unique
    expected = {f"worker {w} event {n}" for w in range(workers) for n in range(per_worker)}
    assert set(frame["title"]) == expected
    assert len(read_raw(data_dir / "events.csv")) == workers * per_worker


@pytest.mark.slow
def test_concurrent_appends_and_rewrites_lose_nothing(data_dir: Path) -> None:
    store = EventStore(data_dir)
    target = store.add(make_event(title="edited by many"))
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_write_many, args=(str(data_dir), worker, 100))
        for worker in range(3)
    ]
    for process in writers:
        process.start()
    for number in range(60):
        change(store, target["id"], {"description": f"edit {number}"})
    for process in writers:
        process.join(timeout=300)
        assert process.exitcode == 0

    frame = EventStore(data_dir).frame()

    assert len(frame) == 301
    assert frame.loc[frame["id"] == target["id"], "description"].item() == "edit 59"


CRASH_WRITER = """
import sys
from mapapp.storage import Audit, EventStore
store = EventStore(sys.argv[1])
number = 0
while True:
    event = store.add({"title": f"crash {sys.argv[2]} {number}", "description": "x" * 3000,
                       "status": "pending", "category": "other", "format": "online",
                       "starts_at": "2027-02-28T10:00"})
    print(event["id"], flush=True)
    number += 1
    if number % 7 == 0:
        store.update(event["id"], {"description": "rewritten " + "y" * 2000},
                     expected=event["version"], audit=Audit("crash", "edit"))
"""


@pytest.mark.slow
def test_a_writer_killed_fifty_times_loses_no_acknowledged_write(data_dir: Path) -> None:
    rng = random.Random(28)
    acknowledged: list[str] = []
    for attempt in range(50):
        with subprocess.Popen(
            [sys.executable, "-c", CRASH_WRITER, str(data_dir), str(attempt)],
            stdout=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            acknowledged.append(writer.stdout.readline().strip())  # wait until it is writing
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
            acknowledged.extend(line.strip() for line in writer.stdout if line.strip())

        store = EventStore(data_dir)
        frame = store.frame()  # leaves a torn tail out (readers cut nothing), then parses
        assert frame["id"].is_unique
        assert set(acknowledged) <= set(frame["id"])
        acknowledged.append(store.add(make_event(title=f"after kill {attempt}"))["id"])
        # The writer cut any torn tail first: the file now holds exactly the stored rows.
        assert len(read_raw(data_dir / "events.csv")) == len(frame) + 1

    assert len(acknowledged) >= 50


def title_of(event: Mapping[str, str]) -> str:
    """Key events by title, for unless_stored."""
    return event["title"]


def test_add_many_unless_stored_skips_what_any_writer_already_stored(data_dir: Path) -> None:
    store, other = EventStore(data_dir), EventStore(data_dir)
    store.add_many([make_event(title="one")], unless_stored=title_of)
    other.add_many([make_event(title="two")])  # another process, after store keyed its rows

    added = store.add_many(
        [make_event(title=title) for title in ("one", "two", "three", "three")],
        unless_stored=title_of,
    )

    assert [event["title"] for event in added] == ["three"]
    assert sorted(EventStore(data_dir).frame()["title"]) == ["one", "three", "two"]


def test_per_frame_computes_once_per_store_change_and_arguments(data_dir: Path) -> None:
    store = EventStore(data_dir)
    store.add(make_event(title="one"))
    calls: list[tuple[int, str]] = []

    @per_frame
    def titles(frame: pd.DataFrame, prefix: str) -> list[str]:
        calls.append((len(frame), prefix))
        return [prefix + title for title in frame["title"]]

    assert titles(store.frame(), "> ") == titles(store.frame(), "> ") == ["> one"]
    assert titles(store.frame(), "- ") == ["- one"]
    store.add(make_event(title="two"))
    assert titles(store.frame(), "- ") == ["- one", "- two"]
    assert calls == [(1, "> "), (1, "- "), (2, "- ")]


def test_a_writer_waiting_for_another_process_does_not_hold_up_reads(tmp_path: Path) -> None:
    import threading

    from filelock import FileLock

    store = EventStore(tmp_path)
    event = store.add(make_event())
    other_process = FileLock(str(store.path) + ".lock")  # its own descriptor, as another worker
    other_process.acquire()
    writer = threading.Thread(target=change, args=(store, event["id"], {"title": "Renamed"}))
    writer.start()
    try:
        time.sleep(0.3)  # let the writer reach the lock and wait there
        assert writer.is_alive(), "the writer did not wait for the lock"
        reader = threading.Thread(target=lambda: (store.frame(), len(store), store.version))
        reader.start()
        reader.join(timeout=30)
        # Liveness, not speed: the read ended while the writer still waited for the lock.
        assert not reader.is_alive(), "a read waited for a writer that waits for another process"
        assert writer.is_alive()
    finally:
        other_process.release()
        writer.join(timeout=60)
    assert store.get(event["id"])["title"] == "Renamed"


# Keyed changes chosen under the lock (CsvTable.change_rows: the outbox's claims)

TASK_COLUMNS = ("id", "status", "owner")


def _tasks(directory: Path) -> Any:
    from mapapp.storage import CsvTable

    return CsvTable(directory / "tasks.csv", TASK_COLUMNS, key="id")


def test_change_rows_writes_the_chosen_rows_in_one_rewrite(tmp_path: Path) -> None:
    table = _tasks(tmp_path)
    table.append([{"id": str(n), "status": "free", "owner": ""} for n in range(3)])
    before = table.frame()

    stored = table.change_rows(
        lambda frame: (
            {key: {"status": "taken", "owner": "me"} for key in frame.loc[frame["id"] != "1", "id"]}
            | {"gone": {"status": "taken"}}
        )  # no longer stored: left out
    )

    assert stored == [
        {"id": "0", "status": "taken", "owner": "me"},
        {"id": "2", "status": "taken", "owner": "me"},
    ]
    assert read_raw(tmp_path / "tasks.csv") == [
        {"id": "0", "status": "taken", "owner": "me"},
        {"id": "1", "status": "free", "owner": ""},
        {"id": "2", "status": "taken", "owner": "me"},
    ]
    assert list(before["status"]) == ["free", "free", "free"]  # a frame handed out stays as read
    assert _tasks(tmp_path).get("2") == {"id": "2", "status": "taken", "owner": "me"}


@pytest.mark.parametrize("changes", [{"0": {"colour": "red"}}, {"0": {"id": "9"}}])
def test_change_rows_refuses_unknown_columns_and_new_keys(
    tmp_path: Path, changes: dict[str, dict[str, str]]
) -> None:
    table = _tasks(tmp_path)
    table.append([{"id": "0", "status": "free", "owner": ""}])
    raw = (tmp_path / "tasks.csv").read_bytes()

    with pytest.raises(ValueError, match="Cannot change"):
        table.change_rows(lambda _frame: changes)

    assert (tmp_path / "tasks.csv").read_bytes() == raw


def test_the_event_store_refuses_unaudited_row_changes(data_dir: Path) -> None:
    store = EventStore(data_dir)
    event = store.add(make_event())
    with pytest.raises(TypeError, match="update_many"):
        store.change_rows(lambda _frame: {event["id"]: {"title": "x"}})


def _claim_all(directory: str, owner: str) -> None:
    """Claim free tasks one at a time until none is left, as a sender claims messages."""
    table = _tasks(Path(directory))

    def first_free(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
        free = frame.loc[frame["status"] == "free", "id"]
        return {free.iloc[0]: {"status": "taken", "owner": owner}} if len(free) else {}

    claimed = []
    while stored := table.change_rows(first_free):
        claimed += [row["id"] for row in stored]
    (Path(directory) / f"{owner}.claimed").write_text("\n".join(claimed))


@pytest.mark.slow
def test_processes_claiming_at_once_never_claim_one_row_twice(tmp_path: Path) -> None:
    table = _tasks(tmp_path)
    table.append([{"id": str(n), "status": "free", "owner": ""} for n in range(120)])
    context = multiprocessing.get_context("spawn")
    claimers = [
        context.Process(target=_claim_all, args=(str(tmp_path), f"claimer {number}"))
        for number in range(4)
    ]
    for process in claimers:
        process.start()
    for process in claimers:
        process.join(timeout=300)
        assert process.exitcode == 0

    rows = read_raw(tmp_path / "tasks.csv")
    assert [row["id"] for row in rows] == [str(n) for n in range(120)]
    assert {row["status"] for row in rows} == {"taken"}
    claims = [(tmp_path / f"claimer {number}.claimed").read_text().split() for number in range(4)]
    assert sorted(key for claimed in claims for key in claimed) == sorted(map(str, range(120)))
    for number, claimed in enumerate(claims):
        assert {row["id"] for row in rows if row["owner"] == f"claimer {number}"} == set(claimed)


def test_the_mail_drop_keeps_one_whole_file_per_message(tmp_path: Path) -> None:
    from mapapp.storage.maildrop import MailDrop

    drop = MailDrop(tmp_path / "mail", file_mode=0o640)
    path = drop.put("abc_1-2", b"first")
    drop.put("abc_1-2", b"second")  # a retry writes the same message again: still one file
    partial = tmp_path / "mail" / ".dead.123.tmp"  # a writer killed before its rename
    partial.write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(partial, (old, old))

    assert path.read_bytes() == b"second" and path.stat().st_mode & 0o777 == 0o640
    assert drop.names() == ["abc_1-2"]
    assert drop.remove_older_than(3600) == 0 and not partial.exists()
    os.utime(path, (old, old))
    assert drop.remove_older_than(3600) == 1 and drop.names() == []
    with pytest.raises(ValueError, match="Not a message name"):
        drop.put("../events", b"x")
