"""Bulk import of a partner's list (CSV or XLSX): check each row, geocode, skip duplicates.

Every row is checked with the submission form's own rules (mapapp.import_rules, which uses
mapapp.submission_rules), and must be in the importing coordinator's scope. A bad row is reported
with its spreadsheet row number (the header is row 1), its title and every reason, and never
blocks the good ones; a refused row's place is looked up too, so that an unknown town is said at
once ("We could not find 'Zurch' in Switzerland."). Rows that cannot be placed on the map are
still imported, without a location, and reported as warnings. Importing the same file twice adds
nothing: each row's fingerprint (folded title, start day, country, city and organiser) is checked
against the store and the rows before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar, cast

import pandas as pd

from mapapp.access import Scope, ScopedEvents
from mapapp.events import format_coordinate, is_known_timezone, normalise_text
from mapapp.filters import fold
from mapapp.geocoding import GeocodeResult, locate, timezone_at
from mapapp.i18n import N_, _, ngettext

# Reading the file is import_files' job, the columns import_columns' and each row's rules
# import_rules'; these names are re-exported ("x as x") because callers and tests use them here.
from mapapp.import_columns import COLUMN_SYNONYMS as COLUMN_SYNONYMS
from mapapp.import_columns import fold_header as fold_header
from mapapp.import_columns import map_columns
from mapapp.import_files import MAX_SHARED_STRINGS_BYTES as MAX_SHARED_STRINGS_BYTES
from mapapp.import_files import FileTooLargeError as FileTooLargeError
from mapapp.import_files import ImportFileError as ImportFileError
from mapapp.import_files import UnreadableFileError as UnreadableFileError
from mapapp.import_files import check_size as check_size
from mapapp.import_files import read_table
from mapapp.import_files import too_large as too_large
from mapapp.import_rules import IMPORT_SOURCE as IMPORT_SOURCE
from mapapp.import_rules import check_row, ended_warning, place_query, row_to_event
from mapapp.import_rules import country_code as country_code
from mapapp.import_rules import parse_moment as parse_moment
from mapapp.placing import settled_timezone_errors, unplaced_timezone
from mapapp.storage import Audit, Store

BATCH_SIZE = 1000
IMPORT_STATUSES = ("pending", "approved")
# What the report says of each row (translated as the report is made: English on the CLI).
# Translators: "Time zone" is the name of a column of the import's file; keep it in English.
ZONE_COLUMN_HINT = N_("Add it in a Time zone column.")
# Translators: an imported row became an event.
ADDED_MESSAGE = N_("Added.")
# Translators: in a trial import, this row would become an event.
WOULD_ADD_MESSAGE = N_("Would be added.")
UNPLACED_MESSAGE = N_(
    "We could not place '%(place)s' on the map; the event is imported without a location, for "
    "a coordinator to place."
)
UNPLACED_ZONE_MESSAGE = N_(
    "We could not place '%(place)s' on the map, so its time zone is not known."
)
COUNTRY_ONLY_MESSAGE = N_(
    "We found only the country of '%(place)s', so the event is placed in the middle of it; a "
    "coordinator should move the pin to the right place."
)
# Translators: %(given)s and %(point)s are time zone names such as Europe/Paris.
ZONE_REPLACED_MESSAGE = N_(
    "The time zone %(given)s was replaced by %(point)s, the time zone of the event's place."
)
# Translators: the place of an imported row that names none.
NO_PLACE = N_("no place given")

T = TypeVar("T")
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]
Query = tuple[str, str, str, str]


@dataclass(frozen=True)
class RowNote:
    """Something to tell about one row of the file: its spreadsheet row number and title.

    event_id is the event the row became, or the stored event it repeats.
    """

    row: int
    message: str
    title: str = ""
    event_id: str = ""


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    rows: int = 0
    added: list[dict[str, str]] = field(default_factory=list)
    added_rows: list[RowNote] = field(default_factory=list)
    rejected: list[RowNote] = field(default_factory=list)
    duplicates: list[RowNote] = field(default_factory=list)
    warnings: list[RowNote] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Return one sentence that says what happened, in the interface language."""
        # The counts are plain numbers, as the report's tables show them.
        rows = ngettext("%(num)s row", "%(num)s rows", self.rows, num=self.rows)
        count = len(self.warnings)
        warnings = ngettext("%(num)s warning", "%(num)s warnings", count, num=count)
        values = {
            "rows": rows,
            "added": len(self.added),
            "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
            "warnings": warnings,
        }
        if self.dry_run:
            # Translators: a trial import's summary; %(rows)s is "11 rows", %(warnings)s is
            # "1 warning" (both from their own plural messages), the others are numbers of rows.
            return _(
                "Read %(rows)s: would add %(added)s, skipped %(duplicates)s already on the map, "
                "rejected %(rejected)s, %(warnings)s.",
                **values,
            )
        # Translators: an import's summary; %(rows)s is "11 rows", %(warnings)s is "1 warning"
        # (both from their own plural messages), the others are numbers of rows.
        return _(
            "Read %(rows)s: added %(added)s, skipped %(duplicates)s already on the map, "
            "rejected %(rejected)s, %(warnings)s.",
            **values,
        )


@dataclass
class _Candidate:
    """A row that passed the checks, waiting to be placed and written."""

    row: int
    event: dict[str, str]


@dataclass
class _Refused:
    """A row refused by the checks: its number, what it said, and every reason."""

    row: int
    event: dict[str, str]
    errors: dict[str, str]


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
    store: ScopedEvents | Store,
    *,
    status: str = "pending",
    dry_run: bool = False,
    progress: Progress | None = None,
    who: str = "cli",
    today: date | None = None,
) -> ImportReport:
    """Import the events of a CSV or XLSX file into the store and report row by row.

    A bare store (scripts, tests) is used with the system's scope; coordinators' imports pass
    their `access.events()`.
    """
    if status not in IMPORT_STATUSES:
        raise ImportFileError(
            _("Imported events are pending or approved, not '%(status)s'.", status=status)
        )
    events = store if isinstance(store, ScopedEvents) else ScopedEvents(store, Scope.system(who))
    report = ImportReport(dry_run=dry_run)
    clock = time.perf_counter()

    header, rows = read_table(content, filename)
    mapping, report.ignored_columns = map_columns(header)
    report.columns = {name: header[position] for name, position in mapping.items()}
    report.rows = len(rows)
    report.seconds["read"] = time.perf_counter() - clock
    clock = time.perf_counter()

    seen = store_fingerprints(events.frame())
    candidates: list[_Candidate] = []
    refused: list[_Refused] = []
    rows_seen: dict[str, int] = {}
    for number, cells in _track(rows, progress, "Checking rows"):
        event, problems = row_to_event(cells, mapping, status=status)
        checked, errors = check_row(event, problems, events.scope, today=today)
        if checked is None:
            refused.append(_Refused(number, event, errors))
            continue
        key = fingerprint(checked)
        title = checked["title"]
        if key in seen:
            message = _("Already on the map as event %(id)s; skipped.", id=seen[key])
            report.duplicates.append(RowNote(number, message, title, seen[key]))
        elif key in rows_seen:
            message = _("The same event as row %(row)s; skipped.", row=rows_seen[key])
            report.duplicates.append(RowNote(number, message, title))
        else:
            rows_seen[key] = number
            candidates.append(_Candidate(number, checked))
    report.seconds["validate"] = time.perf_counter() - clock
    clock = time.perf_counter()

    answers: dict[Query, GeocodeResult] = {}  # one question per distinct place, for all rows
    candidates = _place(candidates, report, progress, answers)
    _refuse(refused, report, answers)
    for candidate in candidates:  # in each row's zone, known once placed
        if warning := ended_warning(candidate.event):
            report.warnings.append(RowNote(candidate.row, warning, candidate.event["title"]))
    report.rejected.sort(key=lambda note: note.row)
    report.seconds["geocode"] = time.perf_counter() - clock
    clock = time.perf_counter()

    if dry_run:
        report.added = [candidate.event for candidate in candidates]
        report.added_rows = [
            RowNote(candidate.row, _(WOULD_ADD_MESSAGE), candidate.event["title"])
            for candidate in candidates
        ]
    else:
        for start in range(0, len(candidates), BATCH_SIZE):
            _write(candidates[start : start + BATCH_SIZE], events, report, who)
        report.duplicates.sort(key=lambda note: note.row)
    report.seconds["write"] = time.perf_counter() - clock
    report.warnings.sort(key=lambda note: note.row)
    return report


def _write(batch: list[_Candidate], events: ScopedEvents, report: ImportReport, who: str) -> None:
    """Store a batch of rows and report each as added or as added meanwhile by another import."""
    # Checked again under the store's lock: another import may have added the same rows.
    added = events.add_many(
        [candidate.event for candidate in batch],
        audit=Audit(who, "import"),
        unless_stored=fingerprint,
    )
    report.added.extend(added)
    added_ids = {fingerprint(event): event["id"] for event in added}
    for candidate in batch:
        title = candidate.event["title"]
        event_id = added_ids.get(fingerprint(candidate.event))
        if event_id is None:
            message = _("Added by another import meanwhile; skipped.")
            report.duplicates.append(RowNote(candidate.row, message, title))
        else:
            report.added_rows.append(RowNote(candidate.row, _(ADDED_MESSAGE), title, event_id))


def _lookup(query: Query, answers: dict[Query, GeocodeResult]) -> GeocodeResult:
    """Return the geocoder's answer for a place, asking once per distinct place."""
    if query not in answers:
        address, city, region, country = query
        answers[query] = locate(address=address, city=city, region=region, country=country)
    return answers[query]


def _place(
    candidates: list[_Candidate],
    report: ImportReport,
    progress: Progress | None,
    answers: dict[Query, GeocodeResult],
) -> list[_Candidate]:
    """Give rows with a place their coordinates and time zone.

    A placed row takes its place's zone; one without a place the zone given, else its country's
    only zone. A row left without a zone is rejected; the rows kept are returned.
    """
    kept: list[_Candidate] = []
    for candidate in _track(candidates, progress, "Placing events"):
        event, title = candidate.event, candidate.event["title"]
        unplaced: RowNote | None = None
        place = ""
        if event["format"] != "online" and not event["latitude"]:
            query = place_query(event)
            result = _lookup(query, answers)
            best = result.best if result.status == "found" else None
            place = ", ".join(part for part in query if part) or _(NO_PLACE)
            if best is None:
                unplaced = RowNote(candidate.row, _(UNPLACED_MESSAGE, place=place), title)
            else:
                event["latitude"] = format_coordinate(best.latitude)
                event["longitude"] = format_coordinate(best.longitude)
                event["location_precision"] = best.precision
                event["location_source"] = best.source
                if best.precision == "country":
                    message = _(COUNTRY_ONLY_MESSAGE, place=place)
                    report.warnings.append(RowNote(candidate.row, message, title))
        given = event["timezone"]
        if event["latitude"]:
            point = timezone_at(float(event["latitude"]), float(event["longitude"]))
            if not is_known_timezone(point):
                point = unplaced_timezone(event)
            event["timezone"] = point
            if given and point and point != given:
                message = _(ZONE_REPLACED_MESSAGE, given=given, point=point)
                report.warnings.append(RowNote(candidate.row, message, title))
        else:
            event["timezone"] = unplaced_timezone(event)
        if errors := settled_timezone_errors(event, given):
            if "timezone" not in errors:  # a start or end the clocks jump over
                report.rejected.append(RowNote(candidate.row, " ".join(errors.values()), title))
                continue
            # Sentences that each stand alone, one after the other.
            message = errors["timezone"] if given else f"{errors['timezone']} {_(ZONE_COLUMN_HINT)}"
            if unplaced is not None:
                message = f"{_(UNPLACED_ZONE_MESSAGE, place=place)} {message}"
            report.rejected.append(RowNote(candidate.row, message, title))
            continue
        if unplaced is not None:
            report.warnings.append(unplaced)
        kept.append(candidate)
    return kept


def _refuse(
    refused: list[_Refused], report: ImportReport, answers: dict[Query, GeocodeResult]
) -> None:
    """Report refused rows with every reason, the geocoder's too when their place is unknown.

    The place is looked up when the row names a town or an address in a country we know and no
    coordinates: through the same answers as the good rows, so a place asked for twice costs one.
    """
    for row in refused:
        reasons = list(dict.fromkeys(row.errors.values()))
        event = row.event
        named = event.get("city") or event.get("address")
        if named and event.get("format") != "online" and not event.get("latitude"):
            if not {"country", "city", "address"} & row.errors.keys() and event.get("country"):
                result = _lookup(place_query(event), answers)
                if result.status == "not_found" and result.message:
                    reasons.append(result.message)
        title = normalise_text(event.get("title", ""))
        report.rejected.append(RowNote(row.row, " ".join(reasons), title))


def _track(items: list[T], progress: Progress | None, description: str) -> Iterable[T]:
    """Return the items, wrapped in a progress bar when one is given."""
    return progress(items, len(items), description) if progress else items
