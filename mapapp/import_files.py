"""Read a partner's CSV or XLSX file into its header and numbered rows; refuse what is unsafe.

A CSV file is decoded as UTF-8, UTF-16 (with or without a byte-order mark) or cp1252. A workbook
is checked with zipfile before openpyxl parses it (part count, unpacked sizes, shared strings,
declared sheet size), so that no small file can pin a worker. Rows are numbered as a spreadsheet
shows them (the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import PurePath
from typing import Any
from xml.etree.ElementTree import ParseError, iterparse

from openpyxl import load_workbook

MAX_ROWS = 100_000
FIRST_DATA_ROW = 2  # the header is row 1, as a spreadsheet numbers them
SUFFIXES = (".csv", ".xlsx")
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


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do."""


class UnreadableFileError(ImportFileError):
    """The file is damaged or in an encoding we cannot read."""


class FileTooLargeError(ImportFileError):
    """The file, or what it unpacks to, is larger than an import takes."""


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
