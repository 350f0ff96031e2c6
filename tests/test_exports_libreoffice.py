"""The XLSX and CSV exports read back in LibreOffice Calc: every cell shows what was written.

LibreOffice converts our exports to flat OpenDocument (.fods), which records for each cell both
what Calc shows (its text) and what it holds (string, float, date, and any formula), so one
conversion tells both. The XLSX must read back cell for cell: text as written (`=1+1`, never `2`),
dates as dates shown in the sheet's format, coordinates as numbers. The CSV is opened as a person
would open it: UTF-8, with LibreOffice's own guesses (numbers, dates, and formulas run): its
formula-like text must read back as the neutralised text (`'=1+1`), the rest as what it says.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient

from mapapp import create_app
from mapapp.exports import render_export
from tests.conftest import make_event

# A cold profile, the app and two soffice processes: some 6-8 s in all, so out of `make test-fast`.
pytestmark = pytest.mark.slow

SOFFICE = Path("/usr/bin/soffice")
# One process converts a batch of files; a cold profile and the batch take a few seconds.
CONVERT_TIMEOUT_SECONDS = 120
# Comma, double quote, UTF-8 (76), from line 1; every other option LibreOffice's default, which
# guesses numbers and dates and runs formulas, as a person opening the file gets.
CSV_IMPORT = "CSV:44,34,76,1"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
HOSTILE = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    '=HYPERLINK("http://example.org","click")',
    "\t=1+1",
    "\r=2+2",
    "\n=3+3",
    "=cmd|' /C calc'!A0",
]
DATETIME_SHOWN = "%Y-%m-%d %H:%M"  # the sheet's yyyy-mm-dd hh:mm


@dataclass(frozen=True)
class Cell:
    """A cell as LibreOffice read it: what it shows, its value type, value and formula."""

    text: str
    kind: str | None  # string, float, date, boolean... None: empty
    value: str | None
    formula: str | None


class LibreOffice:
    """Headless LibreOffice Calc with a user profile of its own, converting batches of files."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile

    def to_fods(self, files: list[Path], outdir: Path, infilter: str | None = None) -> list[Path]:
        """Convert files to flat OpenDocument in one soffice process and return the new files."""
        command = [
            str(SOFFICE),
            f"-env:UserInstallation={self.profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
        ]
        if infilter:
            command.append(f"--infilter={infilter}")
        command += ["--convert-to", "fods", "--outdir", str(outdir), *map(str, files)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CONVERT_TIMEOUT_SECONDS,
            env={**os.environ, "HOME": str(self.profile)},
            check=False,
        )
        converted = [outdir / (path.stem + ".fods") for path in files]
        missing = [path.name for path in converted if not path.exists()]
        assert not missing, f"soffice did not convert {missing}: {result.stdout}{result.stderr}"
        return converted


@pytest.fixture(scope="session")
def libreoffice(tmp_path_factory: pytest.TempPathFactory) -> LibreOffice:
    """Return LibreOffice with a profile of this test session; in CI a missing one fails."""
    if not SOFFICE.exists():
        message = (
            f"{SOFFICE} is missing: install Debian's LibreOffice Calc "
            "(apt-get install --no-install-recommends libreoffice-calc)."
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return LibreOffice(tmp_path_factory.mktemp("libreoffice-profile"))


@dataclass(frozen=True)
class ReadBack:
    """Our exports as written, and as LibreOffice read them (rows of cells)."""

    written: dict[str, bytes]
    read: dict[str, list[list[Cell]]]


@pytest.fixture(scope="module")
def read_back(libreoffice: LibreOffice, tmp_path_factory: pytest.TempPathFactory) -> ReadBack:
    """Export hostile and ordinary events as XLSX and CSV, public and private, and read them."""
    root = tmp_path_factory.mktemp("libreoffice-exports")
    data_dir = root / "data"
    data_dir.mkdir()
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "test-secret-key",
            "EXPORT_RATE_LIMIT": "off",
        }
    )
    store = app.extensions["mapapp.store"]
    # Straight into the store, as if an older version or a bug let the hostile text through.
    store.add_many(
        [
            *(
                make_event(title=text, organiser=text, description=text, venue=text, city="Lyon")
                for text in HOSTILE
            ),
            make_event(
                title='Walk for Rare in Madrid, «todos» "juntos"',
                category="sport",
                city="Madrid",
                country="ES",
                timezone="Europe/Madrid",
                latitude="40.416775",
                longitude="-3.703790",
                starts_at="2027-02-27T10:00",
                ends_at="",
                description="Meet at the fountain.\nBring a friend; 50% off — 😀",
                is_sample="true",
            ),
            make_event(
                title="Webinar: living with a rare disease",
                category="talk",
                format="online",
                venue="",
                city="",
                country="CI",
                latitude="",
                longitude="",
                location_precision="none",
                timezone="Pacific/Auckland",
                starts_at="2027-02-28T08:00",
                ends_at="2027-02-28T09:30",
            ),
        ]
    )
    client: FlaskClient = app.test_client()
    written: dict[str, bytes] = {
        "public.xlsx": client.get("/events.xlsx").data,
        "public.csv": client.get("/events.csv").data,
    }
    with app.app_context():
        for fmt in ("xlsx", "csv"):
            written[f"private.{fmt}"] = render_export(fmt, store.frame(), private=True)[0]
    for name, body in written.items():
        (root / name).write_bytes(body)
    xlsx = [root / name for name in written if name.endswith(".xlsx")]
    csvs = [root / name for name in written if name.endswith(".csv")]
    converted = libreoffice.to_fods(xlsx, root / "from-xlsx")
    converted += libreoffice.to_fods(csvs, root / "from-csv", infilter=CSV_IMPORT)
    read = {path.name: fods_rows(fods) for path, fods in zip(xlsx + csvs, converted, strict=True)}
    return ReadBack(written, read)


def fods_rows(path: Path) -> list[list[Cell]]:
    """Return the first sheet of a flat OpenDocument file as rows of cells, trailing ones cut."""
    table = next(ET.parse(path).getroot().iter(f"{{{TABLE}}}table"))
    rows: list[list[Cell]] = []
    for row in table.iter(f"{{{TABLE}}}table-row"):
        cells: list[Cell] = []
        for element in row:
            if element.tag not in {f"{{{TABLE}}}table-cell", f"{{{TABLE}}}covered-table-cell"}:
                continue
            repeat = int(element.get(f"{{{TABLE}}}number-columns-repeated", "1"))
            cells += [_cell(element)] * min(repeat, 1000)
        while cells and cells[-1].kind is None and not cells[-1].text:
            cells.pop()
        repeat = int(row.get(f"{{{TABLE}}}number-rows-repeated", "1"))
        rows += [cells] * min(repeat, 1000)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _cell(element: ET.Element) -> Cell:
    """Return what an OpenDocument cell element holds and shows."""
    kind = element.get(f"{{{OFFICE}}}value-type")
    value = None
    for attribute in ("value", "date-value", "boolean-value", "string-value"):
        value = value or element.get(f"{{{OFFICE}}}{attribute}")
    paragraphs = [_text(paragraph) for paragraph in element.findall(f"{{{TEXT}}}p")]
    return Cell("\n".join(paragraphs), kind, value, element.get(f"{{{TABLE}}}formula"))


def _text(element: ET.Element) -> str:
    """Return a paragraph's text with its tabs, runs of spaces and line breaks."""
    parts = [element.text or ""]
    for child in element:
        name = child.tag.rsplit("}", 1)[-1]
        if name == "tab":
            parts.append("\t")
        elif name == "s":
            parts.append(" " * int(child.get(f"{{{TEXT}}}c", "1")))
        elif name == "line-break":
            parts.append("\n")
        else:
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def sheet_values(body: bytes) -> list[list[Any]]:
    """Return the cell values of our workbook, as openpyxl reads them, trailing empties cut."""
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    for row in rows:
        while row and row[-1] is None:
            row.pop()
    return rows


def shown(value: Any) -> str:
    """Return the text Calc shows for one of our cell values, in the sheet's number formats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.strftime(DATETIME_SHOWN)
    if isinstance(value, float):
        return f"{value:.6f}"  # the coordinates' 0.000000
    return str(value)


def csv_records(body: bytes) -> list[list[str]]:
    """Return the records of our CSV as Python's csv module reads them."""
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("name", ["public.xlsx", "private.xlsx"])
def test_xlsx_reads_back_cell_for_cell(read_back: ReadBack, name: str) -> None:
    ours = sheet_values(read_back.written[name])
    theirs = read_back.read[name]
    assert len(theirs) == len(ours) == len(HOSTILE) + 3  # the header, every event
    assert [[cell.text for cell in row] for row in theirs] == [
        [shown(value) for value in row] for row in ours
    ]
    for our_row, their_row in zip(ours, theirs, strict=True):
        for value, cell in zip(our_row, their_row, strict=True):
            if isinstance(value, str):
                assert (cell.kind, cell.formula) == ("string", None), value
            elif isinstance(value, datetime):
                assert (cell.kind, cell.value) == ("date", value.isoformat()), value
            elif isinstance(value, float) and not isinstance(value, bool):
                assert cell.kind == "float" and float(cell.value or "nan") == value, value


def test_xlsx_formula_like_text_is_shown_as_written(read_back: ReadBack) -> None:
    header, *rows = read_back.read["public.xlsx"]
    labels = [cell.text for cell in header]
    titles = [row[labels.index("Title")] for row in rows]
    for text in HOSTILE:
        written = text.replace("\r", "\n")  # the XLSX holds a lone CR as LF, as XML reads it
        (cell,) = [cell for cell in titles if cell.text == written]
        assert (cell.kind, cell.formula) == ("string", None)
    assert not [
        cell for row in rows for cell in row if cell.text in {"2", "4", "6", "#NAME?", "Err:508"}
    ]


def test_xlsx_dates_numbers_and_flags_keep_their_types(read_back: ReadBack) -> None:
    header, *rows = read_back.read["public.xlsx"]
    labels = [cell.text for cell in header]
    by_title = {row[labels.index("Title")].text: row for row in rows}
    madrid = by_title['Walk for Rare in Madrid, «todos» "juntos"']

    def cell(row: list[Cell], label: str) -> Cell:
        position = labels.index(label)
        return row[position] if position < len(row) else Cell("", None, None, None)

    assert cell(madrid, "Start") == Cell("2027-02-27 10:00", "date", "2027-02-27T10:00:00", None)
    assert cell(madrid, "Start (UTC)") == Cell(
        "2027-02-27 09:00", "date", "2027-02-27T09:00:00", None
    )
    assert cell(madrid, "End").kind is None and cell(madrid, "End (UTC)").kind is None
    assert cell(madrid, "Latitude") == Cell("40.416775", "float", "40.416775", None)
    assert cell(madrid, "Longitude") == Cell("-3.703790", "float", "-3.70379", None)
    assert (cell(madrid, "Country").text, cell(madrid, "Country code").text) == ("Spain", "ES")
    assert cell(madrid, "Sample flag").text == "TRUE"
    assert cell(madrid, "Description").text == "Meet at the fountain.\nBring a friend; 50% off — 😀"
    webinar = by_title["Webinar: living with a rare disease"]
    # Auckland is 13 hours ahead in February: the UTC start is the evening before.
    assert cell(webinar, "Start").value == "2027-02-28T08:00:00"
    assert cell(webinar, "Start (UTC)") == Cell(
        "2027-02-27 19:00", "date", "2027-02-27T19:00:00", None
    )
    assert cell(webinar, "End (UTC)").text == "2027-02-27 20:30"
    assert cell(webinar, "Country").text == "Côte d'Ivoire"
    assert cell(webinar, "Latitude").kind is None


@pytest.mark.parametrize("name", ["public.csv", "private.csv"])
def test_csv_reads_back_as_what_each_cell_says(read_back: ReadBack, name: str) -> None:
    ours = csv_records(read_back.written[name])
    theirs = read_back.read[name]
    assert len(theirs) == len(ours) == len(HOSTILE) + 3
    for our_row, their_row in zip(ours, theirs, strict=True):
        their_row = their_row + [Cell("", None, None, None)] * (len(our_row) - len(their_row))
        for text, cell in zip(our_row, their_row, strict=True):
            assert cell.formula is None, text  # nothing was run
            if cell.kind == "float":
                assert float(cell.value or "nan") == float(text), text
            elif cell.kind == "date":  # the stored local times, such as 2027-02-28T18:00
                assert datetime.fromisoformat(cell.value or "") == datetime.fromisoformat(text)
            elif cell.kind == "boolean":
                assert (cell.value, text) in {("true", "true"), ("false", "false")}
            else:
                assert cell.kind in {"string", None}, text
                assert cell.text == text.replace("\r\n", "\n").replace("\r", "\n")


def test_csv_formula_like_text_reads_back_neutralised(read_back: ReadBack) -> None:
    header, *rows = read_back.read["public.csv"]
    names = [cell.text for cell in header]
    assert names[:3] == ["id", "status", "title"]  # field names: what partners re-import
    columns = [names.index(name) for name in ("title", "organiser", "description", "venue")]
    for text in HOSTILE:
        shown = "'" + text.replace("\r", "\n")
        matches = [row for row in rows if row[columns[0]].text == shown]
        assert len(matches) == 1, text
        for position in columns:
            assert (matches[0][position].kind, matches[0][position].text) == ("string", shown)


def test_csv_coordinates_and_start_times_are_numbers_and_dates(read_back: ReadBack) -> None:
    header, *rows = read_back.read["public.csv"]
    names = [cell.text for cell in header]
    madrid = next(row for row in rows if row[names.index("city")].text == "Madrid")
    assert madrid[names.index("longitude")] == Cell("-3.70379", "float", "-3.70379", None)
    assert madrid[names.index("starts_at")].kind == "date"
    assert madrid[names.index("starts_at")].value == "2027-02-27T10:00:00"


def iter_cells(rows: list[list[Cell]]) -> Iterator[Cell]:
    """Yield every cell of rows."""
    for row in rows:
        yield from row


def test_no_cell_of_any_export_became_a_formula_or_an_error(read_back: ReadBack) -> None:
    for name, rows in read_back.read.items():
        for cell in iter_cells(rows):
            if cell.formula is not None:  # Calc keeps a boolean read from XLSX as TRUE()
                assert (name.endswith(".xlsx"), cell.formula) in {
                    (True, "of:=TRUE()"),
                    (True, "of:=FALSE()"),
                }, (name, cell)
            assert not cell.text.startswith(("#", "Err:")), (name, cell)
