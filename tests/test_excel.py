"""The Excel export people open: labels, typed cells, UTC times, no formula, widths, read back."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import access, create_app
from mapapp.events import FIELDS, current_edition, edition_date
from mapapp.excel import MAX_WIDTH, SHEET_LAYOUT, WIDTH_PADDING, utc_times
from mapapp.exports import render_export
from mapapp.imports import import_events
from mapapp.publication import finish_renders
from mapapp.storage import EventStore
from mapapp.storage.blobs import BlobStore
from tests.conftest import add_valid_event, make_event

INJECTIONS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", '=HYPERLINK("http://x","y")']
# What the import reads back of an event: what a partner's file can carry.
IMPORTED_FIELDS = [
    "title", "category", "format", "starts_at", "ends_at", "timezone", "venue", "address", "city",
    "region", "country", "latitude", "longitude", "organiser", "website", "description",
    "language",
]  # fmt: skip


def frame_of(*events: dict[str, str]) -> pd.DataFrame:
    """Return a store-like frame of strings holding these events (missing fields empty)."""
    rows = [{name: event.get(name, "") for name in FIELDS} for event in events]
    return pd.DataFrame(rows, columns=list(FIELDS), dtype=str)


def workbook(body: bytes) -> tuple[Any, list[str], list[dict[str, Any]]]:
    """Return a workbook's sheet, its header and its rows as dicts by header."""
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    cells = list(sheet.iter_rows())
    header = [str(cell.value) for cell in cells[0]]
    rows = [dict(zip(header, [cell.value for cell in row], strict=True)) for row in cells[1:]]
    return sheet, header, rows


@pytest.mark.parametrize(
    ("local", "zone", "utc"),
    [
        ("2027-02-28T18:00", "Europe/Paris", datetime(2027, 2, 28, 17, 0)),  # winter: +01:00
        ("2027-07-01T18:00", "Europe/Paris", datetime(2027, 7, 1, 16, 0)),  # summer: +02:00
        ("2027-02-28T12:00", "America/New_York", datetime(2027, 2, 28, 17, 0)),
        ("2027-02-28T09:00", "Asia/Kolkata", datetime(2027, 2, 28, 3, 30)),  # half-hour offset
        ("2027-02-28T08:00", "Pacific/Auckland", datetime(2027, 2, 27, 19, 0)),  # the day before
        ("2027-02-28T18:00", "UTC", datetime(2027, 2, 28, 18, 0)),
        ("2027-02-28T18:00", "", datetime(2027, 2, 28, 18, 0)),  # no zone: stored as UTC
        # The repeated hour when clocks go back: its first time (fold 0, summer time).
        ("2027-10-31T02:30", "Europe/Paris", datetime(2027, 10, 31, 0, 30)),
        ("", "Europe/Paris", None),  # no end
        ("soon", "Europe/Paris", None),  # unreadable, by hand: the local column shows the text
        ("2027-02-28T18:00", "Mars/Olympus_Mons", None),  # a zone this system does not know
        ("2027-02-28T18:00", "localtime", None),  # a file name, not a zone
    ],
)
def test_utc_times(local: str, zone: str, utc: datetime | None) -> None:
    assert utc_times([local], [zone]) == [utc]


def test_start_and_end_come_again_in_utc_after_the_zone() -> None:
    frame = frame_of(
        make_event(starts_at="2027-02-28T18:00", ends_at="2027-03-01T01:30", timezone="Asia/Tokyo")
    )
    sheet, header, rows = workbook(render_export("xlsx", frame)[0])
    position = header.index("Time zone")
    assert header[position - 2 : position + 3] == [
        "Start", "End", "Time zone", "Start (UTC)", "End (UTC)",
    ]  # fmt: skip
    (row,) = rows
    assert (row["Start"], row["End"]) == (datetime(2027, 2, 28, 18, 0), datetime(2027, 3, 1, 1, 30))
    assert row["Time zone"] == "Asia/Tokyo"
    assert (row["Start (UTC)"], row["End (UTC)"]) == (
        datetime(2027, 2, 28, 9, 0),
        datetime(2027, 2, 28, 16, 30),
    )
    for name in ("Start", "End", "Start (UTC)", "End (UTC)"):
        cell = sheet.cell(row=2, column=header.index(name) + 1)
        assert cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm", name


def test_cells_are_typed_and_codes_have_labels() -> None:
    frame = frame_of(
        make_event(
            id="abc123",
            status="pending",
            category="sport",
            format="hybrid",
            country="CI",
            latitude="5.359952",
            longitude="-4.008256",
            location_precision="address",
            is_sample="true",
        ),
        make_event(id="def456", is_sample=""),
    )
    sheet, header, rows = workbook(render_export("xlsx", frame, private=True)[0])
    first = rows[0]
    assert first["Status"] == "Pending review"
    assert (first["Category"], first["Category code"]) == ("Sport or walk", "sport")
    assert (first["Format"], first["Format code"]) == ("Hybrid", "hybrid")
    assert (first["Country"], first["Country code"]) == ("Côte d'Ivoire", "CI")
    assert first["Location precision"] == "Street address"
    assert (first["Latitude"], first["Longitude"]) == (5.359952, -4.008256)
    assert (first["Sample flag"], rows[1]["Sample flag"]) == (True, None)
    assert first["Contact e-mail"] == "organiser@example.org"
    types = {name: sheet.cell(row=2, column=header.index(name) + 1).data_type for name in header}
    assert (types["Latitude"], types["Longitude"], types["Sample flag"]) == ("n", "n", "b")
    assert types["Title"] == types["Id"] == "s"
    assert sheet.cell(row=2, column=header.index("Latitude") + 1).number_format == "0.000000"


def test_values_a_cell_kind_cannot_hold_are_written_as_they_are() -> None:
    # A hand-edited file: text where a number or a time belongs. The export still opens.
    frame = frame_of(make_event(latitude="n/a", longitude="", starts_at="soon", is_sample="yes"))
    sheet, header, (row,) = workbook(render_export("xlsx", frame)[0])
    assert (row["Latitude"], row["Longitude"], row["Start"]) == ("n/a", None, "soon")
    assert (row["Start (UTC)"], row["Sample flag"]) == (None, None)
    assert sheet.cell(row=2, column=header.index("Latitude") + 1).data_type == "s"


def test_formula_like_text_is_a_string_cell_and_the_file_holds_no_formula() -> None:
    frame = frame_of(
        *(make_event(title=text, organiser=text, description=text) for text in INJECTIONS),
        make_event(title="#N/A", organiser="#DIV/0!", description="'quoted already"),
    )
    body = render_export("xlsx", frame)[0]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        parts = {name: archive.read(name).decode() for name in archive.namelist()}
    for name, xml in parts.items():
        assert not re.search(r"<(\w+:)?f[\s>/]", xml), f"a formula in {name}"
        assert "quotePrefix" not in xml, name  # no hidden leading quote either
    sheet_xml = parts["xl/worksheets/sheet1.xml"]
    assert "<is><t>=1+1</t></is>" in sheet_xml  # an inline string, as it was written
    sheet, header, rows = workbook(body)
    for position, text in enumerate(INJECTIONS):
        for name in ("Title", "Organiser", "Description"):
            cell = sheet.cell(row=position + 2, column=header.index(name) + 1)
            assert (cell.data_type, cell.value) == ("s", text.replace("\r", "\n")), name
    assert (rows[-1]["Title"], rows[-1]["Organiser"]) == ("#N/A", "#DIV/0!")
    assert rows[-1]["Description"] == "'quoted already"  # a stored quote is the organiser's


def test_autofilter_frozen_header_and_widths_that_fit() -> None:
    frame = frame_of(
        make_event(title="A" * 300, city="Bath", description="Short."),
        make_event(title="Light up", city="Llanfairpwllgwyngyll", description="", country="GB"),
    )
    sheet, header, rows = workbook(render_export("xlsx", frame)[0])
    last_column = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A1:{last_column}3"
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])

    def width(name: str) -> float:
        letter = openpyxl.utils.get_column_letter(header.index(name) + 1)
        return float(sheet.column_dimensions[letter].width)

    # Within a character of what was asked: Excel's widths add a little padding of their own.
    assert width("Title") == pytest.approx(MAX_WIDTH + WIDTH_PADDING, abs=1)  # capped
    assert width("City") == pytest.approx(len("Llanfairpwllgwyngyll") + WIDTH_PADDING, abs=1)
    assert width("Description") == pytest.approx(len("Description") + WIDTH_PADDING, abs=1)
    # The names the cells show, not the codes they come from.
    assert width("Country") == pytest.approx(len("United Kingdom") + WIDTH_PADDING, abs=1)
    assert width("Country code") == pytest.approx(len("Country code") + WIDTH_PADDING, abs=1)
    assert width("Start (UTC)") >= len("2027-02-28 18:00")


def test_an_empty_export_is_a_header_with_its_filter() -> None:
    sheet, header, rows = workbook(render_export("xlsx", frame_of())[0])
    assert rows == [] and header[:3] == ["Id", "Status", "Title"]
    assert sheet.auto_filter.ref.startswith("A1:")


def test_private_xlsx_of_the_admin_export_is_labelled(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    add_valid_event(store, title="Pending in Berlin", status="pending", city="Berlin", country="DE")
    response = coordinator_client.get("/admin/export?format=xlsx&status=pending")
    assert response.status_code == 200
    _, header, (row,) = workbook(response.data)
    for label in ("Contact e-mail", "Moderation note", "Start (UTC)", "Country code"):
        assert label in header
    assert not [name for name in header if "_" in name]  # no field name is left raw
    assert (row["Title"], row["Status"], row["Country"]) == (
        "Pending in Berlin",
        "Pending review",
        "Germany",
    )


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_the_import_reads_our_own_xlsx_export_back(
    app: Flask, store: EventStore, tmp_path: Path, private: bool
) -> None:
    day = edition_date(current_edition()).isoformat()
    stored = [
        add_valid_event(store, starts_at=f"{day}T18:00", ends_at=f"{day}T22:00"),
        add_valid_event(
            store,
            title="Walk for Rare in Madrid",
            category="sport",
            city="Madrid",
            country="ES",
            timezone="Europe/Madrid",
            latitude="40.416775",
            longitude="-3.703790",
            starts_at=f"{day}T10:00",
            ends_at="",
        ),
        add_valid_event(
            store,
            title="Webinar: living with a rare disease",
            category="talk",
            format="online",
            venue="",
            city="",
            country="CI",
            latitude="",
            longitude="",
            location_precision="none",
            timezone="Africa/Abidjan",
            starts_at=f"{day}T12:00",
            ends_at=f"{day}T13:30",
        ),
    ]
    with app.app_context():
        body = render_export("xlsx", store.frame(), private=private)[0]
    partner_data = tmp_path / "partner-data"
    partner_data.mkdir()
    other = create_app({**app.config, "DATA_DIR": str(partner_data)})
    with other.app_context():
        report = import_events(body, "rare-disease-day-events.xlsx", access.events())
    assert report.columns["starts_at"] == "Start" and report.columns["country"] == "Country"
    # The UTC times and the codes' own columns are the same facts again: left for the reader.
    for label in ("Start (UTC)", "End (UTC)", "Category code", "Country code"):
        assert label in report.ignored_columns
    assert report.warnings == []
    if not private:
        # The public sheet has no contact e-mails, which the import asks for as the form does:
        # every row is read, and refused for that alone.
        assert [(note.title, note.message) for note in report.rejected] == [
            (event["title"], "Contact e-mail: give an address where a coordinator can reach you.")
            for event in stored
        ]
        return
    assert report.rejected == []
    fields = IMPORTED_FIELDS + ["contact_email"]
    assert [{name: event[name] for name in fields} for event in report.added] == [
        {name: event[name] for name in fields} for event in stored
    ]


def test_the_kept_public_xlsx_is_the_labelled_sheet_and_an_older_layout_is_renewed(
    client: FlaskClient, app: Flask, store: EventStore
) -> None:
    add_valid_event(store, title="Paris lights")
    first = client.get("/events.xlsx")
    assert first.headers["Cache-Status"] == "mapapp-exports; fwd=miss; stored"
    kept = client.get("/events.xlsx")
    assert (kept.headers["Cache-Status"], kept.data) == ("mapapp-exports; hit", first.data)
    (blob,) = Path(app.config["DATA_DIR"]).rglob("xlsx-*.blob")
    assert blob.read_bytes() == first.data
    assert "Start (UTC)" in workbook(blob.read_bytes())[1]

    # A copy the previous code kept, of the same events: its version has no layout part.
    family, version = blob.name.removesuffix(".blob").split("--")
    assert version.endswith("-" + SHEET_LAYOUT)
    blob.unlink()
    BlobStore(blob.parent, 10**9).put(
        family, version.removesuffix("-" + SHEET_LAYOUT), b"old"
    ).close()
    stale = client.get("/events.xlsx")  # answered once more while the new layout renders
    assert (stale.headers["Cache-Status"], stale.data) == (
        "mapapp-exports; hit; detail=stale-while-revalidate",
        b"old",
    )
    finish_renders()
    renewed = client.get("/events.xlsx", headers={"If-None-Match": stale.headers["ETag"]})
    assert (renewed.status_code, renewed.headers["Cache-Status"]) == (200, "mapapp-exports; hit")
    # The same sheet (the file's own creation time may differ by the second it was made).
    assert workbook(renewed.data)[1:] == workbook(first.data)[1:]
