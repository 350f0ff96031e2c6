"""CSV records as bytes: encoding rows, finding where records end, and parsing a whole file.

The CSV backend keeps each row's bytes, so one edit re-encodes only the rows it changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

import pandas as pd

from mapapp.storage.validation import (
    Problem,
    TableSpec,
    check_frame,
    check_header,
    check_raw,
    check_records,
)

UTF8_BOM = b"\xef\xbb\xbf"  # lets Excel open the file as UTF-8
# RFC 4180 line ends; the csv module then quotes any field holding \r or \n.
LINE_TERMINATOR = "\r\n"
# The csv module refuses fields over 128 KiB by default; pandas reads any. Both must agree on
# what a file holds (the longest valid field is a 5,000-character description).
csv.field_size_limit(1 << 30)

# A usable file: its header's bytes, each row's bytes and first line, the rows, and where they end.
Parsed = tuple[bytes, list[bytes], list[int], pd.DataFrame, int]


def encode_row(values: Sequence[str]) -> bytes:
    """Return one record as CSV bytes with its line end."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_TERMINATOR).writerow(values)
    return buffer.getvalue().encode("utf-8")


def encode_rows(rows: Iterable[Sequence[str]]) -> list[bytes]:
    """Return records as CSV bytes, one item a record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_TERMINATOR)
    encoded = []
    for row in rows:
        writer.writerow(row)
        encoded.append(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    return encoded


def split_records(data: bytes, start: int = 0) -> tuple[list[bytes], list[int], int]:
    """Return the complete CSV records from start, the line each starts on, and where they end.

    A record ends at a newline outside quotes; an escaped quote ("") counts twice, so quote
    parity tells inside from outside. What follows the last complete record is left out.
    """
    pieces = data[start:].split(b"\n")
    records: list[bytes] = []
    lines: list[int] = []
    pending: list[bytes] = []
    pending_line = line = 1
    for piece in pieces[:-1]:  # each piece but the last was followed by a newline
        if not pending:
            if piece.count(b'"') % 2 == 0:
                records.append(piece + b"\n")
                lines.append(line)
            else:
                pending, pending_line = [piece], line
        else:
            pending.append(piece)
            if piece.count(b'"') % 2:
                records.append(b"\n".join(pending) + b"\n")
                lines.append(pending_line)
                pending = []
        line += 1
    return records, lines, start + sum(map(len, records))


def complete_length(data: bytes, start: int = 0) -> int:
    """Return where the last complete CSV record in data ends, scanning from a record boundary."""
    return split_records(data, start)[2]


def decode_rows(records: Sequence[bytes]) -> list[list[str]]:
    """Return raw records parsed as CSV rows."""
    return list(csv.reader(io.StringIO(b"".join(records).decode("utf-8"), newline="")))


def parse(data: bytes, spec: TableSpec) -> tuple[list[Problem], Parsed | None]:
    """Return a file's problems and, when it can be used, its parsed pieces."""
    problems = list(check_raw(data, spec))
    if any(getattr(problem, "damage", True) for problem in problems):
        return problems, None
    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    records, lines, end = split_records(data, start)
    if not records:
        return [*problems, Problem(None, f"{spec.file_name} has no header row.", False)], None
    header_row = decode_rows(records[:1])[0]
    state, header_problems = check_header(header_row, spec)
    problems.extend(header_problems)
    if state == "unknown":
        return problems, None
    width = len(header_row)
    record_problems = check_records(records[1:], lines[1:], width, spec)
    problems.extend(record_problems)
    if record_problems:
        return problems, None
    try:
        frame = pd.read_csv(
            io.BytesIO(data[start:end]),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            skip_blank_lines=False,
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        return [
            *problems,
            Problem(None, f"{spec.file_name} cannot be read as CSV: {exc}", False),
        ], None
    frame_problems = check_frame(frame, lines[1:], spec)
    problems.extend(frame_problems)
    if any(getattr(problem, "damage", True) for problem in frame_problems):
        return problems, None
    header = data[:start] + records[0]
    return problems, (header, records[1:], lines[1:], frame, end)


def frame_of(rows: list[list[str]], columns: Iterable[str]) -> pd.DataFrame:
    """Return rows of strings as a frame with string columns."""
    return pd.DataFrame(rows, columns=list(columns), dtype=str)
