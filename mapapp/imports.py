"""Bulk import of a partner's list (CSV or XLSX): map columns, validate, geocode, skip duplicates.

Every row is checked with the same rules as the submission form (`events.validate_event`). A bad
row is reported with its spreadsheet row number (the header is row 1) and never blocks the good
ones. Rows that cannot be placed on the map are still imported, without a location, and reported
as warnings. Importing the same file twice adds nothing: each row's fingerprint (folded title,
start day, country, city and organiser) is checked against the store and the rows before it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any, TypeVar, cast

import pandas as pd

from mapapp.access import ScopedEvents
from mapapp.events import (
    CATEGORIES,
    FORMATS,
    LOCAL_TIME_FORMAT,
    format_coordinate,
    is_known_timezone,
    validate_event,
)
from mapapp.filters import fold
from mapapp.geocoding import country_code as country_code_of_name
from mapapp.geocoding import locate, timezone_at

# Reading the file is import_files' job; these of its names are re-exported ("x as x") because
# callers and tests import them from here.
from mapapp.import_files import MAX_SHARED_STRINGS_BYTES as MAX_SHARED_STRINGS_BYTES
from mapapp.import_files import FileTooLargeError as FileTooLargeError
from mapapp.import_files import ImportFileError as ImportFileError
from mapapp.import_files import UnreadableFileError as UnreadableFileError
from mapapp.import_files import check_size as check_size
from mapapp.import_files import read_table as read_table
from mapapp.import_files import too_large as too_large
from mapapp.placing import settled_timezone_errors, unplaced_timezone
from mapapp.storage import Audit
from mapapp.submission_rules import (
    ENDED_IMPORTED_MESSAGE,
    ENDED_OUTSIDE_MESSAGE,
    ended_on,
    in_recent_window,
    long_date,
    recent_window,
)

BATCH_SIZE = 1000
IMPORT_SOURCE = "import"
IMPORT_STATUSES = ("pending", "approved")

# Column names people use, folded (lower case, no accents, punctuation as spaces) -> our field.
# start_date/start_time and end_date/end_time are parts joined into starts_at and ends_at.
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "title": ("title", "event name", "name", "event", "event title", "name of event"),
    "category": ("category", "type", "event type", "kind", "type of event"),
    "format": ("format", "event format", "attendance", "mode", "in person or online"),
    "starts_at": (
        "start",
        "starts at",
        "starts",
        "start date and time",
        "start datetime",
        "begins",
    ),
    "start_date": ("start date", "date", "day", "event date"),
    "start_time": ("start time", "time", "from", "starting time"),
    "ends_at": ("end", "ends at", "ends", "end date and time", "end datetime", "finishes"),
    "end_date": ("end date",),
    "end_time": ("end time", "until", "to", "ending time", "finishing time"),
    "timezone": ("timezone", "time zone", "tz"),
    "venue": ("venue", "place", "location", "location name", "building"),
    "address": ("address", "street", "street address", "full address"),
    "city": ("city", "town", "town or city", "city or town", "municipality", "village"),
    "region": ("region", "state", "province", "county", "state or province"),
    "country": ("country", "country code", "nation"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "organiser": (
        "organiser",
        "organizer",
        "organisation",
        "organization",
        "host",
        "organised by",
        "organized by",
        "patient organisation",
        "patient organization",
    ),
    "website": ("website", "url", "link", "web", "web site", "event page", "web page"),
    "contact_email": ("contact email", "email", "e mail", "contact e mail", "mail"),
    "description": ("description", "details", "about", "summary", "notes"),
    "language": ("language", "lang"),
}
HEADER_TO_FIELD: dict[str, str] = {
    synonym: name for name, synonyms in COLUMN_SYNONYMS.items() for synonym in synonyms
}
PART_FIELDS = frozenset({"start_date", "start_time", "end_date", "end_time"})
# Names of formats people write, folded -> code (labels and codes are added below).
FORMAT_SYNONYMS: dict[str, str] = {
    "in person": "in_person",
    "inperson": "in_person",
    "physical": "in_person",
    "offline": "in_person",
    "virtual": "online",
    "remote": "online",
    "webinar": "online",
    "both": "hybrid",
}
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
)
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H.%M", "%Hh%M", "%Hh", "%I:%M%p", "%I%p", "%I.%M%p")
TRAILING_TIME = re.compile(
    r"^(?P<day>.+?)[\sT,]+(?P<time>\d{1,2}(?:[:.h]\d{2})?(?::\d{2})?\s*(?:[ap]\.?m\.?)?)$",
    re.IGNORECASE,
)
ONLINE_COUNTRY_MESSAGE = (
    "Country: an online event needs the country its organisation is based in; give it in the "
    "Country column."
)
ZONE_COLUMN_HINT = "Add it in a Time zone column."
HOST_LIKE = re.compile(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?$", re.IGNORECASE)

T = TypeVar("T")
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


@dataclass(frozen=True)
class RowNote:
    """Something to tell about one row of the file, by its spreadsheet row number."""

    row: int
    message: str


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    rows: int = 0
    added: list[dict[str, str]] = field(default_factory=list)
    rejected: list[RowNote] = field(default_factory=list)
    duplicates: list[RowNote] = field(default_factory=list)
    warnings: list[RowNote] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Return one sentence that says what happened."""
        verb = "would add" if self.dry_run else "added"
        return (
            f"Read {self.rows} rows: {verb} {len(self.added)}, skipped {len(self.duplicates)} "
            f"already on the map, rejected {len(self.rejected)}, "
            f"{len(self.warnings)} warnings."
        )


@dataclass
class _Candidate:
    """A row that passed validation, waiting to be placed and written."""

    row: int
    event: dict[str, str]


# Mapping columns and values


def fold_header(name: str) -> str:
    """Return a column name folded for matching: lower case, no accents, words only."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", fold(name)).split())


def map_columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Return our field -> column position for the header, and the columns left unused."""
    mapping: dict[str, int] = {}
    ignored: list[str] = []
    for position, name in enumerate(header):
        folded = fold_header(name)
        target = HEADER_TO_FIELD.get(folded) or HEADER_TO_FIELD.get(folded.replace(" ", "_"))
        if target is None and folded.replace(" ", "_") in COLUMN_SYNONYMS:
            target = folded.replace(" ", "_")
        if target is None or target in mapping:
            if name:
                ignored.append(name)
            continue
        mapping[target] = position
    if "title" not in mapping:
        raise ImportFileError(
            "We could not find the column with the event names: call it Title or Event name."
        )
    if "starts_at" not in mapping and "start_date" not in mapping:
        raise ImportFileError(
            "We could not find the column with the start dates: call it Start, or Start date "
            "(with Start time)."
        )
    return mapping, ignored


def _choice_lookup(choices: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Return folded code, label and synonym -> code."""
    lookup = dict(extra)
    for code, label in choices.items():
        lookup[fold_header(code)] = code
        lookup[fold_header(label)] = code
    return lookup


CATEGORY_LOOKUP = _choice_lookup(CATEGORIES, {})
FORMAT_LOOKUP = _choice_lookup(FORMATS, FORMAT_SYNONYMS)


def country_code(value: str) -> str | None:
    """Return the alpha-2 code of a country written by name (many languages) or code, or None."""
    text = value.strip()
    if not text:
        return ""
    return country_code_of_name(text) or None


def parse_day(value: str) -> date | None:
    """Return the date written in one of the common day-first or ISO forms, or None."""
    text = " ".join(value.replace(",", " ").split())
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def parse_clock(value: str) -> clock_time | None:
    """Return the time of day written as 18:00, 18.00, 18h00, 6pm or 6:30 p.m., or None."""
    text = value.strip().lower().replace(" ", "").replace(".m.", "m").replace("a.m", "am")
    text = text.replace("p.m", "pm")
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).time()
        except ValueError:
            continue
    return None


def parse_moment(day_text: str, time_text: str) -> tuple[str, str]:
    """Return (local time YYYY-MM-DDTHH:MM, "") from a date and a time, or ("", problem)."""
    day_text, time_text = day_text.strip(), time_text.strip()
    if not day_text:
        return "", "no date"
    try:
        moment = datetime.fromisoformat(day_text)
        if moment.tzinfo is None and ("T" in day_text or " " in day_text) and not time_text:
            return moment.strftime(LOCAL_TIME_FORMAT), ""
        day: date | None = moment.date()
    except ValueError:
        day = parse_day(day_text)
        if day is None and not time_text and (match := TRAILING_TIME.match(day_text)):
            day, time_text = parse_day(match["day"]), match["time"]
    if day is None:
        return "", f"we could not read the date {day_text!r}; write it as 2027-02-28 or 28/02/2027"
    if not time_text:
        return "", "the row has a date but no time; add a time such as 18:00"
    clock = parse_clock(time_text)
    if clock is None:
        return "", f"we could not read the time {time_text!r}; write it as 18:00"
    return datetime.combine(day, clock).strftime(LOCAL_TIME_FORMAT), ""


def row_to_event(
    cells: list[str], mapping: Mapping[str, int], *, status: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the event a row describes before validation, and problems found reading it."""

    def cell(name: str) -> str:
        position = mapping.get(name)
        return cells[position].strip() if position is not None and position < len(cells) else ""

    problems: dict[str, str] = {}
    event = {name: cell(name) for name in mapping if name not in PART_FIELDS}
    event["status"] = status
    event["location_precision"] = ""

    starts_day = cell("starts_at") or cell("start_date")
    starts_at, problem = parse_moment(starts_day, cell("start_time"))
    if problem:
        problems["starts_at"] = f"Start: {problem}."
    event["starts_at"] = starts_at
    ends_day, ends_clock = cell("ends_at") or cell("end_date"), cell("end_time")
    if ends_clock and not ends_day:
        ends_day = starts_at[:10] or starts_day  # an end time alone ends on the start day
    if ends_day:
        ends_at, problem = parse_moment(ends_day, ends_clock)
        if problem:
            problems["ends_at"] = f"End: {problem}."
        event["ends_at"] = ends_at

    if raw := event.get("category", ""):
        event["category"] = CATEGORY_LOOKUP.get(fold_header(raw), raw)
        if event["category"] not in CATEGORIES:
            problems["category"] = (
                f"Category: {raw!r} is not one of ours; use one of "
                f"{', '.join(CATEGORIES.values())}."
            )
    else:
        event["category"] = "other"
    if raw := event.get("format", ""):
        event["format"] = FORMAT_LOOKUP.get(fold_header(raw), raw)
    else:  # a row with a place is an event people go to
        has_place = any(cell(name) for name in ("venue", "address", "city", "country"))
        event["format"] = "in_person" if has_place else "online"
    if raw := event.get("country", ""):
        code = country_code(raw)
        if code is None:
            problems["country"] = (
                f"Country: we do not know {raw!r}; write the country's name or its two-letter "
                "code, such as FR."
            )
        else:
            event["country"] = code
    if (website := event.get("website", "")) and HOST_LIKE.match(website):
        event["website"] = "https://" + website  # "www.example.org" means the web site
    if event.get("language"):
        event["language"] = event["language"].lower()
    if event.get("latitude") and event.get("longitude"):
        event["location_precision"] = "manual"
        event["location_source"] = IMPORT_SOURCE
    return event, problems


def fingerprint(event: Mapping[str, str]) -> str:
    """Return what makes two rows the same event: title, start day, country, city, organiser."""
    parts = (
        event.get("title", ""),
        str(event.get("starts_at", ""))[:10],
        str(event.get("country", "")).upper(),
        event.get("city", ""),
        event.get("organiser", ""),
    )
    return "|".join(" ".join(fold(str(part)).split()) for part in parts)


def store_fingerprints(frame: pd.DataFrame) -> dict[str, str]:
    """Return the fingerprint -> id of every stored event."""
    if frame.empty:
        return {}
    keys = cast(
        list[dict[str, str]],
        frame[["title", "starts_at", "country", "city", "organiser"]].to_dict(orient="records"),
    )
    return {fingerprint(key): event_id for key, event_id in zip(keys, frame["id"], strict=True)}


# The import


def import_events(
    content: bytes,
    filename: str,
    store: ScopedEvents,
    *,
    status: str = "pending",
    dry_run: bool = False,
    progress: Progress | None = None,
    who: str = "cli",
) -> ImportReport:
    """Import the events of a CSV or XLSX file into the store and report row by row."""
    if status not in IMPORT_STATUSES:
        raise ImportFileError(f"Imported events are pending or approved, not {status!r}.")
    report = ImportReport(dry_run=dry_run)
    clock = time.perf_counter()

    header, rows = read_table(content, filename)
    mapping, report.ignored_columns = map_columns(header)
    report.columns = {name: header[position] for name, position in mapping.items()}
    report.rows = len(rows)
    report.seconds["read"] = time.perf_counter() - clock
    clock = time.perf_counter()

    seen = store_fingerprints(store.frame())
    candidates: list[_Candidate] = []
    rows_seen: dict[str, int] = {}
    for number, cells in _track(rows, progress, "Checking rows"):
        event, problems = row_to_event(cells, mapping, status=status)
        checked, errors = validate_event(event)
        errors = {**errors, **problems}  # our reading problems say more than the generic rule
        if checked is not None:
            errors.update(_zone_problems(checked))
        if errors or checked is None:
            report.rejected.append(RowNote(number, " ".join(dict.fromkeys(errors.values()))))
            continue
        key = fingerprint(checked)
        if key in seen:
            report.duplicates.append(
                RowNote(number, f"Already on the map as event {seen[key]}; skipped.")
            )
        elif key in rows_seen:
            report.duplicates.append(
                RowNote(number, f"The same event as row {rows_seen[key]}; skipped.")
            )
        else:
            rows_seen[key] = number
            candidates.append(_Candidate(number, checked))
    report.seconds["validate"] = time.perf_counter() - clock
    clock = time.perf_counter()

    candidates = _place(candidates, report, progress)
    candidates = _check_ended(candidates, report)  # in each row's zone, known once placed
    report.rejected.sort(key=lambda note: note.row)
    report.seconds["geocode"] = time.perf_counter() - clock
    clock = time.perf_counter()

    if dry_run:
        report.added = [candidate.event for candidate in candidates]
    else:
        for start in range(0, len(candidates), BATCH_SIZE):
            batch = candidates[start : start + BATCH_SIZE]
            # Checked again under the store's lock: another import may have added the same rows.
            added = store.add_many(
                [candidate.event for candidate in batch],
                audit=Audit(who, "import"),
                unless_stored=fingerprint,
            )
            report.added.extend(added)
            added_keys = {fingerprint(event) for event in added}
            report.duplicates.extend(
                RowNote(candidate.row, "Added by another import meanwhile; skipped.")
                for candidate in batch
                if fingerprint(candidate.event) not in added_keys
            )
        report.duplicates.sort(key=lambda note: note.row)
    report.seconds["write"] = time.perf_counter() - clock
    report.warnings.sort(key=lambda note: note.row)
    return report


def _zone_problems(event: dict[str, str]) -> dict[str, str]:
    """Return an error when an online row names no country (its zone is checked once placed)."""
    if event["format"] == "online" and not event["country"]:
        return {"country": ONLINE_COUNTRY_MESSAGE}
    return {}


def _place(
    candidates: list[_Candidate], report: ImportReport, progress: Progress | None
) -> list[_Candidate]:
    """Give rows with a place their coordinates and time zone, asking once per distinct place.

    A placed row takes its place's zone; one without a place the zone given, else its country's
    only zone. A row left without a zone is rejected; the rows kept are returned.
    """
    answers: dict[tuple[str, ...], Any] = {}
    kept: list[_Candidate] = []
    for candidate in _track(candidates, progress, "Placing events"):
        event = candidate.event
        unplaced: RowNote | None = None
        place = ""
        if event["format"] != "online" and not event["latitude"]:
            query = tuple(event[name] for name in ("address", "city", "region", "country"))
            if query not in answers:
                address, city, region, country = query
                answers[query] = locate(address=address, city=city, region=region, country=country)
            result = answers[query]
            best = result.best if result.status == "found" else None
            if best is None:
                place = ", ".join(part for part in query if part) or "no place given"
                unplaced = RowNote(
                    candidate.row,
                    f"We could not place {place!r} on the map; the event is imported without "
                    "a location, for a coordinator to place.",
                )
            else:
                event["latitude"] = format_coordinate(best.latitude)
                event["longitude"] = format_coordinate(best.longitude)
                event["location_precision"] = best.precision
                event["location_source"] = best.source
        given = event["timezone"]
        if event["latitude"]:
            point = timezone_at(float(event["latitude"]), float(event["longitude"]))
            if not is_known_timezone(point):
                point = unplaced_timezone(event)
            event["timezone"] = point
            if given and point and point != given:
                report.warnings.append(
                    RowNote(
                        candidate.row,
                        f"The time zone {given} was replaced by {point}, the time zone of the "
                        "event's place.",
                    )
                )
        else:
            event["timezone"] = unplaced_timezone(event)
        if errors := settled_timezone_errors(event, given):
            if "timezone" not in errors:  # a start or end the clocks jump over
                report.rejected.append(RowNote(candidate.row, " ".join(errors.values())))
                continue
            message = errors["timezone"] if given else f"{errors['timezone']} {ZONE_COLUMN_HINT}"
            if unplaced is not None:
                message = f"We could not place {place!r} on the map, so its time zone is not known. {message}"
            report.rejected.append(RowNote(candidate.row, message))
            continue
        if unplaced is not None:
            report.warnings.append(unplaced)
        kept.append(candidate)
    return kept


def _check_ended(candidates: list[_Candidate], report: ImportReport) -> list[_Candidate]:
    """Warn about rows whose event has ended; reject those outside the recent editions' dates."""
    kept: list[_Candidate] = []
    for candidate in candidates:
        day = ended_on(candidate.event)
        if day is None:
            kept.append(candidate)
        elif in_recent_window(date.fromisoformat(candidate.event["starts_at"][:10])):
            report.warnings.append(
                RowNote(candidate.row, ENDED_IMPORTED_MESSAGE.format(day=long_date(day)))
            )
            kept.append(candidate)
        else:
            first, last = recent_window()
            message = ENDED_OUTSIDE_MESSAGE.format(
                day=long_date(day), first=long_date(first), last=long_date(last)
            )
            report.rejected.append(RowNote(candidate.row, message))
    report.rejected.sort(key=lambda note: note.row)
    return kept


def _track(items: list[T], progress: Progress | None, description: str) -> Iterable[T]:
    """Return the items, wrapped in a progress bar when one is given."""
    return progress(items, len(items), description) if progress else items
