"""Bulk import of a partner's list (CSV or XLSX): map columns, validate, geocode, skip duplicates.

Every row is checked with the same rules as the submission form (`events.validate_event`). A bad
row is reported with its spreadsheet row number (the header is row 1) and never blocks the good
ones. Rows that cannot be placed on the map are still imported, without a location, and reported
as warnings. Importing the same file twice adds nothing: each row's fingerprint (folded title,
start day, country, city and organiser) is checked against the store and the rows before it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import PurePath
from typing import Any, TypeVar, cast
from xml.etree.ElementTree import ParseError, iterparse

import pandas as pd
from openpyxl import load_workbook

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
from mapapp.storage import Audit, EventStore

BATCH_SIZE = 1000
MAX_ROWS = 100_000
FIRST_DATA_ROW = 2  # the header is row 1, as a spreadsheet numbers them
SUFFIXES = (".csv", ".xlsx")
IMPORT_SOURCE = "import"
IMPORT_STATUSES = ("pending", "approved")
CSV_DELIMITERS = ",;\t"
# Spreadsheets saved as "CSV" on Windows are often in this code page rather than UTF-8.
FALLBACK_ENCODING = "cp1252"
# "Unicode text" from Excel is UTF-16, with a byte-order mark or, rarely, without one.
UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
NUL_SNIFF_BYTES = 4096
MEGABYTE = 2**20
# Bounds on a workbook, checked before it is parsed, so that no small file can pin a worker:
# a sheet's declared size (openpyxl pads every row to it), the parts' unpacked sizes (zip bombs)
# and the shared strings, which openpyxl reads whole into memory. A workbook of 100,000 rows of
# 15 columns, as openpyxl writes it, unpacks to about 100 MB.
MAX_SHEET_ROWS = MAX_ROWS + 1_000  # the header and some blank rows
# Rows past the declared size are still read (blank ones cost little), up to Excel's last row.
EXCEL_MAX_ROWS = 1_048_576
MAX_COLUMNS = 300
MAX_CELLS = 5_000_000
MAX_PARTS = 1_000
MAX_PART_BYTES = 256 * MEGABYTE
MAX_UNPACKED_BYTES = 320 * MEGABYTE
MAX_SHARED_STRINGS_BYTES = 64 * MEGABYTE
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
CONTENT_TYPES_PART = "[Content_Types].xml"
SHARED_STRINGS_PART = re.compile(
    r"<Override\b[^>]*?PartName=\"/?([^\"]+)\"[^>]*?ContentType=\""
    + re.escape(SHARED_STRINGS_TYPE),
    re.IGNORECASE,
)
NOT_A_WORKBOOK = "This file is not a readable Excel workbook: {reason}. " + (
    "Save it again from your spreadsheet program (as .xlsx), or export it as CSV UTF-8."
)

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
HOST_LIKE = re.compile(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/\S*)?$", re.IGNORECASE)

T = TypeVar("T")
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do."""


class UnreadableFileError(ImportFileError):
    """The file is damaged or in an encoding we cannot read."""


class FileTooLargeError(ImportFileError):
    """The file, or what it unpacks to, is larger than an import takes."""


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


# Reading


def read_table(content: bytes, filename: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Return the header and the (spreadsheet row number, cells) of a CSV or XLSX file."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(content)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(content)
    else:
        raise ImportFileError(
            f"{PurePath(filename).name or 'The file'} is not a CSV or Excel (.xlsx) file. "
            "Save the spreadsheet as .csv or .xlsx and try again."
        )
    header: list[str] | None = None
    data: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not rows anyone meant
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        data.append((number, cells))
        if len(data) > MAX_ROWS:
            raise ImportFileError(
                f"The file has more than {MAX_ROWS:,} rows; split it into smaller files."
            )
    if header is None:
        raise ImportFileError("The file is empty: it needs a header row and one row per event.")
    return header, data


def too_large(limit: int) -> FileTooLargeError:
    """Return the refusal of a file of more than limit bytes."""
    return FileTooLargeError(
        f"The file is larger than {limit / MEGABYTE:g} MB, the most the import takes. "
        "Split it into smaller files."
    )


def check_size(size: int, limit: int) -> None:
    """Refuse a file of more bytes than the import takes."""
    if size > limit:
        raise too_large(limit)


def decode_csv(content: bytes) -> str:
    """Return a CSV file's text: UTF-8, UTF-16 (with or without a byte-order mark) or cp1252."""
    encoding = _utf16_encoding(content)
    if encoding is not None:
        try:
            return content.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                f"This file looks like UTF-16 text but cannot be read as such ({exc.reason} at "
                f"byte {exc.start:,}); save it as CSV UTF-8 and try again."
            ) from exc
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode(FALLBACK_ENCODING, errors="replace")


def _utf16_encoding(content: bytes) -> str | None:
    """Return the UTF-16 variant of a file by its byte-order mark or NUL bytes, or None."""
    for bom, encoding in UTF16_BOMS:
        if content.startswith(bom):
            return encoding
    head = content[:NUL_SNIFF_BYTES]
    if len(head) < 2 or b"\0" not in head:
        return None
    # ASCII text in UTF-16 has a NUL in every other byte: the odd ones (LE) or the even ones (BE).
    even, odd = head[0::2], head[1::2]
    if odd.count(0) >= len(odd) * 0.9 and even.count(0) < len(even) * 0.1:
        return "utf-16-le"
    if even.count(0) >= len(even) * 0.9 and odd.count(0) < len(odd) * 0.1:
        return "utf-16-be"
    return None


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """Yield the records of a CSV file, numbered as a spreadsheet shows them."""
    text = decode_csv(content)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise UnreadableFileError(f"The file cannot be read as CSV: {exc}.") from exc


def check_workbook(content: bytes) -> None:
    """Refuse a workbook whose parts unpack to more than an import reads, before parsing it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = "it is not a zip archive, as every .xlsx file is"
        raise UnreadableFileError(NOT_A_WORKBOOK.format(reason=reason)) from exc
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            raise FileTooLargeError(
                f"This workbook holds {len(parts):,} parts; the import reads workbooks of up to "
                f"{MAX_PARTS:,}. Export the sheet as CSV UTF-8 and import that."
            )
        for part in parts:
            if part.file_size > MAX_PART_BYTES:
                raise FileTooLargeError(_unpacks_to(part.filename, part.file_size, MAX_PART_BYTES))
        total = sum(part.file_size for part in parts)
        if total > MAX_UNPACKED_BYTES:
            raise FileTooLargeError(_unpacks_to("The workbook", total, MAX_UNPACKED_BYTES))
        strings = _shared_strings_part(archive)
        if strings is not None and strings.file_size > MAX_SHARED_STRINGS_BYTES:
            raise FileTooLargeError(
                _unpacks_to(
                    f"Its shared text ({strings.filename})",
                    strings.file_size,
                    MAX_SHARED_STRINGS_BYTES,
                )
            )


def _unpacks_to(what: str, size: int, limit: int) -> str:
    """Return the refusal of a part, or a whole workbook, that unpacks to too many bytes."""
    return (
        f"This workbook is too large to import: {what} unpacks to {size / MEGABYTE:,.0f} MB, "
        f"more than the {limit // MEGABYTE} MB the import reads. Export the sheet as CSV UTF-8, "
        "or split it into smaller files."
    )


def _shared_strings_part(archive: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """Return the part holding a workbook's shared strings, as its content types name it."""
    names = {part.filename: part for part in archive.infolist()}
    found = [name for name in names if name.lower().endswith("sharedstrings.xml")]
    types = names.get(CONTENT_TYPES_PART)
    if types is not None and types.file_size <= MAX_SHARED_STRINGS_BYTES:
        try:
            text = archive.read(types).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            reason = f"its part {CONTENT_TYPES_PART} is damaged ({exc})"
            raise UnreadableFileError(NOT_A_WORKBOOK.format(reason=reason)) from exc
        found = [match.group(1) for match in SHARED_STRINGS_PART.finditer(text)] + found
    parts = [names[name] for name in found if name in names]
    return max(parts, key=lambda part: part.file_size, default=None)


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """Yield the rows of a workbook's first sheet as text, numbered as Excel shows them."""
    check_workbook(content)
    part = "the workbook"
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        reason = _damaged_xml(content) if isinstance(exc, ParseError) else None
        reason = reason or _reason(exc, part)
        raise UnreadableFileError(NOT_A_WORKBOOK.format(reason=reason)) from exc
    try:
        if not workbook.worksheets:
            raise UnreadableFileError(NOT_A_WORKBOOK.format(reason="it has no sheet"))
        sheet = workbook.worksheets[0]
        part = getattr(sheet, "_worksheet_path", "its first sheet")
        _check_dimension(sheet)
        # The declared size was only a bound: rows are read as they are, up to MAX_COLUMNS wide.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        rows = sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        for number, values in enumerate(rows, start=1):
            if number > EXCEL_MAX_ROWS:
                reason = f"{part} has rows past Excel's last row, {EXCEL_MAX_ROWS:,}"
                raise UnreadableFileError(NOT_A_WORKBOOK.format(reason=reason))
            if any(value is not None for value in values):
                yield number, [_cell_text(value) for value in values]
    except ImportFileError:
        raise
    except Exception as exc:  # a damaged part only shows when openpyxl reaches it
        raise UnreadableFileError(NOT_A_WORKBOOK.format(reason=_reason(exc, part))) from exc
    finally:
        workbook.close()


def _check_dimension(sheet: Any) -> None:
    """Refuse a sheet that declares more rows, columns or cells than an import reads."""
    rows, columns = int(sheet.max_row or 0), int(sheet.max_column or 0)
    if rows <= MAX_SHEET_ROWS and columns <= MAX_COLUMNS and rows * columns <= MAX_CELLS:
        return
    raise FileTooLargeError(
        f"The sheet declares {rows:,} rows and {columns:,} columns "
        f"({sheet.calculate_dimension()}); the import reads at most {MAX_SHEET_ROWS:,} rows, "
        f"{MAX_COLUMNS} columns and {MAX_CELLS:,} cells. Delete the empty rows and columns "
        "after your data (or export the sheet as CSV UTF-8) and try again."
    )


def _damaged_xml(content: bytes) -> str | None:
    """Return which XML part of a workbook is damaged and how, or None (sizes checked before)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if not name.lower().endswith((".xml", ".rels")):
                continue
            try:
                with archive.open(name) as part:
                    for _event, element in iterparse(part):
                        element.clear()
            except ParseError as exc:
                return f"{name} is damaged XML ({exc})"
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                return f"{name} cannot be unpacked ({exc})"
    return None


def _reason(exc: Exception, part: str) -> str:
    """Return what is wrong with a workbook, in a few words."""
    if isinstance(exc, ParseError | SyntaxError):
        return f"{part} is damaged XML ({exc})"
    if isinstance(exc, zipfile.BadZipFile | EOFError | OSError):
        return f"{part} cannot be unpacked ({exc})"
    if isinstance(exc, KeyError):
        return f"a part it refers to is missing ({exc})"
    return f"{part} cannot be read ({type(exc).__name__}: {exc})"


def _cell_text(value: object) -> str:
    """Return a spreadsheet cell's value as the text a person would have typed."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == clock_time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, clock_time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
    store: EventStore,
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

    _place(candidates, report, progress)
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


def _place(candidates: list[_Candidate], report: ImportReport, progress: Progress | None) -> None:
    """Give rows with a place their coordinates and time zone, asking once per distinct place."""
    answers: dict[tuple[str, ...], Any] = {}
    for candidate in _track(candidates, progress, "Placing events"):
        event = candidate.event
        if event["format"] != "online" and not event["latitude"]:
            query = tuple(event[name] for name in ("address", "city", "region", "country"))
            if query not in answers:
                address, city, region, country = query
                answers[query] = locate(address=address, city=city, region=region, country=country)
            result = answers[query]
            best = result.best if result.status == "found" else None
            if best is None:
                place = ", ".join(part for part in query if part) or "no place given"
                report.warnings.append(
                    RowNote(
                        candidate.row,
                        f"We could not place {place!r} on the map; the event is imported without "
                        "a location, for a coordinator to place.",
                    )
                )
            else:
                event["latitude"] = format_coordinate(best.latitude)
                event["longitude"] = format_coordinate(best.longitude)
                event["location_precision"] = best.precision
                event["location_source"] = best.source
                if not event["timezone"] and is_known_timezone(best.timezone or ""):
                    event["timezone"] = best.timezone
        if not event["timezone"] and event["latitude"]:
            event["timezone"] = timezone_at(float(event["latitude"]), float(event["longitude"]))
        if not event["timezone"]:
            report.warnings.append(
                RowNote(candidate.row, "No time zone given: the times are taken as UTC.")
            )


def _track(items: list[T], progress: Progress | None, description: str) -> Iterable[T]:
    """Return the items, wrapped in a progress bar when one is given."""
    return progress(items, len(items), description) if progress else items
