"""The Excel export: a labelled, typed sheet (xlsxwriter), for people who sort and filter it.

Codes become their labels (category, format, status, precision, country, with the codes kept in
columns of their own), times are date cells and coordinates numbers; the header is frozen, the
columns have widths and an autofilter. Text is written as string cells, which Excel shows as they
are and never evaluates, so a title starting with = needs no leading quote.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
import xlsxwriter
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from mapapp.events import (
    CATEGORIES,
    FIELD_LABELS,
    LOCATION_PRECISIONS,
    STATUSES,
    country_name,
)
from mapapp.events import FORMATS as EVENT_FORMATS

# Coordinates are stored as validated plain decimals; a leading minus there is a sign, not a
# formula, so they stay numbers a spreadsheet can sort and map.
PLAIN_DECIMAL = re.compile(r"^-?\d{1,3}(\.\d+)?$")
# Cell kinds by field (others are text), labels instead of codes (with the codes
# in a column of their own where people filter or join on them), and the UTC times marked so.
SHEET_NAME = "Events"
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
SHEET_LABEL_SUFFIXES = {"created_at": " (UTC)", "updated_at": " (UTC)"}
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
    converters: list[tuple[str, Callable[[str], CellValue]]] = []
    for name in frame.columns:
        kind = SHEET_KINDS.get(str(name), "text")
        label = FIELD_LABELS.get(str(name), str(name)) + SHEET_LABEL_SUFFIXES.get(str(name), "")
        converters.append((str(name), _converter(str(name), kind)))
        columns.append(SheetColumn(label, kind, _width(frame[name], label, kind)))
        if name in SHEET_CODE_COLUMNS:
            code_label = FIELD_LABELS[str(name)] + " code"
            converters.append((str(name), _as_text))
            columns.append(SheetColumn(code_label, "text", _width(frame[name], code_label, "text")))
    # The stored strings column by column (a pandas column's tolist() is much cheaper than its
    # values one by one), each row's cells converted as it is written.
    values = [frame[name].tolist() for name, _ in converters]
    convert = [convert for _, convert in converters]

    def rows() -> Iterator[list[CellValue]]:
        for row in zip(*values, strict=True):
            yield [to_cell(value) for to_cell, value in zip(convert, row, strict=True)]

    return columns, rows()


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
    writers = [_xlsx_writer(sheet, column.kind, formats) for column in columns]
    count = 0
    for count, row in enumerate(rows, start=1):
        for position, value in enumerate(row):
            if value is not None:
                writers[position](count, position, value)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(count, 1), max(len(columns) - 1, 0))
    workbook.close()
    return buffer.getvalue()


def _xlsx_writer(
    sheet: Any, kind: str, formats: dict[str, Any]
) -> Callable[[int, int, Any], object]:
    """Return the xlsxwriter call that writes one kind of cell."""
    if kind == "datetime":
        return lambda row, column, value: sheet.write_datetime(
            row, column, value, formats["datetime"]
        )
    if kind == "number":
        return lambda row, column, value: sheet.write_number(row, column, value, formats["number"])
    if kind == "boolean":
        return sheet.write_boolean  # type: ignore[no-any-return]
    return sheet.write_string  # type: ignore[no-any-return]


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
    return moment.replace(tzinfo=None)


def _width(values: pd.Series, label: str, kind: str) -> float:
    """Return a column's width in characters: its header or longest value, within bounds."""
    if kind == "datetime":
        return max(len(label), DATETIME_WIDTH) + WIDTH_PADDING
    longest = int(values.str.len().max()) if len(values) else 0
    return float(min(max(len(label), longest, MIN_WIDTH), MAX_WIDTH) + WIDTH_PADDING)
