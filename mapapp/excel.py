"""The Excel export: a labelled, typed sheet (xlsxwriter), for people who sort and filter it.

Codes become their labels (category, format, status, precision, country, with the codes kept in
columns of their own), times are date cells (start and end in the event's local time, and again
in UTC) and coordinates numbers; the header is frozen, the columns have widths and an autofilter.
Text is written as (inline) string cells, which Excel and LibreOffice show as they are and never
evaluate, so a title starting with = needs no leading quote and the sheet holds no formula
(tests/test_exports_libreoffice.py reads it back in LibreOffice). A stored value a cell kind cannot
hold (a hand-edited "n/a" latitude) is written as the text it is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd
import xlsxwriter
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from mapapp.events import (
    CATEGORIES,
    FIELD_LABELS,
    LOCATION_PRECISIONS,
    STATUSES,
    country_name,
    is_known_timezone,
    zone,
)
from mapapp.events import FORMATS as EVENT_FORMATS

# Coordinates are stored as validated plain decimals; a leading minus there is a sign, not a
# formula, so they stay numbers a spreadsheet can sort and map.
PLAIN_DECIMAL = re.compile(r"^-?\d{1,3}(\.\d+)?$")
# Cell kinds by field (others are text), labels instead of codes (with the codes
# in a column of their own where people filter or join on them), and the UTC times marked so.
SHEET_NAME = "Events"
# The sheet's layout (columns and cell kinds), bumped when it changes: see exports.ExportFormat.
# 2: issue 12, with Start (UTC) and End (UTC).
SHEET_LAYOUT = "2"
SHEET_KINDS = {
    "starts_at": "datetime",
    "ends_at": "datetime",
    "created_at": "datetime",
    "updated_at": "datetime",
    "latitude": "number",
    "longitude": "number",
    "is_sample": "boolean",
}
SHEET_LABELS: dict[str, Callable[[str], str]] = {
    "status": lambda code: STATUSES.get(code, code),
    "category": lambda code: CATEGORIES.get(code, code),
    "format": lambda code: EVENT_FORMATS.get(code, code),
    "location_precision": lambda code: LOCATION_PRECISIONS.get(code, code),
    "country": country_name,
}
SHEET_CODE_COLUMNS = frozenset({"category", "format", "country"})
UTC_SUFFIX = " (UTC)"
SHEET_LABEL_SUFFIXES = {"created_at": UTC_SUFFIX, "updated_at": UTC_SUFFIX}
# Start and end are stored as local wall times with the event's zone; after the zone's column
# come the same moments in UTC, so that events of several zones sort and compare in one column.
UTC_COLUMNS_AFTER = "timezone"
UTC_COLUMNS = ("starts_at", "ends_at")
DATETIME_NUMBER_FORMAT = "yyyy-mm-dd hh:mm"
COORDINATE_NUMBER_FORMAT = "0.000000"
DATETIME_WIDTH = 16
MIN_WIDTH, MAX_WIDTH, WIDTH_PADDING = 6, 60, 2

CellValue = str | float | bool | datetime | None


class SheetColumn(NamedTuple):
    """A column of the Excel sheet: its header, the kind of its cells and its width."""

    label: str
    kind: str  # text, number, datetime or boolean
    width: float


def xlsx_sheet(frame: pd.DataFrame) -> tuple[list[SheetColumn], Iterator[list[CellValue]]]:
    """Return the columns of the labelled sheet and its rows of typed values (None: empty).

    Codes become their labels (category, format, status, precision, country, with the codes
    kept in columns of their own), times become datetimes, coordinates numbers.
    """
    columns: list[SheetColumn] = []
    # The stored strings column by column (a pandas column's tolist() is much cheaper than its
    # values one by one), each row's cells converted as it is written.
    values: list[list[Any]] = []
    convert: list[Callable[[Any], CellValue]] = []
    for name in (str(name) for name in frame.columns):
        kind = SHEET_KINDS.get(name, "text")
        label = FIELD_LABELS.get(name, name) + SHEET_LABEL_SUFFIXES.get(name, "")
        values.append(frame[name].tolist())
        convert.append(_converter(name, kind))
        shown = frame[name]
        if name in SHEET_LABELS:  # the width of what the cells show: labels, not codes
            shown = pd.Series([SHEET_LABELS[name](code) for code in shown.unique()], dtype=str)
        columns.append(SheetColumn(label, kind, _width(shown, label, kind)))
        if name in SHEET_CODE_COLUMNS:
            code_label = FIELD_LABELS[name] + " code"
            values.append(values[-1])
            convert.append(_as_text)
            columns.append(SheetColumn(code_label, "text", _width(frame[name], code_label, "text")))
        if name == UTC_COLUMNS_AFTER:
            for local in (local for local in UTC_COLUMNS if local in frame.columns):
                utc_label = FIELD_LABELS[local] + UTC_SUFFIX
                values.append(utc_times(frame[local].tolist(), frame[name].tolist()))
                convert.append(_as_is)
                columns.append(
                    SheetColumn(utc_label, "datetime", _width(frame[local], utc_label, "datetime"))
                )

    def rows() -> Iterator[list[CellValue]]:
        for row in zip(*values, strict=True):
            yield [to_cell(value) for to_cell, value in zip(convert, row, strict=True)]

    return columns, rows()


def utc_times(local_times: list[str], zones: list[str]) -> list[datetime | None]:
    """Return stored local wall times as naive UTC datetimes (None: no time, or no known zone)."""
    moments: list[datetime | None] = []
    # Each zone once: ZoneInfo keeps only a few zones it is not handed back, and reading one
    # from disk again for each event cost a third of the workbook's time at 20,000 events.
    known: dict[str, ZoneInfo | None] = {}
    for value, name in zip(local_times, zones, strict=True):
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            moments.append(None)
            continue
        if local.tzinfo is None:
            if name not in known:
                known[name] = zone(name) if not name or is_known_timezone(name) else None
            if (tz := known[name]) is None:
                moments.append(None)
                continue
            local = local.replace(tzinfo=tz)  # fold 0: the first of a repeated hour
        moments.append(local.astimezone(UTC).replace(tzinfo=None))
    return moments


def render_xlsx(frame: pd.DataFrame, base_url: str = "") -> bytes:
    """Return the events as a labelled, typed workbook: real dates and numbers, text never run.

    xlsxwriter in constant_memory mode, chosen by measurement (benchmarks/bench_exports.py).
    Text is written as string cells, so a value starting with = is shown, never evaluated, and
    needs no leading quote.
    """
    columns, rows = xlsx_sheet(frame)
    buffer = io.BytesIO()
    # constant_memory flushes each row to a temporary file (in_memory would override it).
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_formulas": False})
    sheet = workbook.add_worksheet(SHEET_NAME)
    formats = {
        "datetime": workbook.add_format({"num_format": DATETIME_NUMBER_FORMAT}),
        "number": workbook.add_format({"num_format": COORDINATE_NUMBER_FORMAT}),
    }
    header = workbook.add_format({"bold": True})
    for position, column in enumerate(columns):
        sheet.set_column(position, position, column.width)
        sheet.write_string(0, position, column.label, header)
    # Each cell is written by its value's type, not its column's: a stored value a number or date
    # column cannot hold ("n/a" as a latitude, by hand) is converted to text and written as such.
    writers = _xlsx_writers(sheet, formats)
    count = 0
    for count, row in enumerate(rows, start=1):
        for position, value in enumerate(row):
            if value is not None:
                writers[type(value)](count, position, value)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(count, 1), max(len(columns) - 1, 0))
    workbook.close()
    return buffer.getvalue()


def _xlsx_writers(
    sheet: Any, formats: dict[str, Any]
) -> dict[type, Callable[[int, int, Any], object]]:
    """Return the xlsxwriter call that writes a cell value, by the value's type."""
    return {
        str: sheet.write_string,
        bool: sheet.write_boolean,
        float: lambda row, column, value: sheet.write_number(row, column, value, formats["number"]),
        datetime: lambda row, column, value: sheet.write_datetime(
            row, column, value, formats["datetime"]
        ),
    }


def _converter(name: str, kind: str) -> Callable[[str], CellValue]:
    """Return the function that turns a stored value of a column into its cell value."""
    if name in SHEET_LABELS:
        labels = SHEET_LABELS[name]
        return lambda value: _as_text(labels(value)) if value else None
    if kind == "datetime":
        return _as_datetime
    if kind == "number":
        return lambda value: float(value) if PLAIN_DECIMAL.match(value) else _as_text(value)
    if kind == "boolean":
        return lambda value: {"true": True, "false": False}.get(value) if value else None
    return _as_text


def _as_is(value: CellValue) -> CellValue:
    """Return a value already converted to its cell value."""
    return value


def _as_text(value: str) -> str | None:
    """Return a stored text as a cell value, without characters XML cannot hold."""
    # XML readers turn a CR into LF anyway; xlsxwriter would write it as _x000D_.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return ILLEGAL_CHARACTERS_RE.sub("", value) or None


def _as_datetime(value: str) -> CellValue:
    """Return a stored time (local, or UTC with Z) as a naive datetime, or as text if unreadable."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _as_text(value)
    if moment.tzinfo is not None:  # the store writes Z; any other offset is read as what it says
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


def _width(values: pd.Series, label: str, kind: str) -> float:
    """Return a column's width in characters: its header or longest value, within bounds."""
    if kind == "datetime":
        return max(len(label), DATETIME_WIDTH) + WIDTH_PADDING
    longest = int(values.str.len().max()) if len(values) else 0
    return float(min(max(len(label), longest, MIN_WIDTH), MAX_WIDTH) + WIDTH_PADDING)
