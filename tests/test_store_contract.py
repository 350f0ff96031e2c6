"""One contract for every storage backend: the CSV files and PostgreSQL behave the same.

Each test gets `open_store`, which opens a new store object on the same backend each call: two
calls are two hosts (two processes' caches), so a change through one must be seen by the next
read of the other. CSV-only behaviour (torn tails, BOM, file modes) is tested in test_storage.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapapp.storage import Audit, ConflictError, EventStore, Store, Table
from mapapp.storage.event_store import ERASED
from mapapp.storage.records import UTF8_BOM, encode_row, encode_rows
from mapapp.storage.validation import TableSpec
from tests.conftest import make_event

THINGS = TableSpec(file_name="things.csv", columns=("id", "value", "state"), key="id")
APPROVE = Audit("coordinator", "approve")
ODD_TEXTS = [
    "",
    " leading and trailing ",
    'a "quoted" word',
    '"',
    '""',
    "comma, separated",
    "line\nbreak",
    "carriage\rreturn",
    "windows\r\nline",
    "\r\n",
    '=HYPERLINK("http://x")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\ufeffBOM-like",
    "\ufeff",
    "emoji 🎗️👩🏽‍⚕️",
    "NA",
    "null",
    "NaN",
    "right-to-left עברית",
    "tab\tinside",
    "x" * 20_000,
]
# Every text but NUL (which no backend stores) and lone surrogates (which UTF-8 cannot hold).
TEXTS = st.one_of(
    st.sampled_from(ODD_TEXTS),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=200,
    ),
)
HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(params=["csv", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Name the backend under test."""
    return str(request.param)


@pytest.fixture
def open_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Store]]:
    """Return a maker of store objects on one backend's storage (each one a host of its own)."""
    opened: list[Store] = []
    if backend == "csv":
        data_dir = tmp_path / "data"

        def make() -> Store:
            store = EventStore(data_dir)
            opened.append(store)
            return store

    else:
        from mapapp.storage.pg_events import PgEventStore

        url = request.getfixturevalue("postgres_url")

        def make() -> Store:
            store = PgEventStore(url, tmp_path)
            store.create_missing()
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()
    if backend == "postgres":
        from mapapp.storage.database import close_pools

        close_pools()


def things(store: Store) -> Table:
    """Return the small table the tests use."""
    return store.table(THINGS.file_name, THINGS, key="id")


def values(table: Table, column: str = "value") -> list[str]:
    """Return a column of a table's frame, in storage order."""
    return [str(value) for value in table.frame()[column].tolist()]


# Round trips


@HYPOTHESIS
@given(texts=st.lists(TEXTS, min_size=1, max_size=5))
def test_every_text_but_nul_comes_back_exactly(
    open_store: Callable[[], Store], texts: list[str]
) -> None:
    writer, reader = open_store(), open_store()
    keys = [secrets.token_hex(6) for _ in texts]
    stored = things(writer).append(
        [{"id": key, "value": text} for key, text in zip(keys, texts, strict=True)]
    )
    assert [row["value"] for row in stored] == texts
    table = things(reader)
    assert [table.get(key)["value"] for key in keys] == texts  # type: ignore[index]
    frame = table.frame()
    rows = frame.set_index("id").loc[keys, "value"].tolist()
    assert rows == texts
    assert things(open_store()).frame().set_index("id").loc[keys, "value"].tolist() == texts


@HYPOTHESIS
@given(title=TEXTS, note=TEXTS)
def test_an_events_texts_come_back_exactly_after_an_edit(
    open_store: Callable[[], Store], title: str, note: str
) -> None:
    writer = open_store()
    event = writer.add(make_event(title=title, status="pending"))
    changed = writer.update(
        event["id"], {"moderation_note": note}, expected=event["version"], audit=APPROVE
    )
    assert changed["moderation_note"] == note
    again = open_store().get(event["id"])
    assert again is not None
    assert (again["title"], again["moderation_note"]) == (title, note)


@pytest.mark.parametrize("text", ["a\x00b", "\x00"])
def test_nul_is_refused_by_every_write_and_nothing_is_stored(
    open_store: Callable[[], Store], text: str
) -> None:
    store = open_store()
    table = things(store)
    table.append([{"id": "kept", "value": "v"}])
    event = store.add(make_event())
    version = store.version
    with pytest.raises(ValueError, match="NUL"):
        table.append([{"id": "new", "value": text}])
    with pytest.raises(ValueError, match="NUL"):
        table.change_rows(lambda frame: {"kept": {"value": text}})
    with pytest.raises(ValueError, match="NUL"):
        store.add(make_event(title=text))
    with pytest.raises(ValueError, match="NUL"):
        store.update(event["id"], {"title": text}, expected=event["version"], audit=APPROVE)
    other = open_store()
    assert values(things(other)) == ["v"]
    assert other.version == version
    assert other.get(event["id"]) == event


# Appending, deleting, order


def test_append_leaves_out_keys_stored_or_repeated_and_unless_stored(
    open_store: Callable[[], Store],
) -> None:
    first, second = things(open_store()), things(open_store())
    assert [row["id"] for row in first.append([{"id": "a", "value": "1"}])] == ["a"]
    stored = second.append(
        [{"id": "a", "value": "2"}, {"id": "b", "value": "3"}, {"id": "b", "value": "4"}]
    )
    assert stored == [{"id": "b", "value": "3", "state": ""}]
    by_value = second.append(
        [{"id": "c", "value": "3"}, {"id": "d", "value": "5"}],
        unless_stored=lambda row: row["value"],
    )
    assert [row["id"] for row in by_value] == ["d"]
    assert values(first, "id") == ["a", "b", "d"] and len(first) == 3
    assert "d" in first and "c" not in first


def test_two_hosts_adding_one_key_at_once_add_it_once(open_store: Callable[[], Store]) -> None:
    hosts = [things(open_store()) for _ in range(4)]
    barrier = threading.Barrier(len(hosts))
    results: list[list[dict[str, str]]] = []

    def add(table: Table) -> None:
        barrier.wait()
        for number in range(10):
            results.append(table.append([{"id": f"k{number}", "value": str(id(table))}]))

    threads = [threading.Thread(target=add, args=(table,)) for table in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    added = [row["id"] for batch in results for row in batch]
    assert sorted(added) == [f"k{number}" for number in range(10)]
    assert sorted(values(things(open_store()), "id")) == sorted(added)


def test_row_order_is_kept_through_changes_deletes_and_appends(
    open_store: Callable[[], Store],
) -> None:
    writer, reader = things(open_store()), things(open_store())
    writer.append([{"id": key, "value": key} for key in "abcde"])
    assert values(reader, "id") == list("abcde")
    writer.change_rows(lambda frame: {"c": {"value": "changed"}})
    assert writer.delete(["a", "d", "missing"]) == 2
    writer.append([{"id": "f", "value": "f"}, {"id": "a", "value": "again"}])
    assert values(reader, "id") == ["b", "c", "e", "f", "a"]
    assert values(reader) == ["b", "changed", "e", "f", "again"]
    writer.rewrite([{"id": "z", "value": "1"}, {"id": "y", "value": "2"}])
    assert values(reader, "id") == ["z", "y"]
    assert reader.get("a") is None and len(reader) == 2


def test_a_frame_handed_out_never_changes_and_is_the_same_object_until_a_change(
    open_store: Callable[[], Store],
) -> None:
    writer, reader = things(open_store()), things(open_store())
    writer.append([{"id": "a", "value": "1"}])
    before = reader.frame()
    assert reader.frame() is before
    version = reader.version
    writer.change_rows(lambda frame: {"a": {"value": "2"}})
    assert reader.version != version
    after = reader.frame()
    assert after is not before
    assert before["value"].tolist() == ["1"] and after["value"].tolist() == ["2"]
    assert reader.version == writer.version


def test_change_rows_claims_are_never_given_twice(open_store: Callable[[], Store]) -> None:
    table = things(open_store())
    table.append([{"id": f"m{number:02}", "value": "", "state": "queued"} for number in range(20)])
    hosts = [things(open_store()) for _ in range(4)]
    claimed: list[str] = []

    def claim_all(host: Table, name: str) -> None:
        while True:

            def oldest(frame):  # type: ignore[no-untyped-def]
                queued = frame[frame["state"] == "queued"]
                if queued.empty:
                    return {}
                return {str(queued.iloc[0]["id"]): {"state": "sending", "value": name}}

            rows = host.change_rows(oldest)
            if not rows:
                return
            claimed.extend(row["id"] for row in rows)

    threads = [
        threading.Thread(target=claim_all, args=(host, f"host{number}"))
        for number, host in enumerate(hosts)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"m{number:02}" for number in range(20)]
    frame = things(open_store()).frame()
    assert set(frame["state"]) == {"sending"}


def test_change_rows_refuses_unknown_columns_and_the_key(open_store: Callable[[], Store]) -> None:
    table = things(open_store())
    table.append([{"id": "a", "value": "1"}])
    with pytest.raises(ValueError, match="nope"):
        table.change_rows(lambda frame: {"a": {"nope": "x"}})
    with pytest.raises(ValueError, match="id"):
        table.change_rows(lambda frame: {"a": {"id": "b"}})
    assert table.change_rows(lambda frame: {"missing": {"value": "x"}}) == []
    assert things(open_store()).get("a") == {"id": "a", "value": "1", "state": ""}


# Events: compare-and-swap, the audit pair, changes since a version


def test_a_stale_update_raises_conflict_with_the_rows_as_they_are(
    open_store: Callable[[], Store],
) -> None:
    first, second = open_store(), open_store()
    event = first.add(make_event(status="pending"))
    second.update(event["id"], {"status": "approved"}, expected=event["version"], audit=APPROVE)
    with pytest.raises(ConflictError) as raised:
        first.update(event["id"], {"status": "rejected"}, expected=event["version"], audit=APPROVE)
    current = raised.value.current[event["id"]]
    assert current["status"] == "approved"
    assert current == open_store().get(event["id"])
    with pytest.raises(ValueError, match="Unknown fields: colour"):
        first.update(event["id"], {"colour": "red"}, expected=current["version"], audit=APPROVE)
    with pytest.raises(ValueError, match="No version given"):
        first.update_many({event["id"]: {"status": "rejected"}}, expected={}, audit=APPROVE)


def test_skip_stale_writes_the_fresh_and_returns_the_stale(open_store: Callable[[], Store]) -> None:
    store = open_store()
    fresh, stale = (store.add(make_event(status="pending")) for _ in range(2))
    moved = open_store().update(
        stale["id"], {"title": "Moved on"}, expected=stale["version"], audit=APPROVE
    )
    updated = store.update_many(
        {fresh["id"]: {"status": "approved"}, stale["id"]: {"status": "approved"}},
        expected={fresh["id"]: fresh["version"], stale["id"]: stale["version"]},
        audit=APPROVE,
        skip_stale=True,
    )
    assert [row["id"] for row in updated.rows] == [fresh["id"]]
    assert updated.rows[0]["status"] == "approved"
    assert updated.stale == {stale["id"]: moved}
    assert open_store().get(stale["id"])["status"] == "pending"  # type: ignore[index]


def test_touch_false_keeps_updated_at(open_store: Callable[[], Store]) -> None:
    store = open_store()
    event = store.add(make_event(updated_at="2026-01-01T00:00:00Z"))
    kept = store.update(
        event["id"], {"change_note": "x"}, expected=event["version"], audit=APPROVE, touch=False
    )
    assert kept["updated_at"] == "2026-01-01T00:00:00Z"
    assert kept["version"] != event["version"]


def test_every_change_has_its_audit_entries_with_its_version_and_batch(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    added = store.add_many([make_event(status="pending") for _ in range(2)])
    updated = store.update_many(
        {row["id"]: {"status": "approved"} for row in added},
        expected={row["id"]: row["version"] for row in added},
        audit=APPROVE,
    ).rows
    unchanged = store.update(
        added[0]["id"], {"status": "approved"}, expected=updated[0]["version"], audit=APPROVE
    )
    assert unchanged == updated[0]  # nothing to change: no new version, no entry
    audit = open_store().audit.frame()
    assert audit["event_id"].tolist() == [row["id"] for row in added] * 2
    assert audit["action"].tolist() == ["submit", "submit", "approve", "approve"]
    assert audit["version"].tolist() == [added[0]["version"]] * 2 + [updated[0]["version"]] * 2
    assert int(updated[0]["version"]) > int(added[0]["version"])
    assert audit["batch"].nunique() == 2 and audit["id"].nunique() == 4
    assert audit["changes"].tolist()[2] == '{"status": ["pending", "approved"]}'


def test_erase_removes_the_event_and_the_values_of_its_entries(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    event = store.add(make_event(status="pending", contact_email="private@example.org"))
    other = store.add(make_event())
    store.update(event["id"], {"status": "approved"}, expected=event["version"], audit=APPROVE)
    erased = open_store().erase(event["id"], who="admin")
    assert erased["contact_email"] == "private@example.org"
    reader = open_store()
    assert reader.get(event["id"]) is None and len(reader) == 1
    audit = reader.audit.frame()
    entries = audit[audit["event_id"] == event["id"]]
    assert entries["action"].tolist() == ["submit", "approve", "erase"]
    assert set(entries["changes"]) == {ERASED}
    assert entries["who"].tolist()[-1] == "admin"
    assert audit[audit["event_id"] == other["id"]]["changes"].tolist() == ["{}"]
    with pytest.raises(KeyError):
        reader.erase(event["id"], who="admin")


def test_changed_since_lists_the_events_written_after_a_version(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    first = store.add(make_event())
    mark = store.version
    second = store.add(make_event())
    third = store.add(make_event())
    reader = open_store()
    assert reader.changed_since(mark) == [second["id"], third["id"]]
    store.update(first["id"], {"title": "New"}, expected=first["version"], audit=APPROVE)
    store.erase(second["id"], who="admin")
    assert set(reader.changed_since(mark)) == {first["id"], third["id"]}
    assert reader.changed_since(reader.version) == []
    assert set(reader.changed_since("not a version")) == {first["id"], third["id"]}


def test_the_version_changes_with_every_change_and_is_the_same_on_every_host(
    open_store: Callable[[], Store],
) -> None:
    first, second = open_store(), open_store()
    seen = [first.version]
    event = first.add(make_event(status="pending"))
    seen.append(second.version)
    event = second.update(
        event["id"], {"status": "approved"}, expected=event["version"], audit=APPROVE
    )
    seen.append(first.version)
    first.erase(event["id"], who="admin")
    seen.append(second.version)
    assert len(set(seen)) == 4
    assert first.version == second.version == open_store().version
    assert second.frame().empty and first.frame().empty


def test_add_gives_new_ids_for_taken_or_missing_ones(open_store: Callable[[], Store]) -> None:
    store = open_store()
    first = store.add(make_event(id="given-id-1"))
    assert first["id"] == "given-id-1"
    again = open_store().add_many([make_event(id="given-id-1"), make_event(), make_event()])
    ids = [row["id"] for row in again]
    assert "given-id-1" not in ids and len(set(ids)) == 3
    assert all(row["created_at"] and row["updated_at"] for row in again)


def test_add_many_unless_stored_leaves_out_events_stored_already(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    store.add(make_event(title="One"))
    added = open_store().add_many(
        [make_event(title="One"), make_event(title="Two"), make_event(title="Two")],
        unless_stored=lambda row: row["title"],
    )
    assert [row["title"] for row in added] == ["Two"]
    assert sorted(open_store().frame()["title"]) == ["One", "Two"]


def test_replace_all_makes_a_new_store(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.add(make_event(title="Old"))
    store.replace_all([make_event(id="new-one-1", title="New")])
    reader = open_store()
    assert reader.frame()["title"].tolist() == ["New"]
    assert reader.get("new-one-1")["version"] == "1"  # type: ignore[index]
    assert reader.copies_holding(["nothing"]) == []
    assert reader.health() == "ok"


# Extra columns a file carried


def with_extra_columns(backend: str, store: Store, data_dir: Path) -> None:
    """Put a things table with two extra columns in place, as each backend gets one."""
    data = UTF8_BOM + encode_row([*THINGS.columns, "note", "colour"])
    data += b"".join(encode_rows([["a", "1", "", "kept, quoted", "red"], ["b", "2", "", "", ""]]))
    if backend == "csv":
        (data_dir / THINGS.file_name).write_bytes(data)
        return
    from mapapp.storage.transfer import import_csv

    source = data_dir / "source"
    source.mkdir()
    (source / THINGS.file_name).write_bytes(data)
    things(store)
    import_csv(store, source, replace=False)


def test_extra_columns_are_kept_at_the_end_through_changes(
    open_store: Callable[[], Store], backend: str, tmp_path: Path
) -> None:
    store = open_store()
    (tmp_path / "data").mkdir(exist_ok=True)
    with_extra_columns(backend, store, tmp_path / "data")
    table = things(open_store())
    assert list(table.frame().columns) == [*THINGS.columns, "note", "colour"]
    table.append([{"id": "c", "value": "3"}])
    table.change_rows(lambda frame: {"b": {"value": "two"}})
    frame = things(open_store()).frame()
    assert frame.values.tolist() == [
        ["a", "1", "", "kept, quoted", "red"],
        ["b", "two", "", "", ""],
        ["c", "3", "", "", ""],
    ]
