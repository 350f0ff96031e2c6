"""One table of export formats -> renderer functions: CSV, Excel, JSON, GeoJSON, iCalendar.

Spreadsheet formats neutralise formula injection, each in its own way. The XLSX (mapapp/excel.py)
has cell types: text is written as string cells, which spreadsheets show as they are and never
run, so `=1+1` stays the text `=1+1` with nothing added. CSV has no cell types: every reader
guesses each cell's type from its text, and Excel, or LibreOffice as it opens a CSV by default,
runs a cell that starts with = (and +, -, @, or a tab, CR or LF before one) as a formula or DDE
command. So in CSV such a cell gets a leading single quote (OWASP's advice), the one marker that
all of them read as "this is text"; it stays visible, which is the price of a format without
types. Plain decimal coordinates keep their minus sign: a number, not a formula.

The CSV keeps the store's field names as its header (`starts_at`, `country`, with codes as
values): it is what partners re-import and what scripts read back by field name. The XLSX is for
people: labelled headers, labels for codes, real dates and numbers.
JSON and GeoJSON keep the raw text: their readers never evaluate it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import pandas as pd
from flask import has_request_context, request
from icalendar import Timezone, vText

from mapapp.events import CATEGORIES, FIELDS, PUBLIC_FIELDS, country_name, zone
from mapapp.excel import PLAIN_DECIMAL, SHEET_LAYOUT, render_xlsx
from mapapp.filters import EventFilter, apply_filter
from mapapp.i18n import DEFAULT_LANGUAGE, force_language

FILENAME_STEM = "rare-disease-day-events"
CALENDAR_NAME = "Rare Disease Day events"
PRODUCT_ID = "-//Rare Disease Day//Events map//EN"
UID_DOMAIN = "rare-disease-day-events-map"
UTF8_BOM = "\ufeff"
# Coordinator exports hold every field but the edit token's hash, which only proves edit links,
# and an organiser's change waiting for review (a proposal, not the event; the queue shows it).
PRIVATE_EXPORT_FIELDS: tuple[str, ...] = tuple(
    name for name in FIELDS if name not in {"edit_token_hash", "pending_change"}
)
# A spreadsheet runs a cell starting with one of these as a formula (or DDE command).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Coordinates stay numbers in spreadsheets: a plain decimal's leading minus is a sign, not a
# formula (see excel.PLAIN_DECIMAL).
NUMERIC_FIELDS = frozenset({"latitude", "longitude"})
ICS_STATUSES = {
    "approved": "CONFIRMED",
    "pending": "TENTATIVE",
    "rejected": "CANCELLED",
    "withdrawn": "CANCELLED",
}
ICS_LOCAL_FORMAT = "%Y%m%dT%H%M%S"
ICS_UTC_FORMAT = "%Y%m%dT%H%M%SZ"
FOLD_OCTETS = 75
ID_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# Each VTIMEZONE covers its zone's rules from a year before its events' first year to a year after.
TIMEZONE_MARGIN = timedelta(days=366)

Renderer = Callable[[pd.DataFrame, str], bytes]


class ExportFormat(NamedTuple):
    """A download format: file suffix, media type and the function that renders a frame."""

    suffix: str
    media_type: str
    render: Renderer
    uses_base_url: bool = False  # whether the body holds absolute links (then cached per address)
    # Which layout of the file the renderer writes, part of the kept copies' version: bump it when
    # a renderer's output changes, so that copies kept on disk by the previous code are renewed
    # after a deploy (served once more while the new one renders) instead of kept until an
    # approved event changes.
    layout: str = "1"


def export_columns(frame: pd.DataFrame, *, private: bool = False) -> list[str]:
    """Return the columns an export carries, in store order."""
    allowed = PRIVATE_EXPORT_FIELDS if private else PUBLIC_FIELDS
    return [name for name in allowed if name in frame.columns]


def neutralise_formula(value: str) -> str:
    """Return a cell value that a spreadsheet shows as text instead of running it."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def spreadsheet_rows(frame: pd.DataFrame) -> Iterator[list[str]]:
    """Yield the frame's rows with every cell safe to open in a spreadsheet."""
    numeric = [name in NUMERIC_FIELDS for name in frame.columns]
    for row in zip(*(frame[name].tolist() for name in frame.columns), strict=True):
        yield [
            value if is_number and PLAIN_DECIMAL.match(value) else neutralise_formula(str(value))
            for value, is_number in zip(row, numeric, strict=True)
        ]


def render_csv(frame: pd.DataFrame, base_url: str = "") -> bytes:
    """Return the events as CSV in UTF-8 with a byte order mark, so Excel reads the accents."""
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(frame.columns))
    writer.writerows(spreadsheet_rows(frame))
    return buffer.getvalue().encode("utf-8")


def render_json(frame: pd.DataFrame, base_url: str = "") -> bytes:
    """Return the events as a JSON object with a count and a list of events."""
    events = _records(frame)
    return json.dumps({"count": len(events), "events": events}, ensure_ascii=False).encode()


def render_geojson(frame: pd.DataFrame, base_url: str = "") -> bytes:
    """Return the events as a GeoJSON FeatureCollection; unplaced events have no geometry."""
    properties = [name for name in frame.columns if name not in NUMERIC_FIELDS]
    features = []
    for record in _records(frame):
        latitude, longitude = record.get("latitude", ""), record.get("longitude", "")
        geometry = None
        if latitude and longitude:
            geometry = {"type": "Point", "coordinates": [float(longitude), float(latitude)]}
        features.append(
            {
                "type": "Feature",
                "id": record.get("id", ""),
                "geometry": geometry,
                "properties": {name: record[name] for name in properties},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False).encode()


def render_ics(frame: pd.DataFrame, base_url: str = "") -> bytes:
    """Return the events as an iCalendar file: one VEVENT each, in its own time zone."""
    # icalendar's component objects cost about a millisecond per event, a minute for 50,000
    # events. So each VEVENT is written line by line, with icalendar escaping the text values
    # (vText), folding long lines (Contentline) and building the VTIMEZONE components.
    events: list[str] = []
    zone_years: dict[str, set[int]] = {}
    for record in _records(frame):
        lines = _vevent_lines(record, base_url)
        if lines is None:
            continue
        events.extend(lines)
        if (name := record.get("timezone", "")) and name != "UTC":
            zone_years.setdefault(name, set()).add(int(record["starts_at"][:4]))
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT_ID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_text(CALENDAR_NAME)}",
    ]
    # VTIMEZONE components come first so readers know each TZID before they meet it.
    zones = [_vtimezone(name, min(years), max(years)) for name, years in sorted(zone_years.items())]
    return b"".join(
        [
            "\r\n".join(head).encode() + b"\r\n",
            *zones,
            "\r\n".join([*events, "END:VCALENDAR"]).encode() + b"\r\n",
        ]
    )


@lru_cache(maxsize=1024)
def _vtimezone(name: str, first_year: int, last_year: int) -> bytes:
    """Return the VTIMEZONE of a zone for the years of its events (slow to build: cached)."""
    first = date(first_year, 1, 1) - TIMEZONE_MARGIN
    last = date(last_year + 1, 1, 1) + TIMEZONE_MARGIN
    return bytes(Timezone.from_tzid(name, first_date=first, last_date=last).to_ical())


def _records(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return the rows of a frame of strings as dicts."""
    columns = [str(name) for name in frame.columns]
    # Column by column: tolist() costs a fraction of itertuples on pandas' string arrays.
    values = [frame[name].tolist() for name in frame.columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _vevent_lines(record: dict[str, str], base_url: str) -> list[str] | None:
    """Return the content lines of a stored event's VEVENT, or None if its start is unreadable."""
    name = record.get("timezone", "") or "UTC"
    try:
        starts = _local_time(record.get("starts_at", ""))
        zone(name)  # a zone this system does not know would make a TZID no reader knows
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_text(record.get('id', '') + '@' + UID_DOMAIN)}",
        f"DTSTAMP:{_stamp(record).strftime(ICS_UTC_FORMAT)}",
        _moment("DTSTART", starts, name),
    ]
    if ends_at := record.get("ends_at", ""):
        try:
            lines.append(_moment("DTEND", _local_time(ends_at), name))
        except ValueError:
            pass
    lines.append(f"SUMMARY:{_text(record.get('title', ''))}")
    if description := record.get("description", ""):
        lines.append(f"DESCRIPTION:{_text(description)}")
    if record.get("format") != "online":
        if location := _location(record):
            lines.append(f"LOCATION:{_text(location)}")
        latitude, longitude = record.get("latitude", ""), record.get("longitude", "")
        if PLAIN_DECIMAL.match(latitude) and PLAIN_DECIMAL.match(longitude):
            lines.append(f"GEO:{latitude};{longitude}")
    if category := record.get("category", ""):
        lines.append(f"CATEGORIES:{_text(CATEGORIES.get(category, category))}")
    if status := ICS_STATUSES.get(record.get("status", "")):
        lines.append(f"STATUS:{status}")
    if base_url and ID_SAFE.match(record.get("id", "")):
        lines.append(f"URL:{base_url.rstrip('/')}/events/{record['id']}")
    lines.append("END:VEVENT")
    return [_fold(line) for line in lines]


def _moment(name: str, moment: datetime, zone_name: str) -> str:
    """Return a DTSTART or DTEND line: UTC with Z, any other zone with its TZID."""
    if zone_name == "UTC":
        return f"{name}:{moment.strftime(ICS_LOCAL_FORMAT)}Z"
    return f"{name};TZID={zone_name}:{moment.strftime(ICS_LOCAL_FORMAT)}"


def _text(value: str) -> str:
    """Return a TEXT value escaped as iCalendar needs (commas, semicolons, newlines)."""
    return vText(value).to_ical().decode()


def _fold(line: str) -> str:
    """Return a content line folded at 75 octets, as RFC 5545 asks, never inside a character."""
    data = line.encode()
    if len(data) <= FOLD_OCTETS:
        return line
    chunks, start, limit = [], 0, FOLD_OCTETS
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: step back to the start
            end -= 1
        if data[end - 1 : end] == b"\\":  # keep an escape (\, \;) whole, as readers expect
            end -= 1
        chunks.append(data[start:end])
        start, limit = end, FOLD_OCTETS - 1  # continuation lines begin with a space
    chunks.append(data[start:])
    return b"\r\n ".join(chunks).decode()


def _local_time(value: str) -> datetime:
    """Return a stored local wall time (YYYY-MM-DDTHH:MM), or raise ValueError."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None or len(value) != len("2027-02-28T18:00"):
        raise ValueError(f"not a local time: {value!r}")
    return moment


def _stamp(record: dict[str, str]) -> datetime:
    """Return when the event was last revised, so the file is the same until it changes."""
    for name in ("updated_at", "created_at"):
        try:
            moment = datetime.fromisoformat(record.get(name, ""))
        except ValueError:
            continue
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _location(record: dict[str, str]) -> str:
    """Return the place of an event as one line of text."""
    parts = [record.get(name, "") for name in ("venue", "address", "city", "region")]
    parts.append(country_name(record.get("country", "")))
    return ", ".join(dict.fromkeys(part for part in parts if part))


# The one table of formats: name -> (suffix, media type, renderer).
FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat(".csv", "text/csv; charset=utf-8", render_csv),
    "xlsx": ExportFormat(
        ".xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        render_xlsx,
        layout=SHEET_LAYOUT,
    ),
    "json": ExportFormat(".json", "application/json", render_json),
    "geojson": ExportFormat(".geojson", "application/geo+json", render_geojson),
    "ics": ExportFormat(".ics", "text/calendar; charset=utf-8", render_ics, uses_base_url=True),
}


def render_export(
    fmt: str, frame: pd.DataFrame, *, private: bool = False, base_url: str | None = None
) -> tuple[bytes, str, str]:
    """Return (body, media type, file suffix) of events in a format, public fields unless private."""
    try:
        export_format = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"Unknown export format {fmt!r}: choose {', '.join(FORMATS)}.") from None
    if base_url is None:
        base_url = request.url_root if has_request_context() else ""
    with force_language(DEFAULT_LANGUAGE):  # files are English, whatever the page's language
        body = export_format.render(frame[export_columns(frame, private=private)], base_url)
    return body, export_format.media_type, export_format.suffix


def export_events(
    fmt: str,
    frame: pd.DataFrame,
    event_filter: EventFilter,
    *,
    private: bool = False,
    base_url: str | None = None,
) -> tuple[bytes, str, str]:
    """Return the export of the store's events that a filter keeps, ordered by start."""
    if not private and tuple(event_filter.statuses) != ("approved",):
        raise ValueError("Public exports carry approved events only.")
    kept = apply_filter(frame, event_filter).sort_values(["starts_at", "id"], kind="stable")
    return render_export(fmt, kept, private=private, base_url=base_url)


def download_name(suffix: str, today: date | None = None) -> str:
    """Return the file name of a download made today."""
    today = today or datetime.now(UTC).date()
    return f"{FILENAME_STEM}-{today.isoformat()}{suffix}"
