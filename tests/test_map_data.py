"""The public index: kept up to date from changed keys, it says what a build from scratch says."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from mapapp import map_data, mapview, stats
from mapapp.events import CATEGORIES, FORMATS
from mapapp.storage import ID_ALPHABET, ID_LENGTH, Audit, EventStore
from tests.conftest import make_event

EDITION = 2027
COUNTRIES = [("FR", "Paris", "48.856613", "2.352222"), ("DE", "Berlin", "52.52", "13.405")]
COUNTRIES += [("JP", "Tōkyō", "35.6895", "139.69171"), ("BR", "São Paulo", "-23.5475", "-46.63611")]
COUNTRIES += [("IS", "Reykjavík", "64.13548", "-21.89541"), ("", "", "", "")]


def compact(data: Any) -> bytes:
    """Return data as the API writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def random_fields(rng: random.Random) -> dict[str, str]:
    """Return the public fields a test event varies: place, category, format, day, texts."""
    country, city, latitude, longitude = rng.choice(COUNTRIES)
    year = rng.choice(["2026", "2027", "2027", "2028"])
    return {
        "title": rng.choice(["Walk", 'Quote " and \\ back', "Ünïcode ☃ </script>", "x" * 40]),
        "city": city,
        "country": country,
        "latitude": latitude,
        "longitude": longitude,
        "category": rng.choice([*CATEGORIES, "retired-category"]),
        "format": rng.choice(list(FORMATS)),
        "starts_at": rng.choice([f"{year}-02-28T18:00", f"{year}-03-01T09:30"]),
        "ends_at": "",
    }


def assert_same_as_from_scratch(index: map_data.PublicIndex, store: EventStore) -> None:
    """Check an index against one built from the store's frame, and against mapview's bodies."""
    frame = store.frame()
    fresh = map_data.PublicIndex.build(frame)
    assert index.token == fresh.token
    for name in ("map_data", "map_labels"):
        kept, built = getattr(index, name)(), getattr(fresh, name)()
        assert kept.gzipped == built.gzipped  # byte for byte, gzip included
        assert kept.etag == built.etag
        assert gzip.decompress(kept.gzipped) == kept.plain() == built.plain()
        assert kept.plain() == compact(getattr(mapview, name)(frame))
    assert index.filter_choices(EDITION) == mapview.filter_choices(frame, EDITION)
    for year in (EDITION, 2026, None):
        summary = index.summary(year)
        assert summary == stats.public_summary(frame, year)  # the same counts ...
        counts = list(summary["by_country"].values())  # type: ignore[attr-defined]
        assert counts == sorted(counts, reverse=True)  # ... largest first
        assert summary == fresh.summary(year)


@pytest.fixture
def many(tmp_path: Path) -> EventStore:
    """Return a store of 1,200 events (several chunks), most of them approved."""
    rng = random.Random(14)
    store = EventStore(tmp_path)
    # Ids from the seed, not the store's random ones: where chunks end depends on the ids.
    events = [
        make_event(
            id="".join(rng.choice(ID_ALPHABET) for _ in range(ID_LENGTH)),
            status=rng.choice(["approved"] * 4 + ["pending"]),
            **random_fields(rng),
        )
        for _ in range(1200)
    ]
    store.add_many(events, audit=Audit("test", "import"))
    return store


def writes(store: EventStore, rng: random.Random) -> str:
    """Make one random write a person could make, and return its name."""
    frame = store.frame()
    row = frame.iloc[rng.randrange(len(frame))]
    event_id, version = str(row["id"]), str(row["version"])

    def update(changes: dict[str, str]) -> None:
        store.update(event_id, changes, expected=version, audit=Audit("test", "edit"))

    action = rng.choice(["add", "add-pending", "edit", "approve", "withdraw", "erase", "note"])
    if action == "add":
        store.add(make_event(**random_fields(rng)))
    elif action == "add-pending":
        store.add(make_event(status="pending", **random_fields(rng)))
    elif action == "edit":
        update(random_fields(rng))
    elif action == "approve":
        update({"status": "approved"})
    elif action == "withdraw":
        update({"status": rng.choice(["withdrawn", "rejected", "pending"])})
    elif action == "erase":
        store.erase(event_id, who="test")
    else:  # a private field: the public content stays, the version moves
        update({"moderation_note": f"seen {rng.random()}"})
    return action


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sequences_of_writes_give_what_a_build_from_scratch_gives(
    many: EventStore, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    tracker = map_data.Tracker(many)
    tracker.current().map_data()
    other = EventStore(tmp_path)  # another worker's store on the same file
    for _ in range(40):
        writes(rng.choice([many, other]), rng)
        if rng.random() < 0.3:  # several writes seen at once, as a quiet worker sees them
            writes(other, rng)
        assert_same_as_from_scratch(tracker.current(), many)


def test_an_index_is_only_rebuilt_when_the_store_changes(many: EventStore) -> None:
    tracker = map_data.Tracker(many)
    first = tracker.current()
    assert tracker.current() is first
    assert first.map_data() is first.map_data()  # made once per index
    event_id = str(many.frame()["id"].iloc[5])
    many.update(
        event_id,
        {"title": "Moved on"},
        expected=str(many.get(event_id)["version"]),  # type: ignore[index]
        audit=Audit("test", "edit"),
    )
    second = tracker.current()
    assert second is not first
    assert second.token != first.token
    assert b"Moved on" in second.map_labels().plain()
    assert b"Moved on" not in first.map_labels().plain()  # a request still reading it is safe


@pytest.mark.parametrize("action", ["edit", "erase"])
def test_a_change_recompresses_only_the_chunk_it_touches(many: EventStore, action: str) -> None:
    tracker = map_data.Tracker(many)
    before = tracker.current()
    before.map_data()
    approved = many.frame()[many.frame()["status"] == "approved"]
    event_id = str(approved["id"].iloc[600])
    if action == "erase":  # names no changed key, and no row carries its change's number
        many.erase(event_id, who="test")
    else:
        many.update(
            event_id,
            {"title": "Edited"},
            expected=str(many.get(event_id)["version"]),  # type: ignore[index]
            audit=Audit("test", "edit"),
        )
    after = tracker.current()
    assert len(before.chunks) > 2
    new = [chunk for chunk in after.chunks if all(chunk is not old for old in before.chunks)]
    assert len(new) == 1
    assert (event_id in new[0].ids) == (action == "edit")
    assert_same_as_from_scratch(after, many)


def test_a_hand_edit_of_the_file_is_seen(many: EventStore, tmp_path: Path) -> None:
    tracker = map_data.Tracker(many)
    tracker.current()
    path = tmp_path / "events.csv"
    text = path.read_bytes().decode("utf-8-sig")
    title = str(many.frame().loc[many.frame()["status"] == "approved", "title"].iloc[0])
    path.write_bytes(("\ufeff" + text.replace(title, "Hand edited", 1)).encode())
    index = tracker.current()
    assert b"Hand edited" in index.map_labels().plain()
    assert_same_as_from_scratch(index, many)


def test_an_empty_store_has_empty_bodies(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    index = map_data.Tracker(store).current()
    assert index.map_data().plain() == compact(mapview.map_data(store.frame()))
    assert json.loads(gzip.decompress(index.map_labels().gzipped)) == {
        "count": 0,
        "title": [],
        "city": [],
    }
    assert map_data.map_data_body(store.frame()) == index.map_data().plain()


@pytest.mark.parametrize("seed", [4, 5])
def test_sequences_of_writes_on_postgresql_give_what_a_build_from_scratch_gives(
    postgres_url: str, tmp_path: Path, seed: int
) -> None:
    from mapapp.storage.database import close_pools
    from mapapp.storage.pg_events import PgEventStore

    rng = random.Random(seed)
    hosts = [PgEventStore(postgres_url, tmp_path / name) for name in ("a", "b")]
    for store in hosts:
        store.create_missing()
    try:
        events = [
            make_event(status=rng.choice(["approved"] * 4 + ["pending"]), **random_fields(rng))
            for _ in range(1200)
        ]
        hosts[0].add_many(events, audit=Audit("test", "import"))
        tracker = map_data.Tracker(hosts[0])
        tracker.current().map_data()
        for _ in range(30):  # each write through either host; erases advance the counter here
            writes(rng.choice(hosts), rng)
            if rng.random() < 0.3:
                writes(hosts[1], rng)
            assert_same_as_from_scratch(tracker.current(), hosts[0])
    finally:
        for store in hosts:
            store.close()
        close_pools()
