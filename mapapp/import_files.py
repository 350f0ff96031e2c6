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

from mapapp.i18n import N_, _, format_number

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
# Translators: %(reason)s is one of the reasons below, such as "it has no sheet".
NOT_A_WORKBOOK = N_(
    "This file is not a readable Excel workbook: %(reason)s. Save it again from your "
    "spreadsheet program (as .xlsx), or export it as CSV UTF-8."
)
# Translators: the messages below say a workbook unpacks to too many megabytes; the first names
# one of its parts by its path in the file (such as xl/worksheets/sheet1.xml).
PART_UNPACKS_TO = N_(
    "This workbook is too large to import: %(part)s unpacks to %(size)s MB, more than the "
    "%(limit)s MB the import reads. Export the sheet as CSV UTF-8, or split it into smaller files."
)
WORKBOOK_UNPACKS_TO = N_(
    "This workbook is too large to import: The workbook unpacks to %(size)s MB, more than the "
    "%(limit)s MB the import reads. Export the sheet as CSV UTF-8, or split it into smaller files."
)
SHARED_TEXT_UNPACKS_TO = N_(
    "This workbook is too large to import: Its shared text (%(part)s) unpacks to %(size)s MB, "
    "more than the %(limit)s MB the import reads. Export the sheet as CSV UTF-8, or split it "
    "into smaller files."
)
# Translators: the parts of a workbook that a reason below may name as %(part)s, when the
# workbook does not give the part's path.
THE_WORKBOOK = N_("the workbook")
FIRST_SHEET = N_("its first sheet")


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
        if name := PurePath(filename).name:
            message = _(
                "%(name)s is not a CSV or Excel (.xlsx) file. Save the spreadsheet as .csv or "
                ".xlsx and try again.",
                name=name,
            )
        else:
            message = _(
                "The file is not a CSV or Excel (.xlsx) file. Save the spreadsheet as .csv or "
                ".xlsx and try again."
            )
        raise ImportFileError(message)
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
                _(
                    "The file has more than %(rows)s rows; split it into smaller files.",
                    rows=format_number(MAX_ROWS),
                )
            )
    if header is None:
        raise ImportFileError(_("The file is empty: it needs a header row and one row per event."))
    return header, data


def too_large(limit: int) -> FileTooLargeError:
    """Return the refusal of a file of more than limit bytes."""
    return FileTooLargeError(
        _(
            "The file is larger than %(size)s MB, the most the import takes. Split it into "
            "smaller files.",
            size=format_number(limit / MEGABYTE),
        )
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
            # Translators: %(reason)s is Python's own words for the problem (English).
            message = _(
                "This file looks like UTF-16 text but cannot be read as such (%(reason)s at "
                "byte %(byte)s); save it as CSV UTF-8 and try again.",
                reason=exc.reason,
                byte=format_number(exc.start),
            )
            raise UnreadableFileError(message) from exc
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
        # Translators: %(problem)s is the CSV reader's own words (English).
        message = _("The file cannot be read as CSV: %(problem)s.", problem=str(exc))
        raise UnreadableFileError(message) from exc


def check_workbook(content: bytes) -> None:
    """Refuse a workbook whose parts unpack to more than an import reads, before parsing it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = _("it is not a zip archive, as every .xlsx file is")
        raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=reason)) from exc
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            message = _(
                "This workbook holds %(parts)s parts; the import reads workbooks of up to "
                "%(limit)s. Export the sheet as CSV UTF-8 and import that.",
                parts=format_number(len(parts)),
                limit=format_number(MAX_PARTS),
            )
            raise FileTooLargeError(message)
        for part in parts:
            if part.file_size > MAX_PART_BYTES:
                raise FileTooLargeError(
                    _unpacks_to(PART_UNPACKS_TO, part.file_size, MAX_PART_BYTES, part.filename)
                )
        total = sum(part.file_size for part in parts)
        if total > MAX_UNPACKED_BYTES:
            raise FileTooLargeError(_unpacks_to(WORKBOOK_UNPACKS_TO, total, MAX_UNPACKED_BYTES))
        strings = _shared_strings_part(archive)
        if strings is not None and strings.file_size > MAX_SHARED_STRINGS_BYTES:
            raise FileTooLargeError(
                _unpacks_to(
                    SHARED_TEXT_UNPACKS_TO,
                    strings.file_size,
                    MAX_SHARED_STRINGS_BYTES,
                    strings.filename,
                )
            )


def _unpacks_to(message: str, size: int, limit: int, part: str = "") -> str:
    """Return the refusal of a part, or a whole workbook, that unpacks to too many bytes."""
    return _(
        message,
        part=part,
        size=format_number(round(size / MEGABYTE)),
        limit=format_number(limit // MEGABYTE),
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
            reason = _(
                "its part %(part)s is damaged (%(problem)s)",
                part=CONTENT_TYPES_PART,
                problem=str(exc),
            )
            raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=reason)) from exc
        found = [match.group(1) for match in SHARED_STRINGS_PART.finditer(text)] + found
    parts = [names[name] for name in found if name in names]
    return max(parts, key=lambda part: part.file_size, default=None)


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """Yield the rows of a workbook's first sheet as text, numbered as Excel shows them."""
    check_workbook(content)
    part = _(THE_WORKBOOK)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        reason = _damaged_xml(content) if isinstance(exc, ParseError) else None
        reason = reason or _reason(exc, part)
        raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=reason)) from exc
    try:
        if not workbook.worksheets:
            raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=_("it has no sheet")))
        sheet = workbook.worksheets[0]
        part = getattr(sheet, "_worksheet_path", None) or _(FIRST_SHEET)
        _check_dimension(sheet)
        # The declared size was only a bound: rows are read as they are, up to MAX_COLUMNS wide.
        sheet.reset_dimensions()  # type: ignore[union-attr]
        rows = sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        for number, values in enumerate(rows, start=1):
            if number > EXCEL_MAX_ROWS:
                reason = _(
                    "%(part)s has rows past Excel's last row, %(last)s",
                    part=part,
                    last=format_number(EXCEL_MAX_ROWS),
                )
                raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=reason))
            if any(value is not None for value in values):
                yield number, [_cell_text(value) for value in values]
    except ImportFileError:
        raise
    except Exception as exc:  # a damaged part only shows when openpyxl reaches it
        raise UnreadableFileError(_(NOT_A_WORKBOOK, reason=_reason(exc, part))) from exc
    finally:
        workbook.close()


def _check_dimension(sheet: Any) -> None:
    """Refuse a sheet that declares more rows, columns or cells than an import reads."""
    rows, columns = int(sheet.max_row or 0), int(sheet.max_column or 0)
    if rows <= MAX_SHEET_ROWS and columns <= MAX_COLUMNS and rows * columns <= MAX_CELLS:
        return
    # Translators: %(range)s is the sheet's range as Excel writes it, such as A1:Z9000.
    message = _(
        "The sheet declares %(rows)s rows and %(columns)s columns (%(range)s); the import reads "
        "at most %(max_rows)s rows, %(max_columns)s columns and %(max_cells)s cells. Delete the "
        "empty rows and columns after your data (or export the sheet as CSV UTF-8) and try again.",
        rows=format_number(rows),
        columns=format_number(columns),
        range=sheet.calculate_dimension(),
        max_rows=format_number(MAX_SHEET_ROWS),
        max_columns=format_number(MAX_COLUMNS),
        max_cells=format_number(MAX_CELLS),
    )
    raise FileTooLargeError(message)


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
                return _damaged(name, exc)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                return _not_unpacked(name, exc)
    return None


def _reason(exc: Exception, part: str) -> str:
    """Return what is wrong with a workbook, in a few words (the end of NOT_A_WORKBOOK)."""
    if isinstance(exc, ParseError | SyntaxError):
        return _damaged(part, exc)
    if isinstance(exc, zipfile.BadZipFile | EOFError | OSError):
        return _not_unpacked(part, exc)
    if isinstance(exc, KeyError):
        # Translators: %(problem)s is the reader's own words (English).
        return _("a part it refers to is missing (%(problem)s)", problem=str(exc))
    return _(
        "%(part)s cannot be read (%(problem)s)",
        part=part,
        problem=f"{type(exc).__name__}: {exc}",
    )


def _damaged(part: str, exc: Exception) -> str:
    """Return that a part of a workbook is damaged XML."""
    # Translators: %(part)s names a part of the workbook; %(problem)s is the XML reader's words.
    return _("%(part)s is damaged XML (%(problem)s)", part=part, problem=str(exc))


def _not_unpacked(part: str, exc: Exception) -> str:
    """Return that a part of a workbook cannot be unpacked."""
    # Translators: %(part)s names a part of the workbook; %(problem)s is the unzipper's words.
    return _("%(part)s cannot be unpacked (%(problem)s)", part=part, problem=str(exc))


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
