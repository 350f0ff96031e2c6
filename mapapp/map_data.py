"""The approved events' public data, kept per event and brought up to date from changed keys.

What the map page and its data derive from the store (the compact map data and labels, the page's
counts and filter choices, a token of the public content) is kept per approved event in a
`PublicIndex`. After a write, `PublicIndex.updated` re-encodes only the events the store names in
`changed_since` (an event erased is found by the count: it is gone from the frame without being
named), so a worker is up to date in milliseconds rather than rebuilding from every event.
Nothing here knows the backend: it reads `version`, `changed_since` and `frame()`.

The bodies are the JSON of `mapview.map_data` and `mapview.map_labels`, byte for byte. Each
column is cut into chunks after every id whose CRC-32 is divisible by `CHUNK_EVENTS` (so a cut
depends on the ids only: every worker, and a build from scratch, cuts the same chunks, and an
approval or an erase in the middle changes one chunk, not every one after it). Each chunk is
deflated, ended by a sync flush, with the chunk before it as its dictionary (it precedes it
in the stream), and the gzip body is one member made of those pieces with the JSON between
them as stored blocks: after a change only the changed chunks and the ones right after them
are compressed again, and the gzip bytes are the same as a build from scratch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import threading
import weakref
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mapapp.events import CATEGORIES, FORMATS, PUBLIC_FIELDS

PUBLIC_STATUS = "approved"
VERSION_FIELD = "version"
COORDINATE_SCALE = 1000  # as mapview.COORDINATE_SCALE: integers of this many units per degree
EPOCH_DAY = datetime(1970, 1, 1)
# A chunk ends after an id whose CRC-32 is divisible by this: about this many events per chunk.
CHUNK_EVENTS = 256
GZIP_LEVEL = 6
# Field and row separators of hashed text: control characters stored values never hold.
FIELD_SEPARATOR = "\x1f"
DIGEST_BYTES = 12
HASH_MODULUS = 1 << 128
# The gzip member's header: no name, no time (so every worker writes the same bytes), unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed codes
STORED_BLOCK_MAX = 0xFFFF
WINDOW_BYTES = 32 * 1024  # how far back deflate may point
MAP_COLUMNS = ("id", "lat", "lon", "category", "format", "country", "day")
LABEL_COLUMNS = ("title", "city")
# The columns a record keeps encoded (the country's index depends on the dictionary: not kept).
ENCODED = ("id", "lat", "lon", "category", "format", "day", "title", "city")
POSITION = {name: position for position, name in enumerate(ENCODED)}
CATEGORY_CODES = {code: position for position, code in enumerate(CATEGORIES)}
FORMAT_CODES = {code: position for position, code in enumerate(FORMATS)}


class EventSource(Protocol):
    """What the index reads from a store: any backend with this contract will do."""

    @property
    def version(self) -> str: ...

    def frame(self) -> pd.DataFrame: ...

    def changed_since(self, version: str) -> list[str]: ...


@dataclass(frozen=True)
class Record:
    """One approved event as the bodies and counts need it, its JSON values encoded once."""

    id: str
    encoded: tuple[str, ...]  # the JSON value of each column of ENCODED
    country: str
    category: str
    format: str
    starts_at: str
    digest: int  # of the public fields and version, summed into the token
    ends_chunk: bool


@dataclass(frozen=True)
class Body:
    """A body ready to send: gzipped bytes, and the plain JSON on demand."""

    gzipped: bytes
    pieces: tuple[bytes, ...]
    etag: str

    def plain(self) -> bytes:
        """Return the body uncompressed."""
        return b"".join(self.pieces)


class Chunk:
    """The events of one chunk, with each column's JSON text and its deflated piece, made once."""

    def __init__(self, ids: tuple[str, ...]) -> None:
        self.ids = ids
        # column -> (what the piece was made after, (plain, deflated, digest))
        self._pieces: dict[str, tuple[tuple[object, ...], tuple[bytes, bytes, bytes]]] = {}

    def piece(
        self,
        column: str,
        before: tuple[Chunk, bytes] | None,
        records: dict[str, Record],
        countries: tuple[str, ...],
    ) -> tuple[bytes, bytes, bytes]:
        """Return a column's JSON values in this chunk: plain, deflated (sync-flushed), digest.

        `before` is the column's previous chunk and its plain text (None for the first). A chunk
        after another starts with the comma between them, and is deflated with the other's
        text as its dictionary: in the one gzip stream that text comes right before it, so the
        piece may point back into it and titles compress as well as in one piece. So a piece
        is made again when the chunk before it changes, never further.
        """
        after = (before[0] if before else None, countries if column == "country" else None)
        kept = self._pieces.get(column)
        if kept is not None and kept[0][0] is after[0] and kept[0][1] == after[1]:
            return kept[1]
        if column == "country":
            position = {code: index for index, code in enumerate(countries)}
            text = ",".join(str(position.get(records[i].country, -1)) for i in self.ids)
        else:
            at = POSITION[column]
            text = ",".join(records[i].encoded[at] for i in self.ids)
        if before is None:
            plain = text.encode()
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
        else:
            plain = b"," + text.encode()
            window = before[1][-WINDOW_BYTES:]
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15, zdict=window)
        packed = compressor.compress(plain) + compressor.flush(zlib.Z_SYNC_FLUSH)
        found = (plain, packed, hashlib.blake2b(packed, digest_size=16).digest())
        self._pieces[column] = (after, found)  # two threads may both make it: the same bytes
        return found


@dataclass
class PublicIndex:
    """The approved events of one frame, per event, with what the public pages count."""

    records: dict[str, Record]
    ids: list[str]
    chunks: list[Chunk]
    total: int  # the sum of the records' digests, modulo HASH_MODULUS
    countries: tuple[str, ...]
    counts: Counter[tuple[str, str, str]]  # (field, first four characters of starts_at, value)
    ends: set[str]  # the ids after which a chunk ends
    token: str = ""
    _bodies: dict[str, Body] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, frame: pd.DataFrame) -> PublicIndex:
        """Return the index of every approved event of a frame, from scratch."""
        approved = _approved(frame)
        records = {record.id: record for record in _records(approved)}
        ids = approved["id"].to_numpy()
        counts: Counter[tuple[str, str, str]] = Counter()
        for record in records.values():
            counts.update(_count_keys(record))
        total = sum(record.digest for record in records.values()) % HASH_MODULUS
        ends = {record.id for record in records.values() if record.ends_chunk}
        return cls._made(records, ids, {}, total, counts, ends)

    def updated(self, frame: pd.DataFrame, changed: Iterable[str]) -> PublicIndex:
        """Return the index of a newer frame, given the ids written since this index's frame."""
        changed = set(changed)
        records = dict(self.records)
        counts = Counter(self.counts)
        ends = set(self.ends)
        total = self.total

        def drop(event_id: str) -> None:
            nonlocal total
            record = records.pop(event_id)
            counts.subtract(_count_keys(record))
            ends.discard(event_id)
            total = (total - record.digest) % HASH_MODULUS

        def take(approved_rows: pd.DataFrame) -> None:
            nonlocal total
            for record in _records(approved_rows):
                records[record.id] = record
                counts.update(_count_keys(record))
                if record.ends_chunk:
                    ends.add(record.id)
                total = (total + record.digest) % HASH_MODULUS

        for event_id in changed & records.keys():
            drop(event_id)
        column = frame["id"]
        is_approved = frame["status"].to_numpy() == PUBLIC_STATUS
        if changed:
            take(frame[is_approved & column.isin(changed).to_numpy()])
        ids = column.to_numpy()[is_approved]
        if len(ids) != len(records):  # erased (gone without being named), or a hand edit
            for event_id in _absent(list(records), ids):
                drop(event_id)
            missing = set(_absent(ids, list(records)))
            if missing:
                take(frame[is_approved & column.isin(missing).to_numpy()])
                changed |= missing
        counts = +counts  # drop the zeros
        old = {_chunk_key(chunk.ids): chunk for chunk in self.chunks}
        return self._made(records, ids, old, total, counts, ends, changed)

    @classmethod
    def _made(
        cls,
        records: dict[str, Record],
        ids: np.ndarray[Any, Any],
        old: dict[tuple[str, str, int], Chunk],
        total: int,
        counts: Counter[tuple[str, str, str]],
        ends: set[str],
        changed: AbstractSet[str] = frozenset(),
    ) -> PublicIndex:
        """Return an index of these records, reusing the old chunks none of whose ids changed."""
        chunks = []
        id_list: list[str] = ids.tolist()
        for chunk_ids in _chunk_ids(ids, id_list, ends):
            chunk = old.get(_chunk_key(chunk_ids))
            if chunk is None or not changed.isdisjoint(chunk_ids):
                chunk = Chunk(chunk_ids)
            chunks.append(chunk)
        countries = tuple(
            sorted({code for (name, _y, code) in counts if name == "country" and code})
        )
        order = hashlib.blake2b(FIELD_SEPARATOR.join(id_list).encode(), digest_size=DIGEST_BYTES)
        order.update(total.to_bytes(16, "big"))
        index = cls(records, id_list, chunks, total, countries, counts, ends)
        index.token = f"{len(ids):x}-{order.hexdigest()}"
        return index

    # What the public pages read

    def map_data(self) -> Body:
        """Return the body of /api/map-data.json: mapview.map_data's JSON, compact."""
        head = {
            "count": len(self.ids),
            "scale": COORDINATE_SCALE,
            "categories": list(CATEGORIES),
            "formats": list(FORMATS),
            "countries": list(self.countries),
        }
        return self._body("map-data", head, MAP_COLUMNS)

    def map_labels(self) -> Body:
        """Return the body of /api/map-labels.json: mapview.map_labels's JSON, compact."""
        return self._body("map-labels", {"count": len(self.ids)}, LABEL_COLUMNS)

    def summary(self, year: int | None = None) -> dict[str, object]:
        """Return stats.public_summary's counts (of one edition), from the kept counts."""
        prefix = None if year is None else str(year)
        if prefix is not None and len(prefix) != 4:  # counts are kept by four-digit year
            return _summary_of(
                record for record in self.records.values() if record.starts_at.startswith(prefix)
            )
        per: dict[str, Counter[str]] = {"country": Counter(), "category": Counter()}
        per["format"] = Counter()
        for (name, first4, value), count in self.counts.items():
            if name in per and (prefix is None or first4 == prefix):
                per[name][value] += count
        return _summary(per["country"], per["category"], per["format"])

    def filter_choices(self, edition: int) -> dict[str, Any]:
        """Return mapview.filter_choices's answer for this index's events."""
        years = {int(first4) for (name, first4, _v) in self.counts if name == "year"}
        return {
            "countries": list(self.countries),
            "years": sorted(years | {edition}, reverse=True),
            "categories": list(CATEGORIES.items()),
            "formats": list(FORMATS.items()),
        }

    def _body(self, name: str, head: dict[str, Any], columns: Sequence[str]) -> Body:
        """Return a body of columns after a head, made once per index."""
        with self._lock:
            found = self._bodies.get(name)
        if found is not None:
            return found
        opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
        texts: list[bytes] = []
        deflated: list[bytes] = []
        digests: list[bytes] = []  # of each piece, 16 bytes each
        for number, column in enumerate(columns):
            literal = f',"{column}":['.encode()
            if number == 0:
                literal = opening.encode() + literal
            texts.append(literal)
            deflated.append(_stored(literal))
            digests.append(hashlib.blake2b(literal, digest_size=16).digest())
            before: tuple[Chunk, bytes] | None = None
            for chunk in self.chunks:
                plain, packed, digest = chunk.piece(column, before, self.records, self.countries)
                texts.append(plain)
                deflated.append(packed)
                digests.append(digest)
                before = (chunk, plain)
            literal = b"]"
            if number == len(columns) - 1:
                literal += b"}"
            texts.append(literal)
            deflated.append(_stored(literal))
            digests.append(hashlib.blake2b(literal, digest_size=16).digest())
        crc = 0
        size = 0
        for text in texts:
            crc = zlib.crc32(text, crc)
            size += len(text)
        gzipped = b"".join(
            [GZIP_HEADER, *deflated, FINAL_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)]
        )
        # Of the gzip bytes, through the pieces' digests (made once each): the same content
        # gives the same tag in every worker (a change of titles only keeps the map data's).
        etag = hashlib.blake2b(b"".join(digests), digest_size=10).hexdigest()
        body = Body(gzipped, tuple(texts), etag)
        with self._lock:
            return self._bodies.setdefault(name, body)


def map_data_body(frame: pd.DataFrame) -> bytes:
    """Return the compact map data of a frame's approved events (a plain function, for publish)."""
    return PublicIndex.build(frame).map_data().plain()


def map_labels_body(frame: pd.DataFrame) -> bytes:
    """Return the compact labels of a frame's approved events, aligned with map_data_body."""
    return PublicIndex.build(frame).map_labels().plain()


class Tracker:
    """One store's current index in this process, brought up to date when the store changes."""

    def __init__(self, store: EventSource) -> None:
        self._store = store
        self._version = ""
        self._index: PublicIndex | None = None
        self._lock = threading.Lock()

    def current(self) -> PublicIndex:
        """Return the index of the store as it is now (one version read when nothing changed)."""
        version = self._store.version  # read before the frame, so a later change is seen again
        index = self._index
        if index is not None and version == self._version:
            return index
        with self._lock:
            if self._index is not None and version == self._version:
                return self._index
            frame = self._store.frame()
            if self._index is None:
                self._index = PublicIndex.build(frame)
            elif _number(version) > _number(self._version):
                changed = self._store.changed_since(self._version)
                self._index = self._index.updated(frame, changed)
            else:
                # No later change, other bytes: an erase (its row gone, no row carries its
                # number) or a hand edit of the file, which names no changed key. An erase
                # shows in the count; anything else is built from scratch.
                index = self._index.updated(frame, ())
                if len(index.ids) == len(self._index.ids):
                    index = PublicIndex.build(frame)
                self._index = index
            self._version = version
            return self._index


_trackers: weakref.WeakKeyDictionary[Any, Tracker] = weakref.WeakKeyDictionary()
_trackers_lock = threading.Lock()


def current(store: EventSource) -> PublicIndex:
    """Return the public index of a store as it is now, kept per store in this process."""
    tracker = _trackers.get(store)
    if tracker is None:
        with _trackers_lock:
            tracker = _trackers.setdefault(store, Tracker(store))
    return tracker.current()


def warm(store: EventSource) -> None:
    """Build a store's index and its bodies now (a worker before its first request)."""
    index = current(store)
    index.map_data()
    index.map_labels()


# Inside


def _number(version: str) -> int:
    """Return the number of the last change a store version names (-1 if it names none)."""
    try:
        return int(version.split("-", 1)[0])
    except ValueError:
        return -1


def _approved(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the approved rows of a frame, in its order."""
    return frame[frame["status"].to_numpy() == PUBLIC_STATUS]


def _json_texts(values: Iterable[Any]) -> list[str]:
    """Return each value as the compact JSON that json.dumps writes for it in a list."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return [dumps(value) for value in values]


def _scaled(values: pd.Series) -> list[str]:
    """Return coordinates as JSON integers of COORDINATE_SCALE per degree, null where missing."""
    numbers = pd.to_numeric(values, errors="coerce") * COORDINATE_SCALE
    return ["null" if pd.isna(value) else str(round(value)) for value in numbers]


def _days(starts_at: list[str]) -> list[str]:
    """Return the local start dates as days since 1970-01-01 (-1 where there is none)."""
    return [_day(str(value)[:10]) for value in starts_at]


@functools.lru_cache(maxsize=4096)
def _day(text: str) -> str:
    """Return one date's day number as JSON (events share few dates: each is parsed once).

    As mapview's pandas.to_datetime(format="%Y-%m-%d", errors="coerce") reads it, without its
    cost for the one row an update encodes.
    """
    try:
        return str((datetime.strptime(text, "%Y-%m-%d") - EPOCH_DAY).days)
    except ValueError:
        return "-1"


def _records(approved: pd.DataFrame) -> Iterator[Record]:
    """Return the records of approved rows, their values encoded as the bodies write them."""
    if approved.empty:
        return
    # One 2-D array of the rows, read by column position: a Series per column costs more than
    # the few rows an update encodes.
    table = approved.to_numpy(dtype=object)
    at = {str(name): position for position, name in enumerate(approved.columns)}

    def values(name: str) -> list[str]:
        return table[:, at[name]].tolist()  # type: ignore[no-any-return]

    def series(name: str) -> pd.Series:
        return pd.Series(table[:, at[name]], dtype=object)

    ids = values("id")
    categories, formats = values("category"), values("format")
    encoded = {
        "id": _json_texts(ids),
        "lat": _scaled(series("latitude")),
        "lon": _scaled(series("longitude")),
        "category": [str(CATEGORY_CODES.get(v, -1)) for v in categories],
        "format": [str(FORMAT_CODES.get(v, -1)) for v in formats],
        "day": _days(values("starts_at")),
        "title": _json_texts(values("title")),
        "city": _json_texts(values("city")),
    }
    hashed = [name for name in (*PUBLIC_FIELDS, VERSION_FIELD) if name in at]
    rows = zip(*(values(name) for name in hashed), strict=True)
    columns = [encoded[name] for name in ENCODED]
    countries, starts = values("country"), values("starts_at")
    for position, row in enumerate(rows):
        event_id = ids[position]
        digest = hashlib.blake2b(FIELD_SEPARATOR.join(row).encode(), digest_size=16).digest()
        yield Record(
            id=event_id,
            encoded=tuple(column[position] for column in columns),
            country=countries[position],
            category=categories[position],
            format=formats[position],
            starts_at=starts[position],
            digest=int.from_bytes(digest, "big"),
            ends_chunk=zlib.crc32(event_id.encode()) % CHUNK_EVENTS == 0,
        )


def _count_keys(record: Record) -> list[tuple[str, str, str]]:
    """Return the keys an event adds one to: its country, category, format and year."""
    first4 = record.starts_at[:4]
    keys = [
        ("country", first4, record.country),
        ("category", first4, record.category),
        ("format", first4, record.format),
    ]
    if first4.isdigit():
        keys.append(("year", first4, first4))
    return keys


def _chunk_ids(
    ids: np.ndarray[Any, Any], id_list: list[str], ends: set[str]
) -> Iterator[tuple[str, ...]]:
    """Return the ids cut into chunks, each ending after an id that ends one (or at the end)."""
    start = 0
    marked = pd.Series(ids, copy=False).isin(list(ends)).to_numpy()
    for end in np.flatnonzero(marked).tolist():
        yield tuple(id_list[start : end + 1])
        start = end + 1
    if start < len(id_list):
        yield tuple(id_list[start:])


def _absent(ids: Any, among: Any) -> list[str]:
    """Return the ids (in order) that are not among the others."""
    series = pd.Series(ids, dtype=object)
    return series[~series.isin(among).to_numpy()].tolist()


def _chunk_key(ids: tuple[str, ...]) -> tuple[str, str, int]:
    """Return what finds a chunk again: its first and last ids and its length (never empty)."""
    return ids[0], ids[-1], len(ids)


def _stored(data: bytes) -> bytes:
    """Return data as deflate stored blocks (not final), for text between compressed pieces."""
    out = []
    for start in range(0, len(data), STORED_BLOCK_MAX):
        part = data[start : start + STORED_BLOCK_MAX]
        out.append(b"\x00" + struct.pack("<HH", len(part), len(part) ^ 0xFFFF) + part)
    return b"".join(out)


def _summary(
    countries: Counter[str], categories: Counter[str], formats: Counter[str]
) -> dict[str, object]:
    """Return the map page's counts from per-value counts, ordered as stats.public_summary."""
    by_country = {code: n for code, n in _by_count(countries) if code and n}
    return {
        "events": sum(categories.values()),
        "countries": len(by_country),
        "by_country": by_country,
        "by_category": _coded(categories, CATEGORIES),
        "by_format": _coded(formats, FORMATS),
    }


def _summary_of(records: Iterable[Record]) -> dict[str, object]:
    """Return the map page's counts of some records, counted now."""
    countries: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    for record in records:
        countries[record.country] += 1
        categories[record.category] += 1
        formats[record.format] += 1
    return _summary(countries, categories, formats)


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    """Return values by count, largest first, ties by value (so every worker says the same)."""
    return sorted(((v, n) for v, n in counts.items() if n), key=lambda item: (-item[1], item[0]))


def _coded(counts: Counter[str], labels: dict[str, str]) -> dict[str, int]:
    """Return the counts of known codes in the order of their labels, then the unknown ones."""
    known = {code: counts[code] for code in labels if counts.get(code, 0)}
    return known | {code: n for code, n in _by_count(counts) if code not in labels}
