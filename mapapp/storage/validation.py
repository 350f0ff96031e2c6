"""Name what is wrong with a CSV table file and fix what can be fixed safely; bytes in, bytes out.

The app writes its tables as UTF-8 with a byte order mark, ',' separators, RFC 4180 quoting, CR LF
line ends and a header row. Coordinators open them in spreadsheets and save them back, which can
change the encoding, the separator, the dates, the booleans and the decimal point. These functions
name each such change by file, line, column and value, and fix_file undoes the ones that can be
undone without guessing. Nothing here reads or writes a file.

Every Problem says whether fix_file can fix it (`fixable`) and whether it is damage (`damage`).
Two are not damage, because the app reads such a file correctly: a missing byte order mark
(fixable), and an unfinished last row, which the store leaves out as an interrupted append (not
fixable: it may be one). A caller can so refuse to serve a damaged file yet offer every fix.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
LINE_TERMINATOR = "\r\n"
# Past this many problems in one column, one more line gives the count, so that a wholly broken
# column still reads as a short list.
MAX_PROBLEMS_PER_COLUMN = 20
MAX_SHOWN_LENGTH = 60
KINDS = (
    "id",
    "choice",
    "local_time",
    "utc_time",
    "number",
    "latitude",
    "longitude",
    "integer",
    "boolean",
)
# The ranges are spelled out so that one pattern checks form and range (-90 to 90, -180 to 180);
# possessive quantifiers (++, ?+), where nothing is to be given back, make them a third faster.
SHAPES = {
    "id": r"[A-Za-z0-9_-]{6,32}",
    "number": r"-?+[0-9]++(?:\.[0-9]++)?+",
    "latitude": r"-?+0*(?:[0-8]?[0-9](?:\.[0-9]++)?+|90(?:\.0++)?+)",
    "longitude": r"-?+0*(?:(?:1[0-7][0-9]|[0-9]?[0-9])(?:\.[0-9]++)?+|180(?:\.0++)?+)",
    "integer": r"[0-9]++",
}
PATTERNS = {kind: re.compile(shape) for kind, shape in SHAPES.items()}
# The same for a whole column joined with line ends, empty values allowed (they are judged apart):
# one match over a column is several times faster than one per value. (An optional group, "(...)?",
# would make the regular expression engine several times slower than this alternation.)
COLUMN_PATTERNS = {kind: re.compile(f"(?:(?:{shape}|)\n)*") for kind, shape in SHAPES.items()}
TIME_TEMPLATES = {"local_time": "dddd-dd-ddTdd:dd", "utc_time": "dddd-dd-ddTdd:dd:ddZ"}  # d: digit
TIME_EXAMPLES = {"local_time": "2027-02-28T18:00", "utc_time": "2026-09-25T10:09:00Z"}
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
BOOLEANS = ("true", "false")
DESCRIPTIONS = {
    "id": "an id of 6 to 32 letters, digits, _ or -",
    "local_time": "a date and time like 2027-02-28T18:00",
    "utc_time": "a UTC time like 2026-09-25T10:09:00Z",
    "number": "a number like 12.5",
    "latitude": "a latitude from -90 to 90 like 48.8566",
    "longitude": "a longitude from -180 to 180 like 2.3522",
    "integer": "a whole number like 3",
    "boolean": "true or false",
}

# What fix_file accepts. Booleans: only the forms spreadsheets write for true and false, not yes/no
# or 1/0, which people type with other meanings. Dates: day/month/year and month/day/year only
# where the file shows which it is (see _date_order); year-month-day with a space, seconds or no
# Z. A value in a spreadsheet's form of a UTC time is taken as UTC, because the app wrote it so.
SPREADSHEET_BOOLEANS = {"TRUE": "true", "FALSE": "false", "True": "true", "False": "false"}
DECIMAL_COMMA = re.compile(r"-?[0-9]+,[0-9]+")
_CLOCK = r"(?:(?:T|\s+)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?"
YEAR_FIRST = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})" + _CLOCK + r"(Z)?)?")
DAY_OR_MONTH_FIRST = re.compile(
    r"([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4})" + _CLOCK + r"(?:\s*([AaPp])\.?[Mm]\.?)?)?"
)

# How a value was fixed: a label for grouping, and the wording of the change.
SPACES = "spaces"
LETTER_CASE = "letter case"
DECIMAL_POINT = "decimal comma"
SPREADSHEET_BOOLEAN = "TRUE/FALSE"
DAY_FIRST = "day/month/year"
MONTH_FIRST = "month/day/year"
YEAR_MONTH_DAY = "year-month-day"

HeaderKind = Literal["current", "older", "unknown"]
DateOrder = Literal["day", "month", "both", "neither"]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class ColumnRule:
    """What the values of one column must look like."""

    kind: str  # one of KINDS
    required: bool = False  # empty not allowed
    choices: tuple[str, ...] = ()  # for kind "choice"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown column kind {self.kind!r}; use one of {', '.join(KINDS)}.")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError("Give choices for a column of kind 'choice', and only for one.")


@dataclass(frozen=True)
class TableSpec:
    """One table file: its name, header, key and column rules."""

    file_name: str  # "events.csv"
    columns: tuple[str, ...]  # the current header, in order
    key: str  # the unique key column
    older_headers: tuple[tuple[str, ...], ...] = ()  # upgradable by adding the new columns empty
    rules: Mapping[str, ColumnRule] = field(default_factory=dict)
    # What an upgrade puts in a new column of every existing row, where not empty.
    upgrade_values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [name for name in (self.key, *self.rules) if name not in self.columns]
        if unknown:
            raise ValueError(f"{self.file_name}: {', '.join(unknown)} not among the columns.")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, said so that a person can find and correct it."""

    line: int | None  # 1-based physical line (the header is 1); None for the whole file
    message: str  # a complete sentence naming file, line, column and value
    fixable: bool  # whether fix_file fixes it safely
    damage: bool = True  # False only where the app reads the file correctly all the same

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FixResult:
    """A file with its safely fixable problems fixed, what was changed and what remains."""

    data: bytes  # UTF-8 with BOM, ',' separators, CR LF, RFC 4180; the input itself if unchanged
    changes: list[str]  # one sentence per change, with counts
    remaining: list[Problem]  # what is still wrong: none of it fixable


class _Table(NamedTuple):
    """A file's records read as text rows, and how they were written."""

    encoding: str
    delimiter: str
    rows: list[list[str]]  # header first; records that cannot be read are left out
    lines: list[int]
    line_ends: set[str]
    tail: bytes  # an unfinished last record, kept as it is (UTF-8)
    unreadable: list[Problem]


class _SpreadsheetTime(NamedTuple):
    """The parts of a date and time written in a spreadsheet's form."""

    year: int
    month: int
    day: int
    hour: int | None  # None: a date alone
    minute: int
    second: int | None
    zone: bool  # ends with Z
    form: str  # DAY_FIRST, MONTH_FIRST or YEAR_MONTH_DAY


# Whole files


def check_file(data: bytes, spec: TableSpec) -> list[Problem]:
    """Return every problem of a whole file: its bytes, header, records and values."""
    problems = check_raw(data, spec)
    if any(problem.damage and not problem.fixable for problem in problems):
        return problems  # the bytes cannot be read reliably, so anything more would mislead
    table = _read_table(data, spec)
    if table.unreadable or not table.rows:  # fix_file cannot rewrite it: name what stops it
        return [problem for problem in problems if not problem.fixable] + table.unreadable
    header, body, lines = table.rows[0], table.rows[1:], table.lines[1:]
    kind, header_problems = check_header(header, spec)
    problems += header_problems
    width = len(header)
    counts = [len(row) if any(row) else 0 for row in body]  # empty rows named here, in order
    problems += _count_problems(counts, lines, width, spec)
    if kind != "unknown":
        kept = [position for position, count in enumerate(counts) if count == width]
        columns = _columns_of([body[p] for p in kept], header, spec)
        blank = np.zeros(len(kept), dtype=bool)
        problems += _value_problems(columns, blank, [lines[p] for p in kept], spec)
    return problems


def check_raw(data: bytes, spec: TableSpec) -> list[Problem]:
    """Return problems with the file's bytes: encoding, line ends, quotes, separator, BOM."""
    # A last record without a line end is what a writer that died mid-append leaves, and the
    # store leaves it out: it is named (damage=False) but not judged, unless a quote opened in it
    # swallows whole rows after it, as only a stray quote mark does.
    name = spec.file_name
    if data.startswith(UTF16_BOMS):
        message = f"{name} is saved as UTF-16 (a spreadsheet's Unicode text), not UTF-8. Save it again as CSV UTF-8; nothing was changed."
        return [Problem(None, message, False)]
    body = data.removeprefix(UTF8_BOM)
    newline = _newline(body)
    tail, tail_line = b"", 0
    if body.count(b'"') % 2 or not body.endswith(newline):  # else every record is finished
        tail, tail_line = _unfinished(*_split_records(body), newline)
    complete = body[: len(body) - len(tail)]
    if not complete.strip():
        message = (
            f"{name} has no complete header row. Restore it from a backup; nothing was changed."
        )
        return [Problem(None, message, False)]
    if (zero := complete.find(b"\x00")) != -1:
        line = _line_at(complete, zero, newline)
        message = f"{name} line {line} holds a zero byte, which no spreadsheet writes: the file may be damaged. Restore it from a backup; nothing was changed."
        return [Problem(line, message, False)]
    problems = []
    encoding = _encoding_problem(complete, name, newline)
    if encoding is not None:
        problems.append(encoding)
        if not encoding.fixable:
            return problems
    if newline == b"\r":
        message = f"{name} ends its lines with a carriage return alone (an old Mac format), which the app cannot read. Fixing the file changes the line ends to CR LF."
        problems.append(Problem(None, message, True))
    if (
        tail.count(b'"') % 2
        and (
            newline == b"\r"  # not an interrupted append (see _unfinished): a stray quote
            or any(
                max(piece.count(b","), piece.count(b";")) >= len(spec.columns) - 1
                for piece in tail.split(newline)[1:-1]  # the whole lines after the first
            )
        )
    ):
        message = f'{name} line {tail_line}: a quoted value starts on this line and is never closed, so the rows after it read as one value. Remove or close the stray quote mark ("); nothing was changed.'
        return [Problem(tail_line, message, False)]  # nothing else can be fixed before it is
    if tail:
        message = f"{name} line {tail_line}: the last row does not end with a line break, so the app takes it for an interrupted write and leaves it out. If the row is real, end it with a line break by hand."
        problems.append(Problem(tail_line, message, False, damage=False))
    header = _first_record(complete, newline).decode("cp1252" if encoding else "utf-8")
    if _is_semicolon_header(_parse_row(header) or []):
        problems.append(_semicolon_problem(spec))
    if encoding is None and not data.startswith(UTF8_BOM):
        message = f"{name} has no UTF-8 byte order mark, which spreadsheets need to show accented letters correctly. Fixing the file adds it."
        problems.append(Problem(None, message, True, damage=False))
    return problems


def fix_file(data: bytes, spec: TableSpec) -> FixResult:
    """Return the file with what is safely fixable corrected, what was changed and what remains."""
    # An unfinished last record (see check_raw) is kept as it is, after the rewritten rows.
    problems = check_raw(data, spec)
    readable = all(problem.fixable or not problem.damage for problem in problems)
    table = _read_table(data, spec) if readable else None
    if table is None or table.unreadable or not table.rows:
        return FixResult(data, [], check_file(data, spec))
    changes = []
    if table.encoding == "cp1252":
        changes.append("Read the file as Windows-1252 and wrote it as UTF-8.")
    if table.delimiter == ";":
        changes.append("Changed the separator from ';' to ','.")
    header, body, lines = table.rows[0], table.rows[1:], table.lines[1:]
    empty = [line for row, line in zip(body, lines, strict=True) if not any(row)]
    body = [row for row in body if any(row)]
    kind, _ = check_header(header, spec)
    if kind != "unknown":
        changes += _fix_values(body, header, spec)
    if empty:
        shown = [str(line) for line in empty[:5]] + [f"{len(empty) - 5} more"] * (len(empty) > 5)
        where = "line" if len(empty) == 1 else "lines"
        changes.append(f"Removed {_plural(len(empty), 'empty row')} ({where} {_and(shown)}).")
    bom_missing = not data.startswith(UTF8_BOM)
    # LF alone reads as well as CR LF: changed only in a file rewritten anyway. CR alone does not.
    if table.line_ends != {LINE_TERMINATOR} and (changes or bom_missing or "\r" in table.line_ends):
        changes.append("Changed the line ends to CR LF, as the app writes them.")
    if bom_missing:
        changes.append("Added the UTF-8 byte order mark.")
    if not changes:
        return FixResult(data, [], check_file(data, spec))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_TERMINATOR).writerows([header, *body])
    fixed = UTF8_BOM + buffer.getvalue().encode("utf-8") + table.tail
    return FixResult(fixed, changes, check_file(fixed, spec))


# The header


def check_header(header: Sequence[str], spec: TableSpec) -> tuple[HeaderKind, list[Problem]]:
    """Return 'current', 'older' or 'unknown' and, for unknown, what is wrong with each column."""
    # Unknown columns after the known ones are kept (the store keeps them), so a current or older
    # header followed by more columns is still current or older.
    names = list(header)
    if names:
        names[0] = names[0].removeprefix("\ufeff")
    if _is_semicolon_header(names):
        _, problems = check_header(names[0].split(";"), spec)
        return "unknown", [_semicolon_problem(spec), *problems]
    references: list[tuple[HeaderKind, tuple[str, ...]]] = [("current", spec.columns)]
    references += [("older", older) for older in spec.older_headers]
    for kind, reference in references:
        extras = names[len(reference) :]
        if (
            tuple(names[: len(reference)]) == reference
            and all(extras)
            and len(set(extras)) == len(extras)
            and not set(extras) & set(spec.columns)
        ):
            return kind, []
    problems = min((_header_problems(names, ref, spec) for _, ref in references), key=len)
    if not problems:  # not expected: every way a header can differ is named above
        message = f"{spec.file_name}: the header does not match the app's columns ({', '.join(spec.columns)}); nothing was changed."
        problems = [Problem(1, message, False)]
    return "unknown", problems


def _header_problems(
    names: list[str], reference: tuple[str, ...], spec: TableSpec
) -> list[Problem]:
    """Return what differs between a header and one the app knows, in the header's order."""
    file = spec.file_name
    found, wanted, counts = set(names), set(reference), Counter(names)
    placed: list[tuple[int, str]] = []
    for name, count in counts.items():
        if count > 1 and name:
            where = _and([_column(j) for j, other in enumerate(names) if other == name])
            placed.append(
                (
                    names.index(name),
                    f"{file}: the header has the column {_shown_name(name)} {_times(count)} (columns {where}). Keep one; nothing was changed.",
                )
            )
    matcher = SequenceMatcher(None, list(reference), names, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        gone = [name for name in reference[i1:i2] if name not in found]
        new = [j for j in range(j1, j2) if names[j] not in wanted]
        paired = min(len(gone), len(new)) if tag == "replace" else 0
        for name in reference[i1:i2]:
            if name in found and counts[name] == 1:
                i = reference.index(name)
                after = f", after {reference[i - 1]}" if i else ""
                placed.append(
                    (
                        names.index(name),
                        f"{file}: the column {name} is column {_column(names.index(name))} but belongs at column {_column(i)}{after}. Move it back; nothing was changed.",
                    )
                )
        for name, j in zip(gone[:paired], new[:paired], strict=True):
            placed.append(
                (
                    j,
                    f"{file}: the header has no column {name} (found {_shown_name(names[j])} where it used to be). Rename the column back to {name}; nothing was changed.",
                )
            )
        for name in gone[paired:]:
            i = reference.index(name)
            where = f" after {reference[i - 1]}" if i else " as the first column"
            placed.append(
                (
                    j1,
                    f"{file}: the header has no column {name}. Add it back{where}; nothing was changed.",
                )
            )
        for j in new[paired:]:
            name = names[j]
            if not name:
                message = f"{file}: column {_column(j)} of the header has no name. Name it or delete the column; nothing was changed."
            elif counts[name] > 1 or all(other not in wanted for other in names[j:]):
                continue  # named as a duplicate above, or an extra column at the end, which is kept
            else:
                message = f"{file}: the header has a column {_shown_name(name)} the app does not know at column {_column(j)}, among its own columns. Move it to the end, where extra columns are kept, or delete it; nothing was changed."
            placed.append((j, message))
    placed.sort(key=lambda item: item[0])
    return [Problem(1, message, False) for _, message in placed]


def _is_semicolon_header(names: Sequence[str]) -> bool:
    """Return whether a header is one field holding ';': the file uses ';' as its separator."""
    return len(names) == 1 and ";" in names[0]


def _semicolon_problem(spec: TableSpec) -> Problem:
    """Return the problem of a file separated by ';'."""
    message = f"{spec.file_name}: the header is one column holding ';', so the file uses ';' as its separator, as spreadsheets set to many European languages save it. Fixing the file changes the separator to ','."
    return Problem(1, message, True)


# Records


def count_fields(record: bytes) -> int:
    """Return how many comma-separated fields one raw CSV record (terminator included) has."""
    if b'"' not in record:
        return record.count(b",") + 1
    return _unquoted(record).count(b",") + 1


def _unquoted(record: bytes) -> bytes:
    """Return the bytes of a record outside quotes."""
    # Split at quote marks, every other piece is quoted text ("" makes an empty one).
    return b"".join(record.split(b'"')[::2])


def check_records(
    records: Sequence[bytes], lines: Sequence[int], width: int, spec: TableSpec
) -> list[Problem]:
    """Return a problem for each data record whose field count is not width and each blank one."""
    # A blank record holds a line end alone, or commas alone with a wrong count; commas alone with
    # the right count are a row of empty values, which check_frame names.
    counts = list(map(count_fields, records))
    for position, count in enumerate(counts):
        if count != width and not records[position].strip(b",\r\n"):
            counts[position] = 0
    problems = _count_problems(counts, lines, width, spec)
    # A CR alone outside quotes ends a row for other readers (pandas) but not here: name it.
    joined = b"".join(records)
    if joined.count(b"\r") > joined.count(b"\r\n"):  # one somewhere: outside quotes?
        for record, line in zip(records, lines, strict=True):
            if b"\r" not in _unquoted(record).replace(b"\r\n", b""):
                continue
            message = f"{spec.file_name} line {line}: the row holds a carriage return outside quotes, which other programs take for a line end. Remove it or put the value in quotes; nothing was changed."
            problems.append(Problem(line, message, False))
    return problems


def _count_problems(
    counts: Sequence[int], lines: Sequence[int], width: int, spec: TableSpec
) -> list[Problem]:
    """Return a problem for each record counted 0 (blank) or with other than width fields."""
    file = spec.file_name
    bad = [(line, count) for line, count in zip(lines, counts, strict=True) if count != width]
    problems = []
    for line, count in bad[:MAX_PROBLEMS_PER_COLUMN]:
        if count == 0:
            problems.append(_empty_row(line, spec))
            continue
        if count > width:
            hint = (
                "A value holding a comma may have lost its quotes, or a spreadsheet added a column."
            )
        else:
            hint = "A value may be missing, or a line break may have split the row."
        message = f"{file} line {line}: the row has {count} values, but the header has {width} columns. {hint} Correct it by hand; nothing was changed."
        problems.append(Problem(line, message, False))
    rest = bad[MAX_PROBLEMS_PER_COLUMN:]
    if rest:
        message = f"{file}: and {len(rest)} more rows that are empty or have a wrong number of values, up to line {rest[-1][0]}."
        problems.append(Problem(None, message, all(count == 0 for _, count in rest)))
    return problems


def _empty_row(line: int, spec: TableSpec) -> Problem:
    """Return the problem of an empty row."""
    return Problem(
        line, f"{spec.file_name} line {line}: the row is empty. Fixing the file removes it.", True
    )


# Values


def check_frame(frame: pd.DataFrame, lines: Sequence[int], spec: TableSpec) -> list[Problem]:
    """Return a problem for each value breaking its column's rule and each duplicated key."""
    # Without pyarrow, pandas' .str methods test Python strings one by one (.str.fullmatch takes
    # 24 ms a column at 50,000 rows), so the checks work on object arrays: one regular expression
    # match over each whole column, and for times a matrix of code points (3 to 5 ms a column).
    if len(lines) != len(frame):  # the reader split rows where the records do not end
        message = f"{spec.file_name}: {len(frame)} rows were read from {len(lines)} records, so a quote mark or a line break is out of place. Correct it by hand; nothing was changed."
        return [Problem(None, message, False)]
    names = [str(name) for name in frame.columns]
    columns = {}
    for name in dict.fromkeys((spec.key, *spec.rules)):
        if name in names:
            column = frame.iloc[:, names.index(name)]
            values = column.to_numpy(dtype=object)  # the strings themselves, not a copy
            try:
                missing = bool((values != values).any())  # only NaN differs from itself
            except TypeError:  # pd.NA will not say
                missing = True
            if missing:  # a reader not told to keep empty strings: they count as empty
                values = column.to_numpy(dtype=object, na_value="")
            columns[name] = values
    blank = np.zeros(len(frame), dtype=bool)
    candidates = (
        np.flatnonzero(columns[spec.key] == "") if spec.key in columns else np.arange(len(frame))
    )
    if candidates.size:
        cells = frame.iloc[candidates].to_numpy(dtype=object, na_value="")
        blank[candidates] = (cells == "").all(axis=1)
    return _value_problems(columns, blank, lines, spec)


def _value_problems(
    columns: Mapping[str, ObjectArray], blank: BoolArray, lines: Sequence[int], spec: TableSpec
) -> list[Problem]:
    """Return problems for empty rows, values breaking their rules and duplicated keys."""
    problems = [_empty_row(lines[p], spec) for p in np.flatnonzero(blank).tolist()]
    bad, order = _findings(columns, blank, spec)
    for name, positions in bad.items():
        problems += _column_problems(name, columns[name], positions, lines, order, spec)
    if spec.key in columns:
        problems += _duplicate_problems(columns[spec.key], blank, lines, spec)
    return problems


def _findings(
    columns: Mapping[str, ObjectArray], blank: BoolArray, spec: TableSpec
) -> tuple[dict[str, npt.NDArray[np.intp]], DateOrder]:
    """Return the positions of the values breaking each column's rule, and the file's date order."""
    bad = {}
    for name, rule in spec.rules.items():
        if name not in columns:
            continue
        values = columns[name]
        empty = values == ""
        breaking = np.where(empty, rule.required, ~_follows_rule(values, rule)) & ~blank
        if breaking.any():
            bad[name] = np.flatnonzero(breaking)
    dates = (
        columns[name][p]
        for name, positions in bad.items()
        if spec.rules[name].kind in TIME_TEMPLATES
        for p in positions
    )
    return bad, _date_order(dates)


def _column_problems(
    name: str,
    values: ObjectArray,
    positions: npt.NDArray[np.intp],
    lines: Sequence[int],
    order: DateOrder,
    spec: TableSpec,
) -> list[Problem]:
    """Return the problems of one column's breaking values, the first ones in full."""
    rule = spec.rules[name]
    where = positions.tolist()
    repairs = [_repair(values[p], rule, order) for p in where]
    problems = []
    for p, repair in zip(where[:MAX_PROBLEMS_PER_COLUMN], repairs, strict=False):
        message = _value_message(name, values[p], rule, repair, order)
        problems.append(
            Problem(lines[p], f"{spec.file_name} line {lines[p]}: {message}", bool(repair))
        )
    rest = repairs[MAX_PROBLEMS_PER_COLUMN:]
    if rest:
        fixable = sum(repair is not None for repair in rest)
        message = f"{spec.file_name}: and {len(rest)} more problems in {name}, up to line {lines[where[-1]]}."
        if fixable == len(rest):
            message += " Fixing the file corrects them."
        elif fixable:
            message += f" Fixing the file corrects {fixable} of them."
        problems.append(Problem(None, message, fixable == len(rest)))
    return problems


def _value_message(
    name: str, value: str, rule: ColumnRule, repair: tuple[str, str] | None, order: DateOrder
) -> str:
    """Return what is wrong with one value and what fixing the file would do with it."""
    if not value:
        return f"{name} is empty, but every row needs one."
    expected = (
        f"one of {', '.join(rule.choices)}" if rule.kind == "choice" else DESCRIPTIONS[rule.kind]
    )
    message = f"{name} is {_quoted(value)}, not {expected}."
    if repair is None:
        return (
            message + _time_hint(value, rule.kind, order)
            if rule.kind in TIME_TEMPLATES
            else message
        )
    fixed, form = repair
    if not fixed:
        return message + " Fixing the file leaves it empty."
    reason = {DAY_FIRST: "day", MONTH_FIRST: "month"}.get(form)
    because = f" (the file's dates put the {reason} first)" if reason else ""
    return message + f" Fixing the file rewrites it as {fixed}{because}."


def _time_hint(value: str, kind: str, order: DateOrder) -> str:
    """Return why a date in a spreadsheet's form was not fixed, or nothing."""
    example = TIME_EXAMPLES[kind]
    for form in ("day", "month"):
        time = _spreadsheet_time(value, form)
        if time is not None and time.hour is None:
            return f" It has a date but no time; write both, as in {example}."
    match = DAY_OR_MONTH_FIRST.fullmatch(value.strip())
    if match is None:
        return ""
    if order == "both":
        return f" The file's dates put the day first in some rows and the month first in others, so no date was changed; fix them by hand as {example}."
    day_first, month_first = _repair_time(value, kind, "day"), _repair_time(value, kind, "month")
    if order == "neither" and day_first and month_first:
        return f" The file's dates cannot tell day from month: every date has both parts 12 or under; fix them by hand as {day_first[0]} if {match[1]} is the day or {month_first[0]} if it is the month."
    return ""


def _duplicate_problems(
    keys: ObjectArray, blank: BoolArray, lines: Sequence[int], spec: TableSpec
) -> list[Problem]:
    """Return a problem for each key value used by more than one row, naming all their lines."""
    present = (keys != "") & ~blank
    if len(set(keys[present].tolist())) == int(present.sum()):
        return []
    repeated = pd.Series(keys).duplicated(keep=False).to_numpy() & present
    found: dict[str, list[int]] = {}
    for p in np.flatnonzero(repeated).tolist():
        found.setdefault(keys[p], []).append(lines[p])
    problems = []
    for key, where in found.items():
        which = "one of them" if len(where) == 2 else "all but one of them"
        message = f"{spec.file_name} lines {_and([str(line) for line in where])}: {spec.key} {_quoted(key)} is used {_times(len(where))}; each row needs its own. Give {which} a new {spec.key} by hand."
        problems.append(Problem(where[1], message, False))
    if len(problems) > MAX_PROBLEMS_PER_COLUMN:
        rest = len(problems) - MAX_PROBLEMS_PER_COLUMN
        summary = f"{spec.file_name}: and {rest} more {spec.key} values used more than once."
        problems = [*problems[:MAX_PROBLEMS_PER_COLUMN], Problem(None, summary, False)]
    return problems


def _follows_rule(values: ObjectArray, rule: ColumnRule) -> BoolArray:
    """Return which values are written as the rule's kind wants (empty values are judged apart)."""
    if rule.kind == "choice":
        return np.isin(values, list(rule.choices))
    if rule.kind == "boolean":
        return np.isin(values, list(BOOLEANS))
    if rule.kind in TIME_TEMPLATES:
        return _is_time(values, TIME_TEMPLATES[rule.kind])
    return _fullmatches(values, rule.kind)


def _follows(value: str, rule: ColumnRule) -> bool:
    """Return whether one value is written as the rule's kind wants."""
    return bool(_follows_rule(np.array([value], dtype=object), rule)[0])


def _fullmatches(values: ObjectArray, kind: str) -> BoolArray:
    """Return which values the kind's pattern matches wholly (empty values are judged apart)."""
    texts = values.tolist()
    joined = "\n".join(texts) + "\n"
    # A value holding a line end would pass as two: count them first.
    if joined.count("\n") == len(texts) and COLUMN_PATTERNS[kind].fullmatch(joined):
        return np.ones(len(texts), dtype=bool)
    matches = map(bool, map(PATTERNS[kind].fullmatch, texts))
    return np.fromiter(matches, dtype=bool, count=len(texts))


def _is_time(values: ObjectArray, template: str) -> BoolArray:
    """Return which values are real times written exactly as the template (d: a digit)."""
    width = len(template)
    # One code point more than the template: a longer value has something there.
    codes = values.astype(f"<U{width + 1}").view(np.uint32).reshape(len(values), width + 1)
    valid = codes[:, width] == 0
    for position, character in enumerate(template):
        if character == "d":
            valid &= codes[:, position] - ord("0") <= 9  # unsigned: below '0' wraps round
        else:
            valid &= codes[:, position] == ord(character)

    def number(start: int, length: int) -> npt.NDArray[np.int64]:
        result = np.zeros(len(values), dtype=np.int64)
        for position in range(start, start + length):
            result = result * 10 + codes[:, position].astype(np.int64) - ord("0")
        return result

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute = number(11, 2), number(14, 2)
    second = number(17, 2) if width > 17 else np.zeros_like(year)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    in_range = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    return valid & in_range & (hour <= 23) & (minute <= 59) & (second <= 59)


# Repairs, shared by check_frame (to say what is fixable) and fix_file (to fix it)


def _date_order(values: Iterable[str]) -> DateOrder:
    """Return which part the file's dates put first, as far as any date shows it."""
    # 28/02/2027 can only be day first and 02/28/2027 only month first; 02/03/2027 could be either.
    day_first = month_first = False
    for value in values:
        match = DAY_OR_MONTH_FIRST.fullmatch(value.strip())
        if match:
            day_first |= int(match[1]) > 12
            month_first |= int(match[3]) > 12
    if day_first and month_first:
        return "both"
    return "day" if day_first else "month" if month_first else "neither"


def _repair(value: str, rule: ColumnRule, order: DateOrder) -> tuple[str, str] | None:
    """Return the value corrected and how, when a spreadsheet's or typist's form can be undone."""
    stripped = value.strip()
    if stripped != value and rule.kind != "id":  # an id is a key: a different one is another row
        if stripped and _follows(stripped, rule) or not stripped and not rule.required:
            return stripped, SPACES
    if rule.kind == "boolean" and value in SPREADSHEET_BOOLEANS:
        return SPREADSHEET_BOOLEANS[value], SPREADSHEET_BOOLEAN
    if rule.kind == "choice":
        by_case = {choice.casefold(): choice for choice in rule.choices}
        if value.casefold() in by_case:
            return by_case[value.casefold()], LETTER_CASE
    # 1,234 could be a thousand, but no latitude or longitude is: a plain number with three digits
    # after its comma is left alone.
    if rule.kind in ("number", "latitude", "longitude") and DECIMAL_COMMA.fullmatch(value):
        if rule.kind != "number" or len(value.partition(",")[2]) != 3:
            fixed = value.replace(",", ".")
            return (fixed, DECIMAL_POINT) if _follows(fixed, rule) else None
    if rule.kind in TIME_TEMPLATES:
        return _repair_time(value, rule.kind, order)
    return None


def _repair_time(value: str, kind: str, order: DateOrder) -> tuple[str, str] | None:
    """Return a date and time in a spreadsheet's form rewritten as the kind wants, and how."""
    time = _spreadsheet_time(value, order)
    if time is None or time.hour is None:
        return None  # not a form we know, the order is not known, or no time to keep
    date = f"{time.year:04d}-{time.month:02d}-{time.day:02d}T{time.hour:02d}:{time.minute:02d}"
    if kind == "local_time":
        if time.zone or time.second:  # a local time has no zone and keeps no seconds
            return None
        fixed = date
    else:
        fixed = f"{date}:{time.second or 0:02d}Z"
    return (fixed, time.form) if _follows(fixed, ColumnRule(kind)) else None


def _spreadsheet_time(value: str, order: str) -> _SpreadsheetTime | None:
    """Return the parts of a date and time in a spreadsheet's form, or None."""
    value = value.strip()
    if match := YEAR_FIRST.fullmatch(value):
        year, month, day = int(match[1]), int(match[3]), int(match[4])
        hour, minute, second, zone, meridiem = match[5], match[6], match[7], bool(match[8]), None
        form = YEAR_MONTH_DAY
    elif (match := DAY_OR_MONTH_FIRST.fullmatch(value)) and order in ("day", "month"):
        first, other, year = int(match[1]), int(match[3]), int(match[4])
        day, month = (first, other) if order == "day" else (other, first)
        hour, minute, second, zone, meridiem = match[5], match[6], match[7], False, match[8]
        form = DAY_FIRST if order == "day" else MONTH_FIRST
    else:
        return None
    if hour is None:
        return _SpreadsheetTime(year, month, day, None, 0, None, zone, form)
    clock = int(hour)
    if meridiem:  # 12 AM is midnight, 12 PM noon
        if not 1 <= clock <= 12:
            return None
        clock = clock % 12 + (12 if meridiem in "Pp" else 0)
    seconds = int(second) if second else None
    return _SpreadsheetTime(year, month, day, clock, int(minute), seconds, zone, form)


def _fix_values(rows: list[list[str]], header: list[str], spec: TableSpec) -> list[str]:
    """Fix in place the values of rows with the header's width; return one sentence per change."""
    width = len(header)
    kept = [row for row in rows if len(row) == width]
    columns = _columns_of(kept, header, spec)
    bad, order = _findings(columns, np.zeros(len(kept), dtype=bool), spec)
    changes = []
    for name, positions in bad.items():
        index, rule = header.index(name), spec.rules[name]
        done: dict[str, list[tuple[str, str]]] = {}
        for p in positions.tolist():
            value = columns[name][p]
            repair = _repair(value, rule, order)
            if repair is not None:
                kept[p][index] = repair[0]
                done.setdefault(repair[1], []).append((value, repair[0]))
        changes += [_change(name, form, pairs) for form, pairs in done.items()]
    return changes


def _change(name: str, form: str, pairs: list[tuple[str, str]]) -> str:
    """Return the sentence telling how values of a column were changed."""
    count = len(pairs)
    old, new = pairs[0]
    if form in (DAY_FIRST, MONTH_FIRST, YEAR_MONTH_DAY):
        return f"Rewrote {_plural(count, 'date')} in {name} from {form} ({old}) to {new}."
    if form == SPREADSHEET_BOOLEAN:
        pairs = sorted(pairs, key=lambda pair: (pair[1] != "true", pair[0]))
        olds, news = (
            "/".join(dict.fromkeys(o for o, _ in pairs)),
            "/".join(dict.fromkeys(n for _, n in pairs)),
        )
        return f"Changed {_plural(count, 'value')} of {name} from {olds} to {news}."
    if form == DECIMAL_POINT:
        return f"Changed {_plural(count, 'value')} of {name} from a decimal comma to a decimal point ({old} to {new})."
    if form == LETTER_CASE:
        return f"Changed the letter case of {_plural(count, 'value')} of {name} ({old} to {new})."
    return f"Removed the spaces around {_plural(count, 'value')} of {name}."


# Reading


def _split_records(body: bytes) -> tuple[list[bytes], list[int]]:
    """Return the raw records of a file without its BOM (line ends kept) and their first lines."""
    # A record ends at a line end outside quotes; an escaped quote ("") counts twice, so quote
    # parity tells inside from outside. An unfinished last record is returned as it is.
    newline = _newline(body)
    records: list[bytes] = []
    lines: list[int] = []
    start = position = 0
    line = record_line = 1
    quotes = 0
    while position < len(body):
        end = body.find(newline, position)
        end = len(body) if end == -1 else end + len(newline)
        quotes += body.count(b'"', position, end)
        if quotes % 2 == 0 or end == len(body):
            records.append(body[start:end])
            lines.append(record_line)
            start, record_line, quotes = end, line + 1, 0
        line += 1
        position = end
    return records, lines


def _unfinished(records: list[bytes], lines: list[int], newline: bytes) -> tuple[bytes, int]:
    """Return the last record if it lacks its line end or leaves a quote open, and its line."""
    if not records:
        return b"", 0
    last = records[-1]
    # Stray line ends before it (an LF after an old Mac's CR) belong to the record before.
    tail = last.lstrip(b"\r\n")
    open_quote = tail.count(b'"') % 2 == 1
    # The app never appends to an old Mac's file, whose last line often lacks its CR: there only
    # an open quote leaves the record unfinished.
    if tail and (open_quote or (newline == b"\n" and not tail.endswith(newline))):
        return tail, lines[-1] + last[: len(last) - len(tail)].count(newline)
    return b"", 0


def _read_table(data: bytes, spec: TableSpec) -> _Table:
    """Return a file's records as rows of text, in whichever encoding and separator it uses."""
    body = data.removeprefix(UTF8_BOM)
    newline = _newline(body)
    records, lines = _split_records(body)
    tail, _ = _unfinished(records, lines, newline)
    if tail:  # kept aside, as it is; stray line ends before it go with the record before
        stray = records.pop()[: -len(tail)]
        lines.pop()
        if stray and records:
            records[-1] += stray
    try:
        texts = [record.decode("utf-8") for record in records]
        encoding = "utf-8"
    except UnicodeDecodeError:
        texts = [record.decode("cp1252") for record in records]
        encoding, tail = "cp1252", tail.decode("cp1252", "replace").encode("utf-8")
    semicolons = bool(texts) and _is_semicolon_header(_parse_row(texts[0]) or [])
    delimiter = ";" if semicolons else ","
    rows, kept_lines, line_ends, unreadable = [], [], set(), []
    for text, line in zip(texts, lines, strict=True):
        row = _parse_row(text, delimiter)
        if row is None:
            message = f"{spec.file_name} line {line} cannot be read as CSV: a quote mark inside a value or a line break outside quotes is out of place. Correct it by hand; nothing was changed."
            unreadable.append(Problem(line, message, False))
            continue
        rows.append(row)
        kept_lines.append(line)
        line_ends.add(text[len(text.rstrip("\r\n")) :])
    return _Table(encoding, delimiter, rows, kept_lines, line_ends, tail, unreadable)


def _parse_row(text: str, delimiter: str = ",") -> list[str] | None:
    """Return the fields of one record, or None if it is not CSV."""
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # a quote mark inside a value, or a line end outside quotes
        return None


def _first_record(body: bytes, newline: bytes) -> bytes:
    """Return the header record of a file without its BOM."""
    end = body.find(newline)
    if end == -1 or b'"' in body[:end]:
        return _split_records(body)[0][0]
    return body[: end + len(newline)]


def _columns_of(
    rows: Sequence[list[str]], header: list[str], spec: TableSpec
) -> dict[str, ObjectArray]:
    """Return the key and ruled columns of rows as object arrays."""
    columns = {}
    for name in (spec.key, *spec.rules):
        if name in header:
            index = header.index(name)
            columns[name] = np.array([row[index] for row in rows], dtype=object)
    return columns


def _encoding_problem(body: bytes, name: str, newline: bytes) -> Problem | None:
    """Return the problem of bytes that are not UTF-8, or None."""
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError as error:
        position = error.start
    line, byte = _line_at(body, position, newline), body[position]
    # Valid UTF-8 letters elsewhere mean two encodings in one file: converting would garble them.
    if re.search("[^\x00-\x7f\udc80-\udcff]", body.decode("utf-8", "surrogateescape")):
        message = f"{name} line {line}: the byte 0x{byte:02X} is not UTF-8, yet other text in the file is: the file mixes two encodings. Correct the line by hand or save the file again as CSV UTF-8; nothing was changed."
        return Problem(line, message, False)
    try:
        body.decode("cp1252")
    except UnicodeDecodeError:
        message = f"{name} line {line}: the byte 0x{byte:02X} is neither UTF-8 nor Windows-1252 text. Save the file again as CSV UTF-8; nothing was changed."
        return Problem(line, message, False)
    start = end = position
    while start > 0 and body[start - 1] not in b' ,;"\r\n\t' and position - start < 30:
        start -= 1
    while end < len(body) and body[end] not in b' ,;"\r\n\t' and end - position < 30:
        end += 1
    word = body[start:end].decode("cp1252")
    message = f"{name} line {line}: the file is not UTF-8; it looks like Windows-1252, as some spreadsheets save it (read so, the line says '{word}'). Fixing the file converts it to UTF-8."
    return Problem(line, message, True)


def _newline(body: bytes) -> bytes:
    """Return what ends the file's lines: LF (alone or after CR), or CR alone (old Macs)."""
    # Values may hold either inside quotes, but the header holds neither: what ends it ends
    # every record.
    carriage_return, line_feed = body.find(b"\r"), body.find(b"\n")
    if carriage_return == -1:
        return b"\n"
    if line_feed == -1 or carriage_return < line_feed - 1:
        return b"\r"
    return b"\n"


def _line_at(body: bytes, position: int, newline: bytes) -> int:
    """Return the physical line holding a byte."""
    return body.count(newline, 0, position) + 1


# Wording


def _quoted(value: str) -> str:
    """Return a value to show in a message: quoted, shortened, its line breaks visible."""
    if len(value) > MAX_SHOWN_LENGTH:
        value = value[: MAX_SHOWN_LENGTH - 1] + "…"
    return "'" + value.replace("\r", "\\r").replace("\n", "\\n") + "'"


def _shown_name(name: str) -> str:
    """Return a column name to show in a message."""
    if not name:
        return "a column with no name"
    return name if name == name.strip() else _quoted(name)


def _column(index: int) -> str:
    """Return a 0-based column position as a person counts it, with its spreadsheet letters."""
    letters, number = "", index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return f"{index + 1} ({letters})"


def _plural(count: int, noun: str) -> str:
    """Return a count with its noun."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _times(count: int) -> str:
    """Return how often, in words for two."""
    return "twice" if count == 2 else f"{count} times"


def _and(items: Sequence[str]) -> str:
    """Return items joined as in a sentence: a, b and c."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
