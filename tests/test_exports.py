"""Exports: every format read back by its own library, formula injection, filters, headers, CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from icalendar import Calendar

from mapapp.cli import cli
from mapapp.events import FIELDS, PRIVATE_FIELDS, PUBLIC_FIELDS
from mapapp.exports import FORMATS, neutralise_formula, render_export
from mapapp.publication import finish_renders
from mapapp.storage import EventStore
from tests.conftest import change, make_event

TODAY = datetime.now(UTC).date().isoformat()
INJECTIONS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", '=HYPERLINK("http://x","y")']
WEBINAR = "Webinar: living with a rare disease"
# Not the edit token's hash, nor an organiser's change waiting for review (the queue shows it).
PRIVATE_COLUMNS = [name for name in FIELDS if name not in {"edit_token_hash", "pending_change"}]


@pytest.fixture
def events(store: EventStore) -> list[dict[str, str]]:
    """Store approved events of several kinds, and a pending and a rejected one."""
    stored = store.add_many(
        [
            make_event(title="Light up Paris", moderation_note="checked by phone"),
            make_event(
                title="Walk for Rare in Madrid",
                category="sport",
                city="Madrid",
                country="ES",
                timezone="Europe/Madrid",
                latitude="40.416775",
                longitude="-3.703790",
                starts_at="2027-02-27T10:00",
                ends_at="",
                description="Meet at the fountain.\nBring a friend — «todos».",
            ),
            make_event(
                title="Webinar: living with a rare disease",
                category="talk",
                format="online",
                venue="",
                city="",
                country="",
                latitude="",
                longitude="",
                location_precision="none",
                timezone="America/New_York",
                starts_at="2027-02-28T12:00",
                ends_at="2027-02-28T13:30",
            ),
            make_event(title="Pending in Berlin", status="pending", city="Berlin", country="DE"),
            make_event(title="Rejected in Rome", status="rejected", city="Rome", country="IT"),
        ]
    )
    change(store, stored[0]["id"], {"edit_token_hash": "secret-hash"})
    return [store.get(event["id"]) or {} for event in stored]


def approved(events: list[dict[str, str]]) -> list[dict[str, str]]:
    """Return the approved events ordered as exports order them: by start, then id."""
    kept = [event for event in events if event["status"] == "approved"]
    return sorted(kept, key=lambda event: (event["starts_at"], event["id"]))


def expected_rows(events: list[dict[str, str]], columns: list[str]) -> list[dict[str, str]]:
    """Return the events cut to the columns of an export."""
    return [{name: event[name] for name in columns} for event in events]


def test_public_csv_holds_approved_events_and_public_fields(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = client.get("/events.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(
        io.BytesIO(response.data), dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert list(frame.columns) == list(PUBLIC_FIELDS)
    rows = frame.to_dict(orient="records")
    expected = expected_rows(approved(events), list(PUBLIC_FIELDS))
    # The Madrid longitude keeps its minus sign as a number, not a neutralised text.
    assert rows == expected


def read_sheet(data: bytes) -> tuple[Any, list[str], list[dict[str, Any]]]:
    """Return an Excel export's sheet, its header and its rows as dicts by header."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = list(sheet.iter_rows())
    header = [str(cell.value) for cell in cells[0]]
    rows = [dict(zip(header, [cell.value for cell in row], strict=True)) for row in cells[1:]]
    return sheet, header, rows


def test_public_xlsx_is_a_labelled_typed_sheet(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = client.get("/events.xlsx")
    assert response.status_code == 200
    assert response.mimetype == FORMATS["xlsx"].media_type
    sheet, header, rows = read_sheet(response.data)
    assert header == [
        "Id", "Status", "Title", "Category", "Category code", "Format", "Format code", "Start",
        "End", "Time zone", "Start (UTC)", "End (UTC)", "Venue", "Address", "City", "Region", "Country", "Country code",
        "Latitude", "Longitude", "Location precision", "Location source", "Organiser",
        "Website", "Description", "Language", "Sample flag", "Created (UTC)", "Updated (UTC)",
    ]  # fmt: skip
    madrid = rows[0]
    assert madrid["Title"] == "Walk for Rare in Madrid"
    assert madrid["Status"] == "Approved"
    assert (madrid["Category"], madrid["Category code"]) == ("Sport or walk", "sport")
    assert (madrid["Format"], madrid["Format code"]) == ("In person", "in_person")
    assert (madrid["Country"], madrid["Country code"]) == ("Spain", "ES")
    assert madrid["Location precision"] == "City"
    assert madrid["Start"] == datetime(2027, 2, 27, 10, 0)
    assert madrid["End"] is None
    assert madrid["Time zone"] == "Europe/Madrid"
    assert (madrid["Start (UTC)"], madrid["End (UTC)"]) == (datetime(2027, 2, 27, 9, 0), None)
    assert (madrid["Latitude"], madrid["Longitude"]) == (40.416775, -3.70379)
    assert madrid["Description"] == "Meet at the fountain.\nBring a friend — «todos»."
    stored = approved(events)[0]
    assert madrid["Created (UTC)"] == datetime.fromisoformat(stored["created_at"]).replace(
        tzinfo=None
    )
    webinar = rows[1]
    assert (webinar["Country"], webinar["Latitude"], webinar["Venue"]) == (None, None, None)
    start = sheet.cell(row=2, column=header.index("Start") + 1)
    assert start.is_date and start.number_format == "yyyy-mm-dd hh:mm"
    assert sheet.cell(row=2, column=header.index("Latitude") + 1).data_type == "n"
    assert sheet.auto_filter.ref == f"A1:AC{len(rows) + 1}"
    assert sheet.freeze_panes == "A2"
    widths = {letter: sheet.column_dimensions[letter].width for letter in ("A", "C", "H")}
    assert widths["C"] > widths["A"] > 0 and widths["H"] >= len("2027-02-27 10:00")
    assert [str(row["Id"]) for row in rows] == [event["id"] for event in approved(events)]


def test_public_json_holds_the_raw_events(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = client.get("/events.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = json.loads(response.data)
    assert document["count"] == 3
    assert document["events"] == expected_rows(approved(events), list(PUBLIC_FIELDS))


def test_public_geojson_has_points_and_no_geometry_for_online_events(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = client.get("/events.geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    document = json.loads(response.data)
    assert document["type"] == "FeatureCollection"
    features = document["features"]
    expected = approved(events)
    assert [feature["id"] for feature in features] == [event["id"] for event in expected]
    for feature, event in zip(features, expected, strict=True):
        assert feature["type"] == "Feature"
        if event["latitude"]:
            assert feature["geometry"] == {
                "type": "Point",
                "coordinates": [float(event["longitude"]), float(event["latitude"])],
            }
        else:
            assert feature["geometry"] is None
        properties = [name for name in PUBLIC_FIELDS if name not in {"latitude", "longitude"}]
        assert feature["properties"] == {name: event[name] for name in properties}


def test_public_ics_has_one_vevent_per_event_in_its_time_zone(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = client.get("/events.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    vevents = calendar.walk("VEVENT")
    expected = approved(events)
    assert [str(vevent["uid"]) for vevent in vevents] == [
        f"{event['id']}@rare-disease-day-events-map" for event in expected
    ]
    assert sorted(str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")) == [
        "America/New_York",
        "Europe/Madrid",
        "Europe/Paris",
    ]
    for vevent, event in zip(vevents, expected, strict=True):
        start = vevent.decoded("dtstart")
        assert start.strftime("%Y-%m-%dT%H:%M") == event["starts_at"]
        assert str(start.tzinfo) == event["timezone"]
        assert vevent["dtstart"].params["TZID"] == event["timezone"]
        if event["ends_at"]:
            assert vevent.decoded("dtend").strftime("%Y-%m-%dT%H:%M") == event["ends_at"]
        else:
            assert "dtend" not in vevent
        assert str(vevent["summary"]) == event["title"]
        assert str(vevent["description"]) == event["description"]
        assert str(vevent["url"]) == f"http://localhost/events/{event['id']}"
        stamp = vevent.decoded("dtstamp").strftime("%Y-%m-%dT%H:%M:%SZ")
        assert stamp == event["updated_at"]
        assert str(vevent["status"]) == "CONFIRMED"
        if event["format"] == "online":
            assert "location" not in vevent and "geo" not in vevent
        else:
            assert str(vevent["location"]).endswith(
                {"FR": "Paris, France", "ES": "Madrid, Spain"}[event["country"]]
            )
            assert vevent.decoded("geo") is not None
            assert (vevent["geo"].latitude, vevent["geo"].longitude) == (
                float(event["latitude"]),
                float(event["longitude"]),
            )


def test_ics_of_one_event_is_what_the_event_page_links_to(
    app: object, events: list[dict[str, str]], store: EventStore
) -> None:
    frame = store.frame()
    one = frame[frame["id"] == events[1]["id"]]
    body, media_type, suffix = render_export("ics", one, base_url="https://map.example/")
    assert (media_type, suffix) == ("text/calendar; charset=utf-8", ".ics")
    calendar = Calendar.from_ical(body)
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["url"]) == f"https://map.example/events/{events[1]['id']}"
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Madrid"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_public_exports_leave_out_private_fields_and_unapproved_events(
    client: FlaskClient, events: list[dict[str, str]], fmt: str
) -> None:
    body = client.get(f"/events.{fmt}").data
    text = body.decode("utf-8") if fmt != "xlsx" else _xlsx_text(body)
    for secret in ("organiser@example.org", "checked by phone", "secret-hash"):
        assert secret not in text
    for hidden in ("Pending in Berlin", "Rejected in Rome"):
        assert hidden not in text
    for name in PRIVATE_FIELDS:
        assert name not in text
    assert "Light up Paris" in text


@pytest.mark.parametrize("payload", INJECTIONS)
def test_formulas_are_neutralised_in_spreadsheets_and_raw_in_json(
    client: FlaskClient, store: EventStore, payload: str
) -> None:
    # Straight into the store, as if an older version or a bug let it through unvalidated.
    store.add(make_event(title=payload, organiser=payload, description=payload))
    csv_frame = pd.read_csv(
        io.BytesIO(client.get("/events.csv").data),
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
    )
    for name in ("title", "organiser", "description"):
        assert csv_frame.loc[0, name] == "'" + payload

    sheet, header, _ = read_sheet(client.get("/events.xlsx").data)
    for name in ("Title", "Organiser", "Description"):
        cell = sheet.cell(row=2, column=header.index(name) + 1)
        # A string cell: shown as it is, never evaluated, so no quote in front of it.
        assert cell.data_type == "s"
        assert cell.value == payload.replace("\r", "\n")  # XML reads a lone CR as LF

    document = json.loads(client.get("/events.json").data)
    assert document["events"][0]["title"] == payload
    feature = json.loads(client.get("/events.geojson").data)["features"][0]
    assert feature["properties"]["title"] == payload


def test_xlsx_never_writes_a_formula_or_an_error_cell(store: EventStore) -> None:
    store.add(make_event(title="#N/A", organiser="=1+1", description="#DIV/0!"))
    body, _, _ = render_export("xlsx", store.frame())
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    values = {cell.value: cell.data_type for cell in sheet[2]}
    assert values["#N/A"] == "s"
    assert values["#DIV/0!"] == "s"
    assert values["=1+1"] == "s"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),  # only the first character matters
        (" =1", " =1"),  # a leading space makes it text already
        ("=1", "'=1"),
        ("-", "'-"),
    ],
)
def test_neutralise_formula(value: str, expected: str) -> None:
    assert neutralise_formula(value) == expected


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("country=ES", ["Walk for Rare in Madrid"]),
        ("category=talk,illumination", ["Webinar: living with a rare disease", "Light up Paris"]),
        ("format=online", ["Webinar: living with a rare disease"]),
        ("from=2027-02-28", ["Webinar: living with a rare disease", "Light up Paris"]),
        ("to=2027-02-27", ["Walk for Rare in Madrid"]),
        ("q=madrid", ["Walk for Rare in Madrid"]),
        ("status=pending", ["Walk for Rare in Madrid", WEBINAR, "Light up Paris"]),
    ],
)
def test_public_exports_apply_the_map_filters(
    client: FlaskClient, events: list[dict[str, str]], query: str, titles: list[str]
) -> None:
    # status is not a public filter: it is ignored and the export stays approved-only.
    document = json.loads(client.get(f"/events.json?{query}").data)
    assert [event["title"] for event in document["events"]] == titles


def test_bad_filter_is_refused_with_its_reason(client: FlaskClient) -> None:
    response = client.get("/events.csv?country=XX&from=tomorrow")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Country: unknown value XX." in text
    assert "From: write the date as YYYY-MM-DD." in text


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_downloads_are_attachments_named_by_date(
    client: FlaskClient, events: list[dict[str, str]], fmt: str
) -> None:
    response = client.get(f"/events.{fmt}")
    suffix = FORMATS[fmt].suffix
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=rare-disease-day-events-{TODAY}{suffix}"
    )


def test_etag_answers_304_until_the_store_or_query_changes(
    client: FlaskClient, events: list[dict[str, str]], store: EventStore
) -> None:
    first = client.get("/events.csv")
    etag = first.headers["ETag"]
    assert etag
    again = client.get("/events.csv", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    other_query = client.get("/events.csv?country=FR", headers={"If-None-Match": etag})
    assert other_query.status_code == 200
    other_format = client.get("/events.json", headers={"If-None-Match": etag})
    assert other_format.status_code == 200
    store.add(make_event(title="A new one"))
    # The copy kept is answered at once while the new one renders in the background.
    assert client.get("/events.csv", headers={"If-None-Match": etag}).status_code == 304
    finish_renders()
    changed = client.get("/events.csv", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert b"A new one" in changed.data
    assert changed.headers["ETag"] != first.headers["ETag"]


def test_unknown_parameters_change_nothing(
    client: FlaskClient, events: list[dict[str, str]]
) -> None:
    first = client.get("/events.xlsx?year=all&country=ES")
    etag = first.headers["ETag"]
    for query in ("country=ES&x=1", "year=all&country=es&utm_source=mail", "country=ES,ES"):
        again = client.get(f"/events.xlsx?{query}", headers={"If-None-Match": etag})
        assert again.status_code == 304, query
        assert client.get(f"/events.xlsx?{query}").data == first.data


def test_unknown_public_format_is_not_found(client: FlaskClient) -> None:
    assert client.get("/events.pdf").status_code == 404


@pytest.mark.parametrize("path", ["/admin/export", "/admin/export?format=json&status=pending"])
def test_admin_export_needs_sign_in(client: FlaskClient, events: object, path: str) -> None:
    response = client.get(path)
    assert response.status_code in {302, 401}
    assert b"organiser@example.org" not in response.data
    if response.status_code == 302:
        assert "/admin/sign-in" in response.headers["Location"]


def test_admin_export_has_every_status_and_private_fields(
    coordinator_client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = coordinator_client.get("/admin/export?format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=rare-disease-day-events-{TODAY}.csv"
    )
    assert response.headers["Cache-Control"] == "no-store"  # organisers' e-mails: no copy kept
    frame = pd.read_csv(
        io.BytesIO(response.data), dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert list(frame.columns) == PRIVATE_COLUMNS
    expected = sorted(events, key=lambda event: (event["starts_at"], event["id"]))
    assert frame.to_dict(orient="records") == expected_rows(expected, PRIVATE_COLUMNS)
    assert "secret-hash" not in response.get_data(as_text=True)


def test_admin_export_filters_by_status(
    coordinator_client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = coordinator_client.get("/admin/export?format=json&status=pending,rejected")
    document = json.loads(response.data)
    assert sorted(event["title"] for event in document["events"]) == [
        "Pending in Berlin",
        "Rejected in Rome",
    ]
    assert document["events"][0]["contact_email"] == "organiser@example.org"


def test_admin_export_filters_by_event_format(
    coordinator_client: FlaskClient, events: list[dict[str, str]]
) -> None:
    response = coordinator_client.get("/admin/export?format=json&event_format=online")
    document = json.loads(response.data)
    assert [event["title"] for event in document["events"]] == [WEBINAR]


def test_admin_export_refuses_an_unknown_format(coordinator_client: FlaskClient) -> None:
    response = coordinator_client.get("/admin/export?format=pdf")
    assert response.status_code == 400
    assert "Format: choose one of csv, xlsx, json, geojson, ics, not 'pdf'." in (
        response.get_data(as_text=True).replace("&#39;", "'")
    )


def test_cli_export_writes_the_filtered_file(
    runner: FlaskCliRunner, events: list[dict[str, str]], tmp_path: Path
) -> None:
    output = tmp_path / "spain.xlsx"
    result = runner.invoke(
        cli, ["export", "--format", "xlsx", "--country", "ES", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(output).active
    assert sheet is not None
    assert [[cell.value for cell in row][2] for row in sheet.iter_rows()] == [
        "Title",
        "Walk for Rare in Madrid",
    ]


def test_cli_export_to_stdout_with_status_and_private_fields(
    runner: FlaskCliRunner, events: list[dict[str, str]]
) -> None:
    result = runner.invoke(cli, ["export", "--format", "json", "--status", "pending", "--private"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout_bytes)
    assert [event["title"] for event in document["events"]] == ["Pending in Berlin"]
    assert document["events"][0]["contact_email"] == "organiser@example.org"
    assert "edit_token_hash" not in document["events"][0]


def test_cli_export_public_by_default(runner: FlaskCliRunner, events: list[dict[str, str]]) -> None:
    result = runner.invoke(cli, ["export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode("utf-8-sig")
    assert "Light up Paris" in text
    assert "Pending in Berlin" not in text
    assert "organiser@example.org" not in text


def test_cli_export_explains_a_bad_filter(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["export", "--country", "Narnia"])
    assert result.exit_code == 2
    assert "Country: unknown value NARNIA." in result.output


def _xlsx_text(body: bytes) -> str:
    """Return every cell of a workbook's first sheet as one text."""
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    return "\n".join(str(cell.value) for row in sheet.iter_rows() for cell in row)


def test_ics_escapes_text_and_folds_long_lines_without_breaking_characters(
    store: EventStore,
) -> None:
    title = "Rare, but; not alone \\ «Ça va» " + "é" * 40
    description = "Line one, with; punctuation\nLine two: " + "ü" * 120 + " 😀" * 30
    store.add(make_event(title=title, description=description, timezone="UTC"))
    body, _, _ = render_export("ics", store.frame(), base_url="")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    body.decode("utf-8")  # no character was cut in two
    (vevent,) = Calendar.from_ical(body).walk("VEVENT")
    assert str(vevent["summary"]) == title
    assert str(vevent["description"]) == description
    assert vevent["dtstart"].to_ical() == b"20270228T180000Z"  # UTC needs no VTIMEZONE
    assert "url" not in vevent
    assert Calendar.from_ical(body).walk("VTIMEZONE") == []


def test_admin_events_page_links_to_its_exports(
    coordinator_client: FlaskClient, events: list[dict[str, str]]
) -> None:
    page = coordinator_client.get("/admin/events?status=pending").get_data(as_text=True)
    link = "/admin/export?format=json&amp;status=pending"

    assert link in page
    response = coordinator_client.get(link.replace("&amp;", "&"))
    titles = [event["title"] for event in json.loads(response.data)["events"]]
    assert titles == ["Pending in Berlin"]
