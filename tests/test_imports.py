"""Bulk import: column mapping, row validation, geocoding, idempotence, report, CLI and upload."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from mapapp.cli import cli
from mapapp.events import current_edition, format_coordinate
from mapapp.imports import (
    ImportFileError,
    RowNote,
    country_code,
    fingerprint,
    import_events,
    map_columns,
    parse_moment,
)
from mapapp.storage import EventStore
from tests.conftest import make_event

HEADER = [
    "Event name",
    "Type",
    "Format",
    "Start date",
    "Start time",
    "End time",
    "Venue",
    "Town",
    "Country",
    "Organiser",
    "E-mail",
    "Link",
    "Description",
    "Internal notes",
]
# Row numbers as a spreadsheet shows them: the header is row 1.
ROWS: list[list[object]] = [
    # 2: good, placed in Lyon by the gazetteer
    ["Light up Lyon", "Light up for Rare", "In person", "28/02/2027", "18:00", "22:00",
     "Hôtel de Ville", "Lyon", "France", "Alliance Rare", "Contact@Example.org", "www.example.org",
     "Purple lights.", "call back"],
    # 3: good, online, no place: the organisation's country has a single zone
    ["Living with a rare disease", "talk", "online", "2027-02-28", "12:00", "13:30", "", "",
     "Kenya", "EURORDIS", "info@example.org", "https://example.org/webinar", "A webinar.", ""],
    # 4: no title
    ["", "sport", "in person", "2027-02-27", "10:00", "", "", "Madrid", "ES", "FEDER",
     "info@example.org", "", "", ""],
    # 5: a date that does not exist
    ["Walk for Rare", "sport", "in person", "31/02/2027", "10:00", "", "", "Madrid", "Spain",
     "FEDER", "info@example.org", "", "", ""],
    # 6: a country we do not know
    ["Bake sale", "fundraiser", "in person", "2027-02-26", "09:00", "", "", "Cair Paravel",
     "Narnia", "Aslan", "info@example.org", "", "", ""],
    # 7: the same event as row 2, written differently
    ["LIGHT UP  LYON", "illumination", "In person", "2027-02-28", "6pm", "", "", "lyon", "FR",
     "alliance rare", "info@example.org", "", "", ""],
    # 8: good, but a town the gazetteer does not know: imported unplaced, with a warning
    ["Tea party", "social", "in person", "2027-02-28", "15:00", "", "", "Zzyzxville", "FR",
     "Friends", "info@example.org", "", "", ""],
    # 9: a broken e-mail address
    ["Quiz night", "social", "in person", "2027-02-27", "20:00", "", "", "Berlin", "DE", "ACHSE",
     "not-an-email", "", "", ""],
    # 10: a category we do not have
    ["Party", "Disco", "in person", "2027-02-27", "20:00", "", "", "Berlin", "Germany", "ACHSE",
     "info@example.org", "", "", ""],
    # 11: ends before it starts
    ["Concert", "arts", "in person", "2027-02-28", "20:00", "19:00", "", "Rome", "Italy", "UNIAMO",
     "info@example.org", "", "", ""],
    # 12: already in the store (see the `existing` fixture)
    ["Run for Rare", "sport", "in person", "2027-02-28", "09:00", "", "", "Madrid", "ES", "FEDER",
     "info@example.org", "", "", ""],
]  # fmt: skip
EXPECTED_REJECTED = [
    RowNote(4, "Title: give the event a name."),
    RowNote(
        5,
        "Start: we could not read the date '31/02/2027'; write it as 2027-02-28 or 28/02/2027.",
        "Walk for Rare",
    ),
    RowNote(
        6,
        "Country: we do not know 'Narnia'; write the country's name or its two-letter code, "
        "such as FR.",
        "Bake sale",
    ),
    RowNote(9, "Contact e-mail: An email address must have an @-sign.", "Quiz night"),
    RowNote(
        10,
        "Category: 'Disco' is not one of ours; use one of Light up for Rare, Awareness stand or "
        "stall, Talk or conference, Fundraiser, Sport or walk, Social gathering, Policy event, "
        "Arts or contest, Online campaign or social media, Other.",
        "Party",
    ),
    RowNote(11, "End: the event cannot end before it starts.", "Concert"),
]
EXPECTED_WARNINGS = [
    RowNote(
        8,
        "We could not place 'Zzyzxville, FR' on the map; the event is imported without a "
        "location, for a coordinator to place.",
        "Tea party",
    ),
]


def csv_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    """Return a CSV file as a spreadsheet program saves it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    """Return a workbook with real date and time cells where the text is unambiguous."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        cells = list(row)
        try:
            day = datetime.strptime(str(cells[3]), "%Y-%m-%d")
            cells[3] = day  # a date cell, as Excel stores it
        except ValueError:
            pass
        if re.fullmatch(r"\d\d:\d\d", str(cells[4])):
            hours, minutes = map(int, str(cells[4]).split(":"))
            cells[4] = time(hours, minutes)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


FILES = {"csv": csv_bytes, "xlsx": xlsx_bytes}


@pytest.fixture
def existing(store: EventStore) -> dict[str, str]:
    """Store the event that row 12 repeats."""
    return store.add(
        make_event(
            title="Run for Rare",
            category="sport",
            starts_at="2027-02-28T09:00",
            ends_at="",
            city="Madrid",
            country="ES",
            organiser="FEDER",
            timezone="Europe/Madrid",
        )
    )


def lyon(app: Flask) -> object:
    """Return where the geocoder places Lyon."""
    from mapapp.geocoding import locate

    with app.app_context():
        result = locate(city="Lyon", country="FR")
    assert result.status == "found"
    return result.best


@pytest.mark.parametrize("kind", sorted(FILES))
def test_import_adds_good_rows_and_reports_the_rest(
    app: Flask, store: EventStore, existing: dict[str, str], kind: str
) -> None:
    with app.app_context():
        report = import_events(FILES[kind](ROWS), f"partners.{kind}", store)

    assert report.rows == 11
    assert report.rejected == EXPECTED_REJECTED
    assert report.duplicates == [
        RowNote(7, "The same event as row 2; skipped.", "LIGHT UP  LYON"),
        RowNote(
            12,
            f"Already on the map as event {existing['id']}; skipped.",
            "Run for Rare",
            existing["id"],
        ),
    ]
    assert report.warnings == EXPECTED_WARNINGS
    assert report.ignored_columns == ["Internal notes"]
    assert report.columns["city"] == "Town"
    assert report.summary() == (
        "Read 11 rows: added 3, skipped 2 already on the map, rejected 6, 1 warning."
    )

    frame = store.frame()
    assert len(frame) == 4
    stored = {row["title"]: row for row in frame.to_dict(orient="records")}
    assert sorted(stored) == sorted(
        ["Run for Rare", "Light up Lyon", "Living with a rare disease", "Tea party"]
    )
    place = lyon(app)
    light = stored["Light up Lyon"]
    assert {name: light[name] for name in IMPORTED_FIELDS} == {
        "status": "pending",
        "category": "illumination",
        "format": "in_person",
        "starts_at": "2027-02-28T18:00",
        "ends_at": "2027-02-28T22:00",
        "timezone": place.timezone,
        "venue": "Hôtel de Ville",
        "city": "Lyon",
        "country": "FR",
        "latitude": format_coordinate(place.latitude),
        "longitude": format_coordinate(place.longitude),
        "location_precision": place.precision,
        "location_source": place.source,
        "organiser": "Alliance Rare",
        "website": "https://www.example.org",
        "contact_email": "Contact@example.org",
        "description": "Purple lights.",
    }
    webinar = stored["Living with a rare disease"]
    assert (webinar["format"], webinar["category"], webinar["country"]) == ("online", "talk", "KE")
    assert webinar["timezone"] == "Africa/Nairobi"
    assert (webinar["latitude"], webinar["location_precision"]) == ("", "none")
    assert (webinar["starts_at"], webinar["ends_at"]) == ("2027-02-28T12:00", "2027-02-28T13:30")
    tea = stored["Tea party"]
    assert (tea["latitude"], tea["longitude"], tea["location_precision"]) == ("", "", "none")
    assert tea["timezone"] == "Europe/Paris"  # France has a single zone
    assert tea["status"] == "pending"


IMPORTED_FIELDS = (
    "status",
    "category",
    "format",
    "starts_at",
    "ends_at",
    "timezone",
    "venue",
    "city",
    "country",
    "latitude",
    "longitude",
    "location_precision",
    "location_source",
    "organiser",
    "website",
    "contact_email",
    "description",
)


@pytest.mark.parametrize("kind", sorted(FILES))
def test_importing_the_same_file_twice_adds_nothing(
    app: Flask, store: EventStore, kind: str
) -> None:
    content = FILES[kind](ROWS)
    with app.app_context():
        first = import_events(content, f"partners.{kind}", store)
        before = store.frame().copy()
        second = import_events(content, f"partners.{kind}", store)
    ids = {event["id"] for event in first.added}
    assert len(ids) == 4  # rows 2, 3, 8 and 12 (nothing was stored before)
    assert second.added == []
    assert second.rejected == first.rejected
    assert {note.row for note in second.duplicates} == {2, 3, 7, 8, 12}
    assert store.frame().equals(before)


def test_dry_run_writes_nothing(app: Flask, store: EventStore, data_dir: Path) -> None:
    store.frame()  # creates the empty file
    before = (data_dir / "events.csv").read_bytes()
    with app.app_context():
        report = import_events(csv_bytes(ROWS), "partners.csv", store, dry_run=True)
    assert (data_dir / "events.csv").read_bytes() == before
    assert len(store) == 0
    assert report.dry_run
    assert [event["title"] for event in report.added] == [
        "Light up Lyon",
        "Living with a rare disease",
        "Tea party",
        "Run for Rare",
    ]
    assert report.summary().startswith("Read 11 rows: would add 4,")


def test_status_approved_is_given_to_every_imported_row(app: Flask, store: EventStore) -> None:
    with app.app_context():
        report = import_events(csv_bytes(ROWS[:2]), "partners.csv", store, status="approved")
    assert [event["status"] for event in report.added] == ["approved", "approved"]
    assert set(store.frame()["status"]) == {"approved"}


def test_rows_are_written_in_batches_that_survive_a_bad_row(
    app: Flask, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mapapp.imports

    monkeypatch.setattr(mapapp.imports, "BATCH_SIZE", 2)
    online = ["Webinar {n}", "talk", "online", "2027-02-28", "12:00", "", "", "", "FR", "E",
              "e@example.org", "", "", ""]  # fmt: skip
    rows = [[str(cell).format(n=n) for cell in online] for n in range(5)]
    rows.insert(2, ["", "talk", "online", "2027-02-28", "12:00"])  # short and without a title
    calls: list[int] = []
    add_many = store.add_many

    def counting_add_many(events, **options):  # type: ignore[no-untyped-def]
        calls.append(len(events))
        return add_many(events, **options)

    monkeypatch.setattr(store, "add_many", counting_add_many)
    with app.app_context():
        report = import_events(csv_bytes(rows), "webinars.csv", store)
    assert calls == [2, 2, 1]
    assert report.rejected == [  # every reason the form would give
        RowNote(
            4,
            "Title: give the event a name. Organiser: say who organises the event. Contact "
            "e-mail: give an address where a coordinator can reach you. Country: for an online "
            "event, choose the country your organisation is based in (a global organisation "
            "chooses the country where it is based).",
        )
    ]
    assert sorted(store.frame()["title"]) == [f"Webinar {n}" for n in range(5)]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("list.pdf", b"%PDF", "list.pdf is not a CSV or Excel (.xlsx) file."),
        ("list.csv", b"", "The file is empty: it needs a header row and one row per event."),
        ("list.csv", b"Name;When\n", "We could not find the column with the start dates"),
        ("list.csv", b"Where,Date\n", "We could not find the column with the event names"),
        ("list.xlsx", b"not a zip", "This file is not a readable Excel workbook: it is not a zip"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole(
    app: Flask, store: EventStore, filename: str, content: bytes, message: str
) -> None:
    with app.app_context(), pytest.raises(ImportFileError, match=re.escape(message)):
        import_events(content, filename, store)
    assert len(store) == 0


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Event name", "title"),
        ("NAME", "title"),
        ("Title", "title"),
        ("Start", "starts_at"),
        ("starts_at", "starts_at"),
        ("Start date", "start_date"),
        ("Town", "city"),
        ("E-mail", "contact_email"),
        ("Email", "contact_email"),
        ("URL", "website"),
        ("Link", "website"),
        ("Type", "category"),
        ("Organizer", "organiser"),
        ("Pays / Country", None),  # not a name we know: reported as ignored
    ],
)
def test_columns_are_mapped_by_name_and_synonym(header: str, field: str | None) -> None:
    mapping, ignored = map_columns(["Title", "Start", header])
    if field is None:
        assert ignored == [header]
    else:
        assert mapping[field] == (2 if field not in {"title", "starts_at"} else mapping[field])
        assert field in mapping


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("France", "FR"),
        ("fr", "FR"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("USA", "US"),
        ("Deutschland", "DE"),  # names in other languages, from the gazetteer
        ("Suisse", "CH"),
        ("The Gambia", "GM"),
        ("Narnia", None),
    ],
)
def test_country_by_name_or_code(app: Flask, value: str, code: str | None) -> None:
    with app.app_context():
        assert country_code(value) == code


@pytest.mark.parametrize(
    ("day", "clock", "expected"),
    [
        ("2027-02-28", "18:00", "2027-02-28T18:00"),
        ("28/02/2027", "6pm", "2027-02-28T18:00"),
        ("28.02.2027", "18h30", "2027-02-28T18:30"),
        ("28 February 2027", "6:30 p.m.", "2027-02-28T18:30"),
        ("2027-02-28T18:00", "", "2027-02-28T18:00"),
        ("2027-02-28 18:00", "", "2027-02-28T18:00"),
        ("28/02/2027 18:00", "", "2027-02-28T18:00"),
    ],
)
def test_dates_and_times_in_common_forms(day: str, clock: str, expected: str) -> None:
    assert parse_moment(day, clock) == (expected, "")


@pytest.mark.parametrize(
    ("day", "clock", "problem"),
    [
        ("2027-02-28", "", "the row has a date but no time; add a time such as 18:00"),
        ("", "18:00", "no date"),
        ("tomorrow", "18:00", "we could not read the date 'tomorrow'"),
        ("2027-02-28", "evening", "we could not read the time 'evening'; write it as 18:00"),
    ],
)
def test_unreadable_dates_and_times_say_why(day: str, clock: str, problem: str) -> None:
    moment, message = parse_moment(day, clock)
    assert moment == ""
    assert message.startswith(problem)


def test_fingerprint_ignores_case_accents_spacing_and_time_of_day() -> None:
    one = {"title": "Fête  Rare", "starts_at": "2027-02-28T18:00", "country": "fr",
           "city": "Orléans", "organiser": "AMR"}  # fmt: skip
    other = {"title": "fete rare", "starts_at": "2027-02-28T09:00", "country": "FR",
             "city": "ORLEANS", "organiser": "amr"}  # fmt: skip
    assert fingerprint(one) == fingerprint(other)
    assert fingerprint(one) != fingerprint({**other, "starts_at": "2027-02-27T18:00"})


def test_cli_import_reports_rows_and_dry_run(
    runner: FlaskCliRunner, store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "partners.csv"
    path.write_bytes(csv_bytes(ROWS))
    dry = runner.invoke(cli, ["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert len(store) == 0
    assert "Rejected: row 4: Title: give the event a name." in dry.output
    assert "Skipped: row 7 (LIGHT UP  LYON): The same event as row 2; skipped." in dry.output
    assert "Added: row 2 (Light up Lyon): Would be added.\n" in dry.output
    assert "Read 11 rows: would add 4, skipped 1 already on the map, rejected 6" in dry.output

    result = runner.invoke(cli, ["import", str(path), "--status", "approved"])
    assert result.exit_code == 0, result.output
    assert "Read 11 rows: added 4, skipped 1 already on the map, rejected 6" in result.output
    stored = {row["title"]: row["id"] for row in store.frame().to_dict("records")}
    assert f"Added: row 2 (Light up Lyon): Added. Event {stored['Light up Lyon']}." in result.output
    assert sorted(store.frame()["status"]) == ["approved"] * 4

    again = runner.invoke(cli, ["import", str(path)])
    assert "Read 11 rows: added 0, skipped 5 already on the map, rejected 6" in again.output
    assert len(store) == 4


def test_cli_import_explains_a_bad_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 1
    assert "notes.txt is not a CSV or Excel (.xlsx) file." in result.output


def test_upload_form_needs_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/import")
    assert response.status_code == 302
    assert "/admin/sign-in" in response.headers["Location"]


def _csrf(client: FlaskClient) -> str:
    """Return the CSRF token of the upload form."""
    page = client.get("/admin/import").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


TOKEN = re.compile(r'name="token" value="([^"]+)"')


def confirm_preview(client: FlaskClient, page: str) -> TestResponse:
    """Post the confirmation of the preview a page shows: "Import these N rows"."""
    match = TOKEN.search(page)
    assert match, page[:2000]
    return client.post(
        "/admin/import/confirm", data={"csrf_token": _csrf(client), "token": match.group(1)}
    )


def test_upload_form_previews_then_imports_and_shows_the_report(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    form = {
        "csrf_token": _csrf(coordinator_client),
        "status": "pending",
        "file": (io.BytesIO(xlsx_bytes(ROWS)), "partners.xlsx"),
    }
    preview = coordinator_client.post("/admin/import", data=form)
    assert preview.status_code == 200
    assert len(store) == 0  # nothing before the confirmation
    response = confirm_preview(coordinator_client, preview.get_data(as_text=True))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Read 11 rows: added 4, skipped 1 already on the map, rejected 6, 1 warning." in page
    assert "<td>4</td><td>(no title)</td><td>Title: give the event a name.</td>" in page
    assert "Columns not imported: Internal notes." in page
    assert len(store) == 4


def test_upload_form_dry_run_adds_nothing(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    form = {
        "csrf_token": _csrf(coordinator_client),
        "status": "approved",
        "dry_run": "y",
        "file": (io.BytesIO(csv_bytes(ROWS)), "partners.csv"),
    }
    response = coordinator_client.post("/admin/import", data=form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Dry run: nothing was added" in page
    assert "Read 11 rows: would add 4, skipped 1 already on the map, rejected 6" in page
    assert "Import these 11 rows" in page  # the dry run's file can be imported from there
    assert len(store) == 0


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (None, "File: choose the spreadsheet to import."),
        ((io.BytesIO(b"x"), "list.pdf"), "File: choose a .csv or .xlsx file."),
        ((io.BytesIO(b"Where\nParis\n"), "list.csv"), "We could not find the column with the"),
    ],
)
def test_upload_form_refuses_a_bad_file_kindly(
    coordinator_client: FlaskClient, store: EventStore, upload: object, message: str
) -> None:
    form: dict[str, object] = {"csrf_token": _csrf(coordinator_client), "status": "pending"}
    if upload is not None:
        form["file"] = upload
    response = coordinator_client.post("/admin/import", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported." in page
    assert message in page
    assert len(store) == 0


def test_upload_form_refuses_a_post_without_its_csrf_token(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    form = {"status": "pending", "file": (io.BytesIO(csv_bytes(ROWS)), "partners.csv")}
    response = coordinator_client.post("/admin/import", data=form)
    assert response.status_code == 400
    assert len(store) == 0


def test_a_semicolon_csv_in_the_windows_code_page_is_read(app: Flask, store: EventStore) -> None:
    text = (
        "Titre / Title;Start;Format;Country;Organiser;E-mail\r\n"
        "Fête à Orléans;28/02/2027 18:30;online;France;AMR;amr@example.org\r\n"
    )
    content = text.replace("Titre / Title", "Title").encode("cp1252")
    with app.app_context():
        report = import_events(content, "liste.csv", store)
    assert report.rejected == []
    assert [(event["title"], event["starts_at"]) for event in report.added] == [
        ("Fête à Orléans", "2027-02-28T18:30")
    ]


def test_rows_another_writer_adds_meanwhile_are_not_added_twice(
    app: Flask, store: EventStore, data_dir: Path
) -> None:
    webinar = ["Webinar {n}", "talk", "online", "2027-02-28", "12:00", "13:00", "", "", "FR",
               "Sample: Partner {n}", "partner@example.org", "", "", ""]  # fmt: skip
    content = csv_bytes([[cell.format(n=n) for cell in webinar] for n in range(6)])
    with app.app_context():
        first = import_events(content, "partners.csv", store, dry_run=True).added[:4]

    def other_import_meanwhile(items, total, description):  # type: ignore[no-untyped-def]
        if description.startswith("Placing"):  # after this import checked the store
            EventStore(data_dir).add_many(first)  # as another process would
        return items

    with app.app_context():
        report = import_events(content, "partners.csv", store, progress=other_import_meanwhile)

    assert sorted(store.frame()["title"]) == [f"Webinar {n}" for n in range(6)]
    assert [event["title"] for event in report.added] == ["Webinar 4", "Webinar 5"]
    assert [note.row for note in report.duplicates] == [2, 3, 4, 5]
    assert {note.message for note in report.duplicates} == {
        "Added by another import meanwhile; skipped."
    }


def test_ended_rows_are_imported_with_a_warning_within_the_recent_editions(
    app: Flask, store: EventStore
) -> None:
    from datetime import timedelta

    from mapapp.events import current_edition, edition_date

    past = edition_date(current_edition() - 1)  # over, and within the previous edition's dates
    long_ago = past - timedelta(days=365 * 3)  # over, and outside every recent edition's dates
    rows: list[list[object]] = [
        ["Past walk", "sport", "in person", past.isoformat(), "10:00", "12:00", "", "Lyon",
         "FR", "Alliance", "a@example.org", "", "", ""],
        ["Old walk", "sport", "in person", long_ago.isoformat(), "10:00", "12:00", "", "Lyon",
         "FR", "Alliance", "a@example.org", "", "", ""],
    ]  # fmt: skip
    with app.app_context():
        report = import_events(csv_bytes(rows), "past.csv", store)
    assert [event["title"] for event in report.added] == ["Past walk"]
    assert report.warnings == [
        RowNote(
            2,
            f"This event ended on {past.day} {past:%B %Y}: it is imported all the same, as past "
            "events of a recent edition may be.",
            "Past walk",
        )
    ]
    first = edition_date(current_edition() - 1) - timedelta(days=60)
    last = edition_date(current_edition() + 1) + timedelta(days=30)
    # Outside every recent edition, the form's own date window refuses it.
    assert report.rejected == [
        RowNote(
            3,
            "Start: Rare Disease Day events take place around the last day of February; choose "
            f"a date from {first:%d %B %Y} to {last:%d %B %Y} that is within 60 days before or 30 "
            "days after an edition.",
            "Old walk",
        )
    ]


# The form's rules, the scope and the report (issue 12)

RULES_HEADER = ["Title", "Type", "Format", "Start", "Town", "Country", "Organiser", "E-mail"]


def rules_csv(rows: list[list[str]]) -> bytes:
    """Return a CSV of rows under RULES_HEADER."""
    return csv_bytes(rows, header=RULES_HEADER)  # type: ignore[arg-type]


def test_a_refused_row_still_says_its_town_is_unknown(app: Flask, store: EventStore) -> None:
    july = f"{current_edition()}-07-15 18:00"
    rows = [
        ["Walk in Zurich", "Walk", "in person", july, "Zurch", "Switzerland", "ProRaris",
         "info@example.org"],
        ["Walk in Lyon", "Walk", "in person", july, "Lyon", "FR", "Alliance", "info@example.org"],
    ]  # fmt: skip
    with app.app_context():
        report = import_events(rules_csv(rows), "walks.csv", store)
    assert [note.row for note in report.rejected] == [2, 3]
    zurich, lyon = report.rejected
    assert zurich.title == "Walk in Zurich"
    assert zurich.message.startswith("Start: Rare Disease Day events take place around")
    assert zurich.message.endswith("We could not find 'Zurch' in Switzerland. Did you mean Zürich?")
    assert "could not find" not in lyon.message  # Lyon is known: only the date is wrong
    assert len(store) == 0


def test_refused_rows_are_geocoded_once_per_place_and_good_rows_once(
    app: Flask, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mapapp.imports

    asked: list[tuple[str, ...]] = []
    real_locate = mapapp.imports.locate

    def counting_locate(**query: str):  # type: ignore[no-untyped-def]
        asked.append(tuple(query.values()))
        return real_locate(**query)

    monkeypatch.setattr(mapapp.imports, "locate", counting_locate)
    day = f"{current_edition()}-02-20 18:00"
    rows = [
        [f"Walk {n}", "Walk", "in person", day, "Lyon", "FR", "Alliance", "info@example.org"]
        for n in range(3)
    ] + [["Walk 9", "Walk", "in person", day, "Lyon", "FR", "", "info@example.org"]]
    with app.app_context():
        report = import_events(rules_csv(rows), "walks.csv", store)
    assert len(report.added) == 3
    assert [note.row for note in report.rejected] == [5]
    assert asked == [("", "Lyon", "", "FR")]  # one question for four rows in Lyon


def test_categories_in_other_languages_are_imported(app: Flask, store: EventStore) -> None:
    day = f"{current_edition()}-02-20 18:00"
    words = ["Walk", "Light up", "Caminata", "Spaziergang", "Conférence", "Vortrag", "Webinar"]
    rows = [
        [f"Event {n}", word, "in person", day, "Lyon", "FR", "Alliance", "info@example.org"]
        for n, word in enumerate(words)
    ]
    with app.app_context():
        report = import_events(rules_csv(rows), "words.csv", store)
    assert report.rejected == []
    assert [event["category"] for event in report.added] == [
        "sport", "illumination", "sport", "sport", "talk", "talk", "talk"
    ]  # fmt: skip


def test_a_national_coordinator_imports_only_rows_of_their_countries(
    app: Flask, store: EventStore
) -> None:
    from mapapp import access
    from mapapp.access import NATIONAL, Scope

    day = f"{current_edition()}-02-20 18:00"
    rows = [
        ["Marche à Lyon", "Marche", "in person", day, "Lyon", "France", "Alliance",
         "info@example.org"],
        ["Spaziergang in Berlin", "Spaziergang", "in person", day, "Berlin", "Germany", "ACHSE",
         "info@example.org"],
    ]  # fmt: skip
    scope = Scope("nat", NATIONAL, frozenset({"FR"}))
    with app.app_context():
        report = import_events(rules_csv(rows), "two.csv", access.events(scope), who="nat")
    assert [event["title"] for event in report.added] == ["Marche à Lyon"]
    assert report.rejected == [RowNote(3, scope.refusal("DE"), "Spaziergang in Berlin")]
    assert report.rejected[0].message == (
        "Country: you coordinate events in France, not in Germany. Ask an administrator to take "
        "care of this event."
    )
    assert list(store.frame()["country"]) == ["FR"]


def test_a_national_coordinators_row_pinned_in_another_country_is_refused(
    app: Flask, store: EventStore
) -> None:
    # France in the country column, a pin in Berlin: imported approved, it would be on
    # Germany's map at once, where no German coordinator sees it (their scope reads the column).
    from mapapp import access
    from mapapp.access import NATIONAL, Scope

    day = f"{current_edition()}-02-20 18:00"
    header = [*RULES_HEADER, "Latitude", "Longitude"]
    rows = [
        ["Marche à Lyon", "Marche", "in person", day, "Lyon", "France", "Alliance",
         "info@example.org", "45.7640", "4.8357"],
        ["Marche à Berlin", "Marche", "in person", day, "Lyon", "France", "Alliance",
         "info@example.org", "52.5200", "13.4050"],
    ]  # fmt: skip
    scope = Scope("nat", NATIONAL, frozenset({"FR"}))
    with app.app_context():
        content = csv_bytes(rows, header=header)  # type: ignore[arg-type]
        report = import_events(content, "pins.csv", access.events(scope), status="approved")
    assert [event["title"] for event in report.added] == ["Marche à Lyon"]
    assert report.rejected == [
        RowNote(
            3,
            "Location: this point is outside France, the event's country, and you coordinate "
            "events in France. Place the event in France, or ask an administrator to take care "
            "of it.",
            "Marche à Berlin",
        )
    ]
    assert list(store.frame()["title"]) == ["Marche à Lyon"]


def test_the_report_page_links_added_rows_to_their_edit_page(
    client_as: Callable[..., FlaskClient], store: EventStore
) -> None:
    client = client_as("national", {"FR"})
    day = f"{current_edition()}-02-20 18:00"
    rows = [
        ["Marche à Lyon", "Marche", "in person", day, "Lyon", "France", "Alliance",
         "info@example.org"],
        ["Spaziergang in Berlin", "Spaziergang", "in person", day, "Berlin", "Germany", "ACHSE",
         "info@example.org"],
    ]  # fmt: skip
    form = {
        "csrf_token": _csrf(client),
        "status": "pending",
        "file": (io.BytesIO(rules_csv(rows)), "two.csv"),
    }
    preview = client.post("/admin/import", data=form)
    assert preview.status_code == 200
    response = confirm_preview(client, preview.get_data(as_text=True))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    (event_id,) = list(store.frame()["id"])
    assert (
        f'<tr><td>2</td><td dir="auto"><a href="/admin/events/{event_id}/edit">Marche à Lyon</a>'
        "</td></tr>" in page
    )
    assert (
        '<tr><td>3</td><td dir="auto">Spaziergang in Berlin</td><td>Country: you coordinate events in '
        "France, not in Germany." in page
    )
