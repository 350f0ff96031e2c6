"""Naming and fixing hand-edited or damaged table files: bytes, header, records, values."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapapp.storage.event_store import EVENTS_SPEC, FIELDS_BEFORE_CHANGES
from mapapp.storage.validation import (
    Problem,
    check_file,
    check_frame,
    check_header,
    check_raw,
    check_records,
    count_fields,
    fix_file,
)

# What the store passes for events: the checks are tested on the real table.
EXAMPLE_SPEC = EVENTS_SPEC
COLUMNS = EVENTS_SPEC.columns
BOM = b"\xef\xbb\xbf"
AWKWARD_TEXTS = {
    "title": 'Light up the "Eiffel" Tower, Paris',
    "venue": "=1+1",
    "organiser": "😀🎉 مرحبا بالعالم שלום",
    "moderation_note": "carriage\rreturn, tab\there,  spaces  ",
}


def event(**fields: str) -> dict[str, str]:
    """Return a valid event row, with any field overridden."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        id="aaaa1111",
        status="approved",
        title="Rare Disease Day tea party",
        starts_at="2027-02-28T18:00",
        ends_at="2027-02-28T21:00",
        city="Paris",
        country="FR",
        latitude="48.856600",
        longitude="2.352200",
        is_sample="true",
        created_at="2026-09-25T10:09:00Z",
        updated_at="2026-09-25T10:09:00Z",
        version="1",
    )
    row.update(fields)
    return row


# Four events on lines 2, 3-5 (a description over three lines), 6 and 7.
GOOD_ROWS = [
    event(id="aaaa1111", **AWKWARD_TEXTS),
    event(id="bbbb2222", description="one\r\ntwo\r\nthree", starts_at="2027-03-01T09:30"),
    event(id="cccc3333", city="Kraków", is_sample=""),
    event(id="dddd4444", ends_at="", latitude="", longitude="", created_at="2026-10-01T08:00:00Z"),
]


def encode(
    rows: list[dict[str, str]],
    header: tuple[str, ...] | list[str] = COLUMNS,
    *,
    delimiter: str = ",",
    bom: bool = True,
    encoding: str = "utf-8",
    newline: str = "\r\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    """Return rows as a CSV file the way a program writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    writer.writerows([row.get(name, "") for name in header] for row in rows)
    return (BOM if bom else b"") + buffer.getvalue().encode(encoding)


def edited(**fields: dict[str, str]) -> list[dict[str, str]]:
    """Return the good rows with some fields changed, by row position ("r0", "r1", ...)."""
    return [{**row, **fields.get(f"r{n}", {})} for n, row in enumerate(GOOD_ROWS)]


def every_row(**fields: str) -> list[dict[str, str]]:
    """Return the good rows with the same fields changed in each."""
    return [{**row, **fields} for row in GOOD_ROWS]


def dates(column: str, *values: str) -> list[dict[str, str]]:
    """Return the good rows with one column's values replaced, row by row."""
    return [{**row, column: value} for row, value in zip(GOOD_ROWS, values, strict=True)]


def split_records(data: bytes) -> tuple[list[bytes], list[int]]:
    """Return the complete records of a file and their first lines, as the store splits them."""
    records: list[bytes] = []
    lines: list[int] = []
    pending, first = b"", 1
    for number, piece in enumerate(data.removeprefix(BOM).split(b"\n")[:-1], start=1):
        if not pending:
            first = number
        pending += piece + b"\n"
        if pending.count(b'"') % 2 == 0:
            records.append(pending)
            lines.append(first)
            pending = b""
    return records, lines


def check_as_the_store_does(data: bytes) -> list[Problem]:
    """Return the problems the store sees: bytes, header, records, then the frame pandas reads."""
    problems = check_raw(data, EXAMPLE_SPEC)
    if any(problem.damage for problem in problems):
        return problems
    records, lines = split_records(data)
    header = next(csv.reader(io.StringIO(records[0].decode("utf-8"), newline="")))
    kind, header_problems = check_header(header, EXAMPLE_SPEC)
    problems += header_problems
    if kind == "unknown":
        return problems
    record_problems = check_records(records[1:], lines[1:], len(header), EXAMPLE_SPEC)
    if record_problems:
        return problems + record_problems
    frame = pd.read_csv(
        io.BytesIO(b"".join(records)),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
    )
    return problems + check_frame(frame, lines[1:], EXAMPLE_SPEC)


def texts_of(data: bytes, delimiter: str = ",", encoding: str = "utf-8-sig") -> list[list[str]]:
    """Return every field of a file as the csv module reads it."""
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=delimiter))


GOOD = encode(GOOD_ROWS)
ASCII = encode([event()])
DAY_FIRST = "(the file's dates put the day first)"
CP1252_ROWS = [
    event(id="aaaa1111", title="Rare Disease Day in Kraków", city="Kraków"),
    event(id="bbbb2222", title="Encontro em São Paulo", city="São Paulo"),
    event(id="cccc3333", title="Treffen in Zürich – „Café“", city="Zürich"),
]

# Each hand edit: the file, then its problems as (line, a key part of the message, fixable), the
# sentences fix_file says, and what remains after it as (line, a key part).
EDITS = [
    pytest.param(GOOD, [], [], [], id="the app's own file"),
    pytest.param(
        # Excel, day first: 28/02/2027 shows the order, so every date can be rewritten.
        encode(
            [
                {
                    **row,
                    "starts_at": starts,
                    "ends_at": "",
                    "created_at": "25/09/2026 10:09",
                    "updated_at": "2026-09-25 10:09:00",
                }
                for row, starts in zip(
                    GOOD_ROWS,
                    ["28/02/2027 18:00", "01/03/2027 9:30", "02/03/2027 18:00", "05/03/2027 7:05"],
                    strict=True,
                )
            ]
        ),
        [
            (
                2,
                "starts_at is '28/02/2027 18:00', not a date and time like 2027-02-28T18:00. Fixing the file rewrites it as 2027-02-28T18:00 "
                + DAY_FIRST,
                True,
            ),
            (
                3,
                "starts_at is '01/03/2027 9:30', not a date and time like 2027-02-28T18:00. Fixing the file rewrites it as 2027-03-01T09:30",
                True,
            ),
            (6, "rewrites it as 2027-03-02T18:00", True),
            (7, "rewrites it as 2027-03-05T07:05", True),
            *[
                (
                    line,
                    "created_at is '25/09/2026 10:09', not a UTC time like 2026-09-25T10:09:00Z. Fixing the file rewrites it as 2026-09-25T10:09:00Z",
                    True,
                )
                for line in (2, 3, 6, 7)
            ],
            *[(line, "updated_at is '2026-09-25 10:09:00'", True) for line in (2, 3, 6, 7)],
        ],
        [
            "Rewrote 4 dates in starts_at from day/month/year (28/02/2027 18:00) to 2027-02-28T18:00.",
            "Rewrote 4 dates in created_at from day/month/year (25/09/2026 10:09) to 2026-09-25T10:09:00Z.",
            "Rewrote 4 dates in updated_at from year-month-day (2026-09-25 10:09:00) to 2026-09-25T10:09:00Z.",
        ],
        [],
        id="Excel day/month/year dates",
    ),
    pytest.param(
        # Excel in the US, month first with AM/PM: 2/28/2027 shows the order.
        encode(
            dates(
                "starts_at",
                "2/28/2027 6:00 PM",
                "3/1/2027 9:30 AM",
                "3/2/2027 12:00 PM",
                "3/5/2027 12:15 AM",
            )
        ),
        [
            (
                2,
                "starts_at is '2/28/2027 6:00 PM', not a date and time like 2027-02-28T18:00. Fixing the file rewrites it as 2027-02-28T18:00 (the file's dates put the month first).",
                True,
            ),
            (3, "rewrites it as 2027-03-01T09:30", True),
            (6, "rewrites it as 2027-03-02T12:00", True),
            (7, "rewrites it as 2027-03-05T00:15", True),
        ],
        [
            "Rewrote 4 dates in starts_at from month/day/year (2/28/2027 6:00 PM) to 2027-02-28T18:00."
        ],
        [],
        id="month/day/year dates with AM and PM",
    ),
    pytest.param(
        # Every date has both parts 12 or under: nothing tells day from month.
        encode(
            dates(
                "starts_at",
                "01/02/2027 18:00",
                "03/02/2027 9:30",
                "04/02/2027 18:00",
                "12/11/2027 8:00",
            )
        ),
        [
            (
                2,
                "starts_at is '01/02/2027 18:00', not a date and time like 2027-02-28T18:00. The file's dates cannot tell day from month: every date has both parts 12 or under; fix them by hand as 2027-02-01T18:00 if 01 is the day or 2027-01-02T18:00 if it is the month.",
                False,
            ),
            (3, "cannot tell day from month", False),
            (6, "cannot tell day from month", False),
            (
                7,
                "fix them by hand as 2027-11-12T08:00 if 12 is the day or 2027-12-11T08:00 if it is the month",
                False,
            ),
        ],
        [],
        [
            (2, "cannot tell day from month"),
            (3, "cannot tell day"),
            (6, "cannot tell day"),
            (7, "cannot tell day"),
        ],
        id="ambiguous dates",
    ),
    pytest.param(
        # One date shows the day first, another the month first: the file contradicts itself.
        encode(
            dates(
                "starts_at",
                "28/02/2027 18:00",
                "02/28/2027 9:30",
                "2027-03-02T18:00",
                "2027-03-05T07:05",
            )
        ),
        [
            (
                2,
                "put the day first in some rows and the month first in others, so no date was changed",
                False,
            ),
            (3, "put the day first in some rows and the month first in others", False),
        ],
        [],
        [(2, "some rows"), (3, "some rows")],
        id="dates in both orders",
    ),
    pytest.param(
        # A date without its time: the time cannot be guessed.
        encode(
            dates(
                "starts_at",
                "28/02/2027",
                "2027-03-01T09:30",
                "2027-03-02T18:00",
                "2027-03-05T07:05",
            )
        ),
        [
            (
                2,
                "starts_at is '28/02/2027', not a date and time like 2027-02-28T18:00. It has a date but no time; write both, as in 2027-02-28T18:00.",
                False,
            )
        ],
        [],
        [(2, "no time")],
        id="a date without a time",
    ),
    pytest.param(
        encode(GOOD_ROWS, header=[("Start" if name == "starts_at" else name) for name in COLUMNS]),
        [
            (
                1,
                "events.csv: the header has no column starts_at (found Start where it used to be). Rename the column back to starts_at; nothing was changed.",
                False,
            )
        ],
        [],
        [(1, "found Start where it used to be")],
        id="a renamed column",
    ),
    pytest.param(
        encode(GOOD_ROWS, header=[name for name in COLUMNS if name != "city"]),
        [
            (
                1,
                "events.csv: the header has no column city. Add it back after address; nothing was changed.",
                False,
            )
        ],
        [],
        [(1, "no column city")],
        id="a deleted column",
    ),
    pytest.param(
        encode(GOOD_ROWS, header=[*COLUMNS[:10], "city", "city", *COLUMNS[11:]]),
        [
            (
                1,
                "events.csv: the header has the column city twice (columns 11 (K) and 12 (L)). Keep one",
                False,
            )
        ],
        [],
        [(1, "city twice")],
        id="a duplicated column",
    ),
    pytest.param(
        # Excel set to a European language: ';' between fields and a decimal comma.
        encode(every_row(latitude="48,8566", longitude="2,3522"), delimiter=";"),
        [
            (
                1,
                "events.csv: the header is one column holding ';', so the file uses ';' as its separator",
                True,
            ),
            *[
                (
                    line,
                    "latitude is '48,8566', not a latitude from -90 to 90 like 48.8566. Fixing the file rewrites it as 48.8566.",
                    True,
                )
                for line in (2, 3, 6, 7)
            ],
            *[(line, "longitude is '2,3522'", True) for line in (2, 3, 6, 7)],
        ],
        [
            "Changed the separator from ';' to ','.",
            "Changed 4 values of latitude from a decimal comma to a decimal point (48,8566 to 48.8566).",
            "Changed 4 values of longitude from a decimal comma to a decimal point (2,3522 to 2.3522).",
        ],
        [],
        id="';' separator",
    ),
    pytest.param(
        encode(CP1252_ROWS, encoding="cp1252", bom=False),
        [
            (
                2,
                "events.csv line 2: the file is not UTF-8; it looks like Windows-1252, as some spreadsheets save it (read so, the line says 'Kraków'). Fixing the file converts it to UTF-8.",
                True,
            )
        ],
        [
            "Read the file as Windows-1252 and wrote it as UTF-8.",
            "Added the UTF-8 byte order mark.",
        ],
        [],
        id="Windows-1252",
    ),
    pytest.param(
        # The row after the three-line record: its first line is 6.
        GOOD.replace(b"cccc3333,approved,", b"cccc3333,approved,extra,"),
        [
            (
                6,
                "events.csv line 6: the row has 33 values, but the header has 32 columns. A value holding a comma may have lost its quotes",
                False,
            )
        ],
        [],
        [(6, "33 values")],
        id="an extra value after a record over three lines",
    ),
    pytest.param(
        GOOD.replace(b"cccc3333,approved,", b"cccc3333,"),
        [
            (
                6,
                "events.csv line 6: the row has 31 values, but the header has 32 columns. A value may be missing",
                False,
            )
        ],
        [],
        [(6, "31 values")],
        id="a missing value",
    ),
    pytest.param(
        GOOD.replace(b"bbbb2222,approved,", b"bbbb2222,"),
        [(3, "events.csv line 3: the row has 31 values", False)],
        [],
        [(3, "31 values")],
        id="a missing value in a record over three lines",
    ),
    pytest.param(
        encode(edited(r2={"id": "aaaa1111"})),
        [
            (
                6,
                "events.csv lines 2 and 6: id 'aaaa1111' is used twice; each row needs its own. Give one of them a new id by hand.",
                False,
            )
        ],
        [],
        [(6, "lines 2 and 6")],
        id="a duplicated id",
    ),
    pytest.param(
        encode(dates("is_sample", "TRUE", "FALSE", "True", "")),
        [
            (
                2,
                "is_sample is 'TRUE', not true or false. Fixing the file rewrites it as true.",
                True,
            ),
            (3, "is_sample is 'FALSE'", True),
            (6, "is_sample is 'True'", True),
        ],
        ["Changed 3 values of is_sample from TRUE/True/FALSE to true/false."],
        [],
        id="spreadsheet booleans",
    ),
    pytest.param(
        GOOD.removeprefix(BOM),
        [
            (
                None,
                "events.csv has no UTF-8 byte order mark, which spreadsheets need to show accented letters correctly. Fixing the file adds it.",
                True,
            )
        ],
        ["Added the UTF-8 byte order mark."],
        [],
        id="no byte order mark",
    ),
    pytest.param(
        encode(GOOD_ROWS, newline="\n", bom=False),
        [(None, "no UTF-8 byte order mark", True)],
        [
            "Changed the line ends to CR LF, as the app writes them.",
            "Added the UTF-8 byte order mark.",
        ],
        [],
        id="LF line ends and no byte order mark, as LibreOffice saves",
    ),
    pytest.param(
        encode(
            edited(r0={"latitude": "48,8566"}, r3={"latitude": "-33,86", "longitude": "151,21"})
        ),
        [
            (
                2,
                "latitude is '48,8566', not a latitude from -90 to 90 like 48.8566. Fixing the file rewrites it as 48.8566.",
                True,
            ),
            (7, "latitude is '-33,86'", True),
            (7, "longitude is '151,21'", True),
        ],
        [
            "Changed 2 values of latitude from a decimal comma to a decimal point (48,8566 to 48.8566).",
            "Changed 1 value of longitude from a decimal comma to a decimal point (151,21 to 151.21).",
        ],
        [],
        id="decimal commas",
    ),
    pytest.param(
        encode(edited(r0={"status": "Approved"}, r1={"status": " pending"})),
        [
            (
                2,
                "status is 'Approved', not one of pending, approved, rejected, withdrawn. Fixing the file rewrites it as approved.",
                True,
            ),
            (3, "status is ' pending'", True),
        ],
        [
            "Changed the letter case of 1 value of status (Approved to approved).",
            "Removed the spaces around 1 value of status.",
        ],
        [],
        id="a capital and a space",
    ),
    pytest.param(
        GOOD + b"\r\n" + b"," * 27 + b"\r\n" + b",,,\r\n",
        [
            (8, "events.csv line 8: the row is empty. Fixing the file removes it.", True),
            (9, "line 9: the row is empty", True),  # commas alone
            (10, "line 10: the row is empty", True),
        ],
        ["Removed 3 empty rows (lines 8, 9 and 10)."],
        [],
        id="empty rows",
    ),
    pytest.param(
        encode(GOOD_ROWS, newline="\r"),  # values keep their own CR LF
        [
            (
                None,
                "events.csv ends its lines with a carriage return alone (an old Mac format), which the app cannot read. Fixing the file changes the line ends to CR LF.",
                True,
            )
        ],
        ["Changed the line ends to CR LF, as the app writes them."],
        [],
        id="old Mac line ends",
    ),
    pytest.param(
        encode(
            edited(
                r0={
                    "status": "maybe",
                    "version": "-1",
                    "latitude": "95",
                    "starts_at": "2027-02-30T18:00",
                    "id": "a b",
                },
                r1={"starts_at": "", "version": ""},
            )
        ),
        [
            (
                2,
                "events.csv line 2: id is 'a b', not an id of 6 to 32 letters, digits, _ or -.",
                False,
            ),
            (2, "status is 'maybe', not one of pending, approved, rejected, withdrawn.", False),
            (
                2,
                "starts_at is '2027-02-30T18:00', not a date and time like 2027-02-28T18:00.",
                False,
            ),
            (3, "events.csv line 3: starts_at is empty, but every row needs one.", False),
            (2, "latitude is '95', not a latitude from -90 to 90 like 48.8566.", False),
            (2, "version is '-1', not a whole number like 3.", False),
            (3, "version is empty", False),
        ],
        [],
        [
            (2, "id is 'a b'"),
            (2, "'maybe'"),
            (2, "2027-02-30"),
            (3, "starts_at is empty"),
            (2, "'95'"),
            (2, "'-1'"),
            (3, "version is empty"),
        ],
        id="values that are plainly wrong",
    ),
    pytest.param(
        # A stray quote mark opens a value that swallows the rows after it.
        GOOD.replace(b"cccc3333,approved,", b'cccc3333,approved,"'),
        [
            (
                6,
                "events.csv line 6: a quoted value starts on this line and is never closed, so the rows after it read as one value. Remove or close the stray quote mark",
                False,
            )
        ],
        [],
        [(6, "never closed")],
        id="a stray quote mark",
    ),
    pytest.param(
        # What a writer that died mid-append leaves: named, not damage, left as it is.
        GOOD + b"eeee5555,pend",
        [
            (
                8,
                "events.csv line 8: the last row does not end with a line break, so the app takes it for an interrupted write and leaves it out.",
                False,
            )
        ],
        [],
        [(8, "interrupted write")],
        id="an unfinished last row",
    ),
    pytest.param(
        encode([row for row in GOOD_ROWS], header=FIELDS_BEFORE_CHANGES),
        [],
        [],
        [],
        id="the header before the version column",
    ),
    pytest.param(
        encode([{**row, "notes": "kept"} for row in GOOD_ROWS], header=(*COLUMNS, "notes")),
        [],
        [],
        [],
        id="an extra column at the end",
    ),
]


@pytest.mark.parametrize(("data", "expected", "changes", "remaining"), EDITS)
def test_each_hand_edit_is_named_with_its_line_and_fixed_when_safe(
    data: bytes,
    expected: list[tuple[int | None, str, bool]],
    changes: list[str],
    remaining: list[tuple[int | None, str]],
) -> None:
    problems = check_file(data, EXAMPLE_SPEC)

    assert [(p.line, p.fixable) for p in problems] == [
        (line, fixable) for line, _, fixable in expected
    ]
    for problem, (_, part, _) in zip(problems, expected, strict=True):
        assert part in problem.message
    result = fix_file(data, EXAMPLE_SPEC)
    assert result.changes == changes
    assert [(p.line, p.fixable) for p in result.remaining] == [
        (line, False) for line, _ in remaining
    ]
    for problem, (_, part) in zip(result.remaining, remaining, strict=True):
        assert part in problem.message
    if not changes:
        assert result.data == data  # never rewritten without a change to name


FIXABLE_EDITS = [edit for edit in EDITS if edit.values[2] and not edit.values[3]]
TEXT_COLUMNS = [COLUMNS.index(name) for name in COLUMNS if name not in EXAMPLE_SPEC.rules]


@pytest.mark.parametrize(("data", "expected", "changes", "remaining"), FIXABLE_EDITS)
def test_a_fixed_file_passes_every_check_and_keeps_every_text(
    data: bytes,
    expected: list[tuple[int | None, str, bool]],
    changes: list[str],
    remaining: list[tuple[int | None, str]],
) -> None:
    fixed = fix_file(data, EXAMPLE_SPEC).data

    assert fixed.startswith(BOM)
    assert all(record.endswith(b"\r\n") for record in split_records(fixed)[0])
    assert check_as_the_store_does(fixed) == []
    assert check_file(fixed, EXAMPLE_SPEC) == []
    assert fix_file(fixed, EXAMPLE_SPEC).changes == []  # nothing left to do
    # Every text as the csv module reads the original, in its own encoding and separator.
    before = texts_of(
        data,
        delimiter=";" if "Changed the separator from ';' to ','." in changes else ",",
        encoding="cp1252" if "Read the file as Windows-1252" in changes[0] else "utf-8-sig",
    )
    after = texts_of(fixed)
    assert len(after) == len([row for row in before if any(row)])
    for column in TEXT_COLUMNS:
        assert [row[column] for row in after] == [row[column] for row in before if any(row)]


def test_a_windows_1252_file_keeps_its_letters() -> None:
    data = encode(CP1252_ROWS, encoding="cp1252", bom=False)

    rows = texts_of(fix_file(data, EXAMPLE_SPEC).data)

    assert [row[COLUMNS.index("city")] for row in rows[1:]] == ["Kraków", "São Paulo", "Zürich"]
    assert rows[3][COLUMNS.index("title")] == "Treffen in Zürich – „Café“"


def test_the_store_sees_the_same_problems_in_a_good_file_and_in_hand_edits() -> None:
    assert check_as_the_store_does(GOOD) == []
    duplicated = encode(edited(r2={"id": "aaaa1111"}))
    assert [p.line for p in check_as_the_store_does(duplicated)] == [6]
    extra = GOOD.replace(b"cccc3333,approved,", b"cccc3333,approved,x,")
    assert [(p.line, p.fixable) for p in check_as_the_store_does(extra)] == [(6, False)]
    # An unfinished last row is named but is not damage: the store reads the rest.
    assert [(p.line, p.damage) for p in check_as_the_store_does(GOOD + b"eeee5555,pe")] == [
        (8, False)
    ]


# The header


@pytest.mark.parametrize(
    ("header", "kind", "messages"),
    [
        (COLUMNS, "current", []),
        ((*COLUMNS, "notes", "extra"), "current", []),  # kept by the store
        (FIELDS_BEFORE_CHANGES, "older", []),
        ((*FIELDS_BEFORE_CHANGES, "notes"), "older", []),
        ((*FIELDS_BEFORE_CHANGES, "version"), "older", []),
        (("\ufeff" + COLUMNS[0], *COLUMNS[1:]), "current", []),  # a BOM read as text
        (
            (*COLUMNS[:5], "Start", *COLUMNS[6:]),
            "unknown",
            [
                "events.csv: the header has no column starts_at (found Start where it used to be). Rename the column back to starts_at; nothing was changed."
            ],
        ),
        (
            (*COLUMNS[:5], "starts_at ", *COLUMNS[6:]),  # a trailing space is hard to see
            "unknown",
            [
                "events.csv: the header has no column starts_at (found 'starts_at ' where it used to be)."
            ],
        ),
        (
            tuple(name for name in COLUMNS if name not in ("city", "region")),
            "unknown",
            [
                "events.csv: the header has no column city. Add it back after address; nothing was changed.",
                "events.csv: the header has no column region. Add it back after city; nothing was changed.",
            ],
        ),
        (
            # Compared with the older header, which lacks version too: only city is named.
            tuple(name for name in FIELDS_BEFORE_CHANGES if name != "city"),
            "unknown",
            [
                "events.csv: the header has no column city. Add it back after address; nothing was changed."
            ],
        ),
        (
            (*COLUMNS[:10], COLUMNS[11], COLUMNS[10], *COLUMNS[12:]),  # city and region swapped
            "unknown",
            [
                "events.csv: the column region is column 11 (K) but belongs at column 12 (L), after city. Move it back; nothing was changed."
            ],
        ),
        (
            (*COLUMNS[:5], "notes", *COLUMNS[5:]),
            "unknown",
            [
                "events.csv: the header has a column notes the app does not know at column 6 (F), among its own columns. Move it to the end, where extra columns are kept, or delete it; nothing was changed."
            ],
        ),
        (
            (*COLUMNS, "title"),
            "unknown",
            [
                "events.csv: the header has the column title twice (columns 3 (C) and 33 (AG)). Keep one; nothing was changed."
            ],
        ),
        (
            (*COLUMNS, ""),  # a spreadsheet's empty column
            "unknown",
            [
                "events.csv: column 33 (AG) of the header has no name. Name it or delete the column; nothing was changed."
            ],
        ),
        (
            (";".join(COLUMNS),),
            "unknown",
            [
                "events.csv: the header is one column holding ';', so the file uses ';' as its separator, as spreadsheets set to many European languages save it. Fixing the file changes the separator to ','."
            ],
        ),
        (
            ("title", "no id column"),
            "unknown",
            [
                "events.csv: the header has no column id. Add it back as the first column; nothing was changed."
            ],
        ),
    ],
)
def test_check_header_names_each_column_that_differs(
    header: tuple[str, ...], kind: str, messages: list[str]
) -> None:
    found_kind, problems = check_header(header, EXAMPLE_SPEC)

    assert found_kind == kind
    assert len(problems) >= len(messages)
    for problem, message in zip(problems, messages, strict=False):
        assert problem.line == 1
        assert problem.message.startswith(message)


def test_a_semicolon_header_is_the_only_fixable_header_problem() -> None:
    _, problems = check_header([";".join(COLUMNS)], EXAMPLE_SPEC)
    assert [p.fixable for p in problems] == [True]
    _, problems = check_header(["Start".join(";".join(COLUMNS).split("starts_at"))], EXAMPLE_SPEC)
    assert [p.fixable for p in problems] == [True, False]  # the separator, then the renamed column


# Records


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        (b"a,b,c\r\n", 3),
        (b"a,b,c", 3),  # without its line end
        (b'a,"b,c",d\r\n', 3),  # a comma inside quotes
        (b'a,"say ""hi"", then",d\r\n', 3),  # escaped quotes
        (b'a,"one\r\ntwo,\r\nthree",d\r\n', 3),  # line breaks inside quotes
        (b'"",""\r\n', 2),
        (b'""""\r\n', 1),  # a value that is one quote mark
        (b",,,\r\n", 4),
        (b"\r\n", 1),
    ],
)
def test_count_fields_honours_quotes(record: bytes, fields: int) -> None:
    assert count_fields(record) == fields


def test_check_records_names_blank_short_and_long_records_by_line() -> None:
    records = [b"a,b,c\r\n", b"\r\n", b",,,,\r\n", b",,\r\n", b"a,b\r\n", b'a,"b\r\nc",d,e\r\n']
    lines = [2, 3, 4, 5, 6, 7]

    problems = check_records(records, lines, 3, EXAMPLE_SPEC)

    assert [(p.line, p.fixable) for p in problems] == [(3, True), (4, True), (6, False), (7, False)]
    assert problems[0].message == "events.csv line 3: the row is empty. Fixing the file removes it."
    assert problems[2].message.startswith(
        "events.csv line 6: the row has 2 values, but the header has 3 columns."
    )
    assert problems[3].message.startswith("events.csv line 7: the row has 4 values")


def test_check_records_names_a_carriage_return_outside_quotes() -> None:
    # pandas would end the row there; the store's records would not: the two would disagree.
    records = [b'a,"b\rc",d\r\n', b"a,b\rc,d\r\n"]

    problems = check_records(records, [2, 3], 3, EXAMPLE_SPEC)

    assert [str(p) for p in problems] == [
        "events.csv line 3: the row holds a carriage return outside quotes, which other programs"
        " take for a line end. Remove it or put the value in quotes; nothing was changed."
    ]


def test_check_records_keeps_a_long_list_short() -> None:
    records = [b"a,b\r\n"] * 25

    problems = check_records(records, list(range(2, 27)), 3, EXAMPLE_SPEC)

    assert [p.line for p in problems] == [*range(2, 22), None]
    assert problems[-1].message == (
        "events.csv: and 5 more rows that are empty or have a wrong number of values, up to line 26."
    )


# Values


def frame_of(rows: list[dict[str, str]]) -> pd.DataFrame:
    """Return rows as the store's frame: strings, in file order."""
    return pd.DataFrame(
        [[row[name] for name in COLUMNS] for row in rows], columns=COLUMNS, dtype=str
    )


@pytest.mark.parametrize(
    ("column", "value", "fixable"),
    [
        # fixable: None when the value is right, else whether fixing the file corrects it.
        ("id", "5g2bex77", None),
        ("id", "ab", False),  # too short
        ("id", "x" * 33, False),  # too long
        ("id", "abc 123", False),
        ("id", " abc123", False),  # a key is never changed
        ("status", "withdrawn", None),
        ("status", "WITHDRAWN", True),
        ("status", "", False),  # required
        ("starts_at", "2028-02-29T00:00", None),  # a leap day
        ("starts_at", "2027-02-29T00:00", False),
        ("starts_at", "2027-04-31T10:00", False),
        ("starts_at", "2027-02-28T24:00", False),
        ("starts_at", "2027-2-28T18:00", True),  # one digit for the month: still one reading
        ("starts_at", "2027-02-28T18:00Z", False),  # a local time has no zone
        ("starts_at", "2027-02-28 18:00", True),
        ("starts_at", "2027-02-28T18:00:00", True),
        ("starts_at", "2027-02-28 18:00:30", False),  # its seconds would be lost
        ("starts_at", "28.02.2027 18:00", True),  # German: the 28 shows the day
        ("starts_at", "２０２７-02-28T18:00", False),  # full-width digits
        ("ends_at", "", None),  # not required
        ("ends_at", "   ", True),  # spaces alone: left empty
        ("created_at", "2026-09-25T10:09:00Z", None),
        ("created_at", "2026-09-25T10:09:00", True),
        ("created_at", "2026-09-25T10:09Z", True),
        ("created_at", "2026/09/25 10:09", True),
        ("latitude", "-90", None),
        ("latitude", "90.000", None),
        ("latitude", "90.0001", False),
        ("latitude", "-89.999999", None),
        ("latitude", "048.5", None),
        ("latitude", ".5", False),
        ("latitude", "5.", False),
        ("latitude", "1e1", False),
        ("latitude", "٣", False),  # an Arabic-Indic digit
        ("latitude", "48,8566", True),
        ("latitude", "95,5", False),  # out of range however it is read
        ("longitude", "180", None),
        ("longitude", "-179.5", None),
        ("longitude", "180.5", False),
        ("longitude", "1,234", True),  # no longitude is a thousand
        ("is_sample", "true", None),
        ("is_sample", "FALSE", True),
        ("is_sample", "yes", False),  # people mean many things by yes
        ("is_sample", "1", False),
        ("version", "12", None),
        ("version", "+1", False),
        ("version", "1.0", False),
    ],
)
def test_check_frame_judges_each_kind_of_value(
    column: str, value: str, fixable: bool | None
) -> None:
    frame = frame_of([event(**{column: value})])

    problems = check_frame(frame, [2], EXAMPLE_SPEC)

    assert [(p.line, p.fixable) for p in problems] == ([] if fixable is None else [(2, fixable)])
    if problems:
        assert problems[0].message.startswith(f"events.csv line 2: {column} is ")


def test_check_frame_keeps_a_wholly_broken_column_readable() -> None:
    rows = [event(id=f"event{n:04d}", starts_at="31/12/2027 18:00") for n in range(500)]

    problems = check_frame(frame_of(rows), list(range(2, 502)), EXAMPLE_SPEC)

    assert [p.line for p in problems] == [*range(2, 22), None]
    assert problems[-1].message == (
        "events.csv: and 480 more problems in starts_at, up to line 501. Fixing the file corrects them."
    )
    assert all(p.fixable for p in problems)


def test_check_frame_names_every_line_of_a_duplicated_id() -> None:
    rows = [event(id="same0001"), event(id="other001"), event(id="same0001"), event(id="same0001")]

    problems = check_frame(frame_of(rows), [2, 5, 9, 12], EXAMPLE_SPEC)

    assert [p.line for p in problems] == [9]
    assert problems[0].message == (
        "events.csv lines 2, 9 and 12: id 'same0001' is used 3 times; each row needs its own."
        " Give all but one of them a new id by hand."
    )


def test_check_frame_counts_a_missing_value_as_empty() -> None:
    frame = frame_of([event(ends_at="x"), event(id="bbbb2222")])
    frame.loc[0, "ends_at"] = None  # as pandas reads an empty field unless told to keep strings
    frame.loc[1, "starts_at"] = None

    problems = check_frame(frame, [2, 3], EXAMPLE_SPEC)

    assert [str(p) for p in problems] == [
        "events.csv line 3: starts_at is empty, but every row needs one."
    ]


def test_check_frame_names_an_empty_row_once() -> None:
    rows = [event(), dict.fromkeys(COLUMNS, "")]

    problems = check_frame(frame_of(rows), [2, 3], EXAMPLE_SPEC)

    assert [str(p) for p in problems] == [
        "events.csv line 3: the row is empty. Fixing the file removes it."
    ]


# Bytes


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (GOOD, []),
        (b"\xff\xfei\x00d\x00", [(None, "is saved as UTF-16", False, True)]),
        (b"", [(None, "has no complete header row", False, True)]),
        (BOM + b"id,status", [(None, "has no complete header row", False, True)]),
        (
            GOOD.replace(b"cccc3333", b"cccc\x003333"),
            [(6, "line 6 holds a zero byte", False, True)],
        ),
        (
            # Windows-1252 bytes in a file that is UTF-8 elsewhere (Kraków on line 6).
            GOOD.replace(b"dddd4444,approved,Rare", "dddd4444,approved,São".encode("cp1252")),
            [
                (
                    7,
                    "line 7: the byte 0xE3 is not UTF-8, yet other text in the file is: the file mixes two encodings.",
                    False,
                    True,
                )
            ],
        ),
        (
            ASCII.replace(b"tea party", b"tea \x81 party"),  # 0x81 is no Windows-1252 letter
            [(2, "line 2: the byte 0x81 is neither UTF-8 nor Windows-1252 text.", False, True)],
        ),
        (
            encode(CP1252_ROWS[1:], encoding="cp1252"),  # even with a BOM
            [(2, "the line says 'São'). Fixing the file converts it to UTF-8.", True, True)],
        ),
        (GOOD.removeprefix(BOM), [(None, "no UTF-8 byte order mark", True, False)]),
        (GOOD + b"eeee5555,pend", [(8, "interrupted write", False, False)]),
        (GOOD + b'eeee5555,pending,"Open', [(8, "interrupted write", False, False)]),
        (encode(GOOD_ROWS, delimiter=";"), [(1, "uses ';' as its separator", True, True)]),
    ],
)
def test_check_raw_names_what_is_wrong_with_the_bytes(
    data: bytes, expected: list[tuple[int | None, str, bool, bool]]
) -> None:
    problems = check_raw(data, EXAMPLE_SPEC)

    assert [(p.line, p.fixable, p.damage) for p in problems] == [
        (line, fixable, damage) for line, _, fixable, damage in expected
    ]
    for problem, (_, part, _, _) in zip(problems, expected, strict=True):
        assert part in problem.message
        assert str(problem) == problem.message


def test_a_damaged_file_is_returned_unchanged() -> None:
    data = ASCII.replace(b"tea party", b"tea \x81 party")

    result = fix_file(data, EXAMPLE_SPEC)

    assert result.data == data
    assert result.changes == []
    assert [p.line for p in result.remaining] == [2]


def test_an_unfinished_last_row_is_kept_as_it_is_by_a_fix() -> None:
    data = encode(dates("is_sample", "TRUE", "true", "", "")) + b"eeee5555,pend"

    result = fix_file(data, EXAMPLE_SPEC)

    assert result.changes == ["Changed 1 value of is_sample from TRUE to true."]
    assert result.data.endswith(b"\r\neeee5555,pend")


# Properties

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=5),
    edit=st.sampled_from(["no BOM", "LF and no BOM", "semicolons", "TRUE"]),
)
def test_fixing_a_clean_file_keeps_every_text_exactly(
    texts: list[tuple[str, str, str]], edit: str
) -> None:
    rows = [
        event(id=f"row{n:05d}", title=title, description=description, moderation_note=note)
        for n, (title, description, note) in enumerate(texts)
    ]
    if edit == "TRUE":
        rows = [{**row, "is_sample": "TRUE"} for row in rows]
    data = encode(
        rows,
        bom=edit == "semicolons" or edit == "TRUE",
        delimiter=";" if edit == "semicolons" else ",",
        newline="\n" if edit.startswith("LF") else "\r\n",
        # With LF alone, the csv module would leave a CR in a value unquoted: not CSV any more.
        quoting=csv.QUOTE_ALL if edit.startswith("LF") else csv.QUOTE_MINIMAL,
    )

    result = fix_file(data, EXAMPLE_SPEC)

    assert result.changes
    assert result.remaining == []
    assert check_as_the_store_does(result.data) == []
    fixed = texts_of(result.data)
    for name in ("title", "description", "moderation_note"):
        column = COLUMNS.index(name)
        assert [row[column] for row in fixed[1:]] == [row[name] for row in rows]


# Spreadsheet and editor debris, pasted anywhere: quotes, separators, line ends, other encodings.
DEBRIS = [
    b'"',
    b",",
    b";",
    b"\r",
    b"\n",
    b"\x00",
    b"\xe9",
    b"\xc3\xa9",
    b"\x81",
    b"TRUE",
    b"28/02/2027",
]
BASES = [
    GOOD,
    encode(every_row(latitude="48,85"), delimiter=";"),
    encode(CP1252_ROWS, encoding="cp1252", bom=False),
    encode(GOOD_ROWS, newline="\r"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(BASES),
    edits=st.lists(
        st.tuples(st.integers(0, 3000), st.integers(0, 5), st.sampled_from(DEBRIS)), max_size=6
    ),
)
def test_any_hand_edit_is_named_and_one_fix_does_all_it_can(
    base: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    data = base
    for at, cut, piece in edits:
        data = data[:at] + piece + data[at + cut :]

    check_as_the_store_does(data)  # names, never raises
    result = fix_file(data, EXAMPLE_SPEC)

    assert not [problem for problem in result.remaining if problem.fixable]
    if result.changes:
        assert fix_file(result.data, EXAMPLE_SPEC).changes == []
    else:
        assert result.data == data


# Speed


def test_checking_50000_rows_is_quick() -> None:
    rows = [
        event(
            id=f"ev{n:06d}",
            starts_at=f"2027-02-{n % 28 + 1:02d}T{n % 24:02d}:{n % 60:02d}",
            latitude=f"{(n % 18000) / 100 - 90:.6f}",
            longitude=f"{(n % 36000) / 100 - 180:.6f}",
            description=["plain", 'with "quotes", commas\nand a line break', ""][n % 3],
            version=str(n % 7 + 1),
        )
        for n in range(50_000)
    ]
    records, lines = split_records(encode(rows))
    frame = pd.read_csv(io.BytesIO(b"".join(records)), dtype=str, keep_default_na=False)
    timings: dict[str, tuple[float, float]] = {}

    def timed(label: str, check: Callable[[], object]) -> object:
        """Return what check returns; note its best time of three, wall clock and processor."""
        times = []
        for _ in range(3):
            wall, processor = time.perf_counter(), time.process_time()
            result = check()
            times.append((time.perf_counter() - wall, time.process_time() - processor))
        timings[label] = min(times)
        return result

    assert timed("check_frame", lambda: check_frame(frame, lines[1:], EXAMPLE_SPEC)) == []
    assert (
        timed("count_fields", lambda: [count_fields(r) for r in records[1:]])
        == [len(COLUMNS)] * 50_000
    )
    assert (
        timed(
            "check_records",
            lambda: check_records(records[1:], lines[1:], len(COLUMNS), EXAMPLE_SPEC),
        )
        == []
    )
    shown = [f"{label} {wall * 1000:.0f} ms" for label, (wall, _) in timings.items()]
    busy = [f"{processor * 1000:.0f}" for _, processor in timings.values()]
    print(f"At 50,000 rows: {', '.join(shown)} (processor time {', '.join(busy)} ms)")
