"""A time zone for every event: the country table, the form, the API, import, edits and times."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import timezones
from mapapp.cli import cli
from mapapp.imports import RowNote, import_events
from mapapp.storage import EventStore
from mapapp.submission_rules import ONLINE_COUNTRY_MESSAGE
from tests.conftest import add_valid_event, change, make_submission
from tests.test_submit import hidden, version_of

DAY = make_submission()["starts_at"][:10]
US_EXAMPLES = "America/New_York, America/Chicago, America/Denver or America/Phoenix"
ES_EXAMPLES = "Europe/Madrid or Atlantic/Canary"
US_SEVERAL = (
    "Time zone: there are several time zones in the United States; give the one the event's "
    f"times are in, such as {US_EXAMPLES}."
)
ES_SEVERAL = (
    "Time zone: there are several time zones in Spain; give the one the event's times are in, "
    f"such as {ES_EXAMPLES}."
)
ONLINE_COUNTRY = (
    "Country: for an online event, choose the country your organisation is based in (a global "
    "organisation chooses the country where it is based)."
)
MALTA_ONLY = (
    "Time zone: America/Chicago is not the time zone of Malta; its time zone is Europe/Malta."
)
NOT_US = (
    "Time zone: Asia/Tokyo is not a time zone of the United States; choose one of its zones, "
    f"such as {US_EXAMPLES}."
)


# The country table


@pytest.mark.parametrize(
    ("country", "single", "zones"),
    [
        ("KE", "Africa/Nairobi", ("Africa/Nairobi",)),
        ("FR", "Europe/Paris", ("Europe/Paris",)),
        ("JP", "Asia/Tokyo", ("Asia/Tokyo",)),
        ("MT", "Europe/Malta", ("Europe/Malta",)),
        # Büsingen keeps Berlin's clock: one clock, so Germany's zone can be inferred.
        ("DE", "Europe/Berlin", ("Europe/Berlin", "Europe/Busingen")),
        # Ceuta keeps Madrid's clock, the Canary Islands do not: two clocks.
        ("ES", "", ("Europe/Madrid", "Africa/Ceuta", "Atlantic/Canary")),
        ("NO", "Europe/Oslo", ("Europe/Oslo",)),  # not tzdata's Europe/Berlin, its alias target
        ("TZ", "Africa/Dar_es_Salaam", ("Africa/Dar_es_Salaam",)),
        ("AR", "America/Argentina/Buenos_Aires", None),  # twelve zones, one clock
        ("US", "", None),
        ("BR", "", None),
        ("AU", "", None),
        ("RU", "", None),
        ("CA", "", None),
        ("ZZ", "", ()),  # not a country
    ],
)
def test_a_country_has_its_zones_and_one_when_it_keeps_one_clock(
    country: str, single: str, zones: tuple[str, ...] | None
) -> None:
    assert timezones.single_zone(country) == single
    if zones is not None:
        assert timezones.zones_of(country) == zones
    else:
        assert len(timezones.zones_of(country)) > 5
    assert all(timezones.offset_text(name) for name in timezones.zones_of(country))


@pytest.mark.parametrize(
    ("name", "country", "zone"),
    [
        ("America/Chicago", "US", "America/Chicago"),
        ("US/Eastern", "US", "America/New_York"),  # an alias
        ("Asia/Calcutta", "IN", "Asia/Kolkata"),  # what some browsers report
        ("Europe/Kiev", "UA", "Europe/Kyiv"),
        ("Europe/Oslo", "NO", "Europe/Oslo"),
        ("Asia/Tokyo", "US", ""),
        ("Europe/Berlin", "NO", "Europe/Oslo"),  # tzdata makes Oslo an alias of Berlin
        ("Europe/London", "NO", ""),
        ("Nowhere/City", "FR", ""),
        ("", "FR", ""),
    ],
)
def test_a_zone_name_is_read_as_one_of_the_country_zones(
    name: str, country: str, zone: str
) -> None:
    assert timezones.in_country(name, country) == zone


def test_labels_and_the_confirming_sentence() -> None:
    winter = datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert (
        timezones.label("America/New_York", "Eastern (most areas)", winter)
        == "America/New_York (UTC\N{MINUS SIGN}05:00 now), Eastern (most areas)"
    )
    assert timezones.label("Asia/Kolkata", "", winter) == "Asia/Kolkata (UTC+05:30 now)"
    assert timezones.describe_times("2027-02-28T15:00", "Europe/Madrid") == (
        "Times are in Europe/Madrid: 15:00 there is 14:00 UTC."
    )
    assert timezones.describe_times("2027-02-28T08:00", "Asia/Tokyo") == (
        "Times are in Asia/Tokyo: 08:00 on 28 February there is 23:00 UTC on 27 February."
    )
    assert timezones.choices("ES", winter) == [
        ("Europe/Madrid", "Europe/Madrid (UTC+01:00 now), Spain (mainland)"),
        ("Africa/Ceuta", "Africa/Ceuta (UTC+01:00 now), Ceuta, Melilla"),
        ("Atlantic/Canary", "Atlantic/Canary (UTC+00:00 now), Canary Islands"),
    ]


# Through the form: details, preview, confirmation


def text_of(response: Any) -> str:
    """Return a page's text with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def post_form(client: FlaskClient, **fields: str) -> Any:
    """Post the event form (with its CSRF token and signed start time)."""
    page = client.get("/submit").get_data(as_text=True)
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "started": hidden(page, "started"),
        **make_submission(starts_at=f"{DAY}T15:00", ends_at="", address="", venue=""),
        "consent": "y",
        "homepage": "",
        **fields,
    }
    return client.post("/submit", data=data)


def preview_zone(page: str) -> str:
    """Return the zone the preview states (hidden) or preselects (the select's chosen option)."""
    if match := re.search(r'type="hidden" id="timezone" name="timezone" value="([^"]*)"', page):
        return match.group(1)
    select = re.search(r'<select id="timezone".*?</select>', page, re.DOTALL)
    assert select, "the preview has no time zone"
    chosen = re.search(r'<option value="([^"]*)"[^>]* selected>', select.group(0))
    return chosen.group(1) if chosen else ""


def confirm_zone(client: FlaskClient, page: str, zone: str, **fields: str) -> Any:
    """Confirm a preview with a zone chosen (or the one it shows)."""
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "draft": hidden(page, "draft"),
        "place": "0",
        "timezone": zone,
        **fields,
    }
    return client.post("/submit/confirm", data=data)


# country, format, town, the form's zone (the browser's, preselected, or chosen), the zone chosen
# on the preview (None: keep what it shows), the zone stored.
FORM_CASES = [
    ("KE", "online", "", "", None, "Africa/Nairobi"),
    ("KE", "online", "", "Africa/Nairobi", None, "Africa/Nairobi"),
    ("FR", "online", "", "", None, "Europe/Paris"),
    ("JP", "online", "", "Asia/Tokyo", None, "Asia/Tokyo"),
    ("MT", "online", "", "", None, "Europe/Malta"),
    ("US", "online", "", "America/Chicago", None, "America/Chicago"),
    ("US", "online", "", "", "America/New_York", "America/New_York"),
    ("US", "online", "", "America/Chicago", "America/Los_Angeles", "America/Los_Angeles"),
    ("BR", "online", "", "America/Sao_Paulo", None, "America/Sao_Paulo"),
    ("AU", "online", "", "", "Australia/Perth", "Australia/Perth"),
    ("ES", "online", "", "Atlantic/Canary", None, "Atlantic/Canary"),
    ("RU", "online", "", "", "Asia/Vladivostok", "Asia/Vladivostok"),
    ("CA", "online", "", "America/Toronto", None, "America/Toronto"),
    ("IN", "online", "", "Asia/Calcutta", None, "Asia/Kolkata"),
    # In person and hybrid: the place's zone, whatever was chosen in the form.
    ("KE", "in_person", "Nairobi", "", None, "Africa/Nairobi"),
    ("FR", "hybrid", "Paris", "Europe/Paris", None, "Europe/Paris"),
    ("JP", "in_person", "Tokyo", "", None, "Asia/Tokyo"),
    ("MT", "hybrid", "Valletta", "", None, "Europe/Malta"),
    ("US", "hybrid", "Denver", "America/New_York", None, "America/Denver"),
    ("BR", "in_person", "Manaus", "", None, "America/Manaus"),
    ("AU", "hybrid", "Perth", "", None, "Australia/Perth"),
    ("ES", "in_person", "Las Palmas de Gran Canaria", "Europe/Madrid", None, "Atlantic/Canary"),
    ("RU", "in_person", "Novosibirsk", "", None, "Asia/Novosibirsk"),
    ("CA", "in_person", "Vancouver", "", None, "America/Vancouver"),
    # A town we cannot find: the country's only zone, else the one chosen.
    ("FR", "in_person", "Zzyzxville", "", None, "Europe/Paris"),
    ("ES", "hybrid", "Zzyzxville", "", "Atlantic/Canary", "Atlantic/Canary"),
    ("US", "in_person", "Zzyzxville", "America/Denver", None, "America/Denver"),
]


@pytest.mark.parametrize(("country", "format", "city", "chosen", "picked", "stored"), FORM_CASES)
def test_the_form_stores_the_right_zone(
    client: FlaskClient,
    store: EventStore,
    country: str,
    format: str,
    city: str,
    chosen: str,
    picked: str | None,
    stored: str,
) -> None:
    preview = post_form(client, country=country, format=format, city=city, timezone=chosen)
    assert preview.status_code == 200, text_of(preview)
    page = preview.get_data(as_text=True)
    shown = preview_zone(page)
    if shown:
        assert timezones.describe_times(f"{DAY}T15:00", shown) in text_of(preview)
    response = confirm_zone(client, page, shown if picked is None else picked)
    assert response.status_code == 303, text_of(response)
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == stored


def test_the_preview_states_the_place_zone_for_confirmation(client: FlaskClient) -> None:
    preview = post_form(client, country="ES", city="Madrid", format="in_person")
    page = text_of(preview)
    assert "Times are in Europe/Madrid: 15:00 there is 14:00 UTC." in page
    assert '<select id="timezone"' not in page  # the place gives it: nothing to choose


def test_the_preview_asks_for_the_zone_of_a_country_with_several(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_form(client, country="ES", format="online", city="")
    page = preview.get_data(as_text=True)
    options = re.findall(
        r'<option value="([^"]+)"',
        re.search(r"<select id=\"timezone\".*?</select>", page, re.DOTALL).group(0),
    )  # type: ignore[union-attr]
    assert options == ["Europe/Madrid", "Africa/Ceuta", "Atlantic/Canary"]
    assert preview_zone(page) == ""
    refused = confirm_zone(client, page, "")
    assert refused.status_code == 422
    assert ES_SEVERAL in text_of(refused)
    tampered = confirm_zone(client, page, "Asia/Tokyo")
    assert tampered.status_code == 422
    assert (
        "Time zone: Asia/Tokyo is not a time zone of Spain; choose one of its zones, such as "
        f"{ES_EXAMPLES}." in text_of(tampered)
    )
    assert len(store) == 0
    assert confirm_zone(client, page, "Africa/Ceuta").status_code == 303
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "Africa/Ceuta"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"format": "online", "country": "", "city": ""}, ONLINE_COUNTRY),
        ({"format": "online", "country": "MT", "timezone": "America/Chicago"}, MALTA_ONLY),
        ({"format": "online", "country": "US", "timezone": "Asia/Tokyo"}, NOT_US),
    ],
)
def test_the_form_refuses_a_missing_country_or_a_zone_of_another_country(
    client: FlaskClient, store: EventStore, fields: dict[str, str], message: str
) -> None:
    response = post_form(client, **fields)
    assert response.status_code == 422
    assert message in text_of(response)
    assert len(store) == 0


def test_a_pin_moved_into_another_zone_is_shown_again_for_confirmation(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_form(client, country="ES", city="Madrid", format="in_person")
    page = preview.get_data(as_text=True)
    assert preview_zone(page) == "Europe/Madrid"
    algiers = {"latitude": "36.75", "longitude": "3.06"}
    again = confirm_zone(client, page, "Europe/Madrid", **algiers)
    assert again.status_code == 422
    assert (
        "Time zone: the pin is now in Africa/Algiers. Times are in Africa/Algiers: 15:00 there is "
        "14:00 UTC. Check the place and the times, then send the event again." in text_of(again)
    )
    # Algiers is not in Spain either: the same answer says so.
    assert "This point is in Algeria, not Spain" in text_of(again)
    assert len(store) == 0
    second = again.get_data(as_text=True)
    assert preview_zone(second) == "Africa/Algiers"
    kept = confirm_zone(client, second, "Africa/Algiers", keep_point="y", **algiers)
    assert kept.status_code == 303
    [event] = store.frame().to_dict("records")
    assert (event["timezone"], event["location_precision"]) == ("Africa/Algiers", "manual")


def test_a_pin_moved_within_the_zone_is_stored_at_once(
    client: FlaskClient, store: EventStore
) -> None:
    page = post_form(client, country="ES", city="Madrid").get_data(as_text=True)
    toledo = {"latitude": "39.8628", "longitude": "-4.0273"}
    assert confirm_zone(client, page, "Europe/Madrid", **toledo).status_code == 303
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "Europe/Madrid"


# The JSON API


@pytest.mark.parametrize(
    ("fields", "zone"),
    [
        ({"format": "online", "country": "KE"}, "Africa/Nairobi"),
        ({"format": "online", "country": "FR"}, "Europe/Paris"),
        ({"format": "online", "country": "JP"}, "Asia/Tokyo"),
        ({"format": "online", "country": "MT", "timezone": "Europe/Malta"}, "Europe/Malta"),
        ({"format": "online", "country": "DE"}, "Europe/Berlin"),
        ({"format": "online", "country": "US", "timezone": "America/Chicago"}, "America/Chicago"),
        ({"format": "online", "country": "BR", "timezone": "America/Manaus"}, "America/Manaus"),
        ({"format": "online", "country": "AU", "timezone": "Australia/Sydney"}, "Australia/Sydney"),
        ({"format": "online", "country": "ES", "timezone": "Atlantic/Canary"}, "Atlantic/Canary"),
        ({"format": "online", "country": "RU", "timezone": "Europe/Moscow"}, "Europe/Moscow"),
        ({"format": "online", "country": "CA", "timezone": "Canada/Pacific"}, "America/Vancouver"),
        ({"format": "online", "country": "IN", "timezone": "Asia/Calcutta"}, "Asia/Kolkata"),
        # The place wins over a zone of the same country.
        ({"city": "Denver", "country": "US", "timezone": "America/New_York"}, "America/Denver"),
        ({"city": "Denver", "country": "US", "timezone": "Asia/Tokyo"}, "America/Denver"),
        ({"city": "Las Palmas de Gran Canaria", "country": "ES"}, "Atlantic/Canary"),
        ({"format": "hybrid", "city": "Perth", "country": "AU"}, "Australia/Perth"),
        ({"city": "Novosibirsk", "country": "RU"}, "Asia/Novosibirsk"),
        ({"city": "Zzyzxville", "country": "KE"}, "Africa/Nairobi"),
        ({"city": "Zzyzxville", "country": "CA", "timezone": "America/Halifax"}, "America/Halifax"),
        # Coordinates given: the zone of that point.
        (
            {"city": "Madrid", "country": "ES", "latitude": 28.1, "longitude": -15.43},
            "Atlantic/Canary",
        ),
    ],
)
def test_the_api_stores_the_right_zone(
    client: FlaskClient, store: EventStore, fields: dict[str, Any], zone: str
) -> None:
    body = {**api_event(), **fields}
    if body["format"] == "online":
        body["city"] = ""
    response = client.post("/api/events", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["timezone"] == zone
    stored = store.get(response.get_json()["id"])
    assert stored is not None and stored["timezone"] == zone


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"format": "online", "country": "", "city": ""}, {"country": ONLINE_COUNTRY}),
        ({"format": "online", "country": "US", "city": ""}, {"timezone": US_SEVERAL}),
        ({"format": "online", "country": "ES", "city": ""}, {"timezone": ES_SEVERAL}),
        ({"format": "online", "country": "US", "timezone": "Asia/Tokyo"}, {"timezone": NOT_US}),
        (
            {"format": "online", "country": "MT", "timezone": "America/Chicago"},
            {"timezone": MALTA_ONLY},
        ),
        ({"city": "Zzyzxville", "country": "US"}, {"timezone": US_SEVERAL}),
        ({"city": "Zzyzxville", "country": "US", "timezone": "Asia/Tokyo"}, {"timezone": NOT_US}),
        (
            {"format": "online", "country": "FR", "timezone": 5},
            {"timezone": "Time zone: give text."},
        ),
    ],
)
def test_the_api_asks_for_a_zone_it_cannot_infer(
    client: FlaskClient, store: EventStore, fields: dict[str, Any], errors: dict[str, str]
) -> None:
    response = client.post("/api/events", json={**api_event(), **fields})
    assert response.status_code == 422
    assert response.get_json() == {"errors": errors}
    assert len(store) == 0


def test_the_openapi_document_describes_the_zone(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    schema = document["paths"]["/api/events"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert "one of the country's zones" in schema["properties"]["timezone"]["description"]
    created = document["paths"]["/api/events"]["post"]["responses"]["201"]["content"][
        "application/json"
    ]["schema"]
    assert "timezone" in created["required"]


def api_event(**fields: Any) -> dict[str, Any]:
    """Return a valid in-person event as a partner posts it."""
    return {
        "title": "Rare disease run",
        "category": "sport",
        "format": "in_person",
        "starts_at": f"{DAY}T10:00",
        "city": "Lyon",
        "country": "FR",
        "organiser": "Partner association",
        "contact_email": "contact@partner.example",
        "consent": True,
        **fields,
    }


# Import

IMPORT_HEADER = [
    "Title", "Format", "Start", "Town", "Country", "Time zone", "Organiser", "E-mail"
]  # fmt: skip
IMPORT_ROWS = [
    # row 2..: title, format, start, town, country, zone
    ["Kenyan webinar", "online", "2027-02-28 15:00", "", "Kenya", ""],
    ["Paris webinar", "online", "2027-02-28 15:00", "", "FR", ""],
    ["Tokyo talk", "in person", "2027-02-28 15:00", "Tokyo", "JP", ""],
    ["Malta webinar", "online", "2027-02-28 15:00", "", "MT", "Europe/Malta"],
    ["US webinar", "online", "2027-02-28 15:00", "", "US", "America/Chicago"],
    ["US webinar without zone", "online", "2027-02-28 15:00", "", "US", ""],
    ["Manaus walk", "in person", "2027-02-28 15:00", "Manaus", "BR", "America/Sao_Paulo"],
    ["Australian webinar", "online", "2027-02-28 15:00", "", "AU", "Asia/Tokyo"],
    ["Spanish village walk", "in person", "2027-02-28 15:00", "Zzyzxville", "ES", ""],
    ["Russian webinar", "online", "2027-02-28 15:00", "", "RU", "Asia/Yekaterinburg"],
    ["Canadian walk", "in person", "2027-02-28 15:00", "Vancouver", "CA", ""],
    ["Global webinar", "online", "2027-02-28 15:00", "", "", ""],
    ["Night webinar", "online", "2027-03-14 02:30", "", "US", "America/New_York"],
]
IMPORTED_ZONES = {
    "Kenyan webinar": "Africa/Nairobi",
    "Paris webinar": "Europe/Paris",
    "Tokyo talk": "Asia/Tokyo",
    "Malta webinar": "Europe/Malta",
    "US webinar": "America/Chicago",
    "Manaus walk": "America/Manaus",
    "Russian webinar": "Asia/Yekaterinburg",
    "Canadian walk": "America/Vancouver",
}


def test_import_stores_each_row_zone_or_says_what_is_missing(app: Flask, store: EventStore) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(IMPORT_HEADER)
    writer.writerows([[*row, "Partner", "partner@example.org"] for row in IMPORT_ROWS])
    with app.app_context():
        report = import_events(buffer.getvalue().encode(), "zones.csv", store)
    stored = {row["title"]: row["timezone"] for row in store.frame().to_dict("records")}
    assert stored == IMPORTED_ZONES
    assert report.rejected == [
        RowNote(7, f"{US_SEVERAL} Add it in a Time zone column.", "US webinar without zone"),
        RowNote(
            9,
            "Time zone: Asia/Tokyo is not a time zone of Australia; choose one of its zones, "
            "such as " + ", ".join(timezones.examples("AU")[:-1]) + " or "
            f"{timezones.examples('AU')[-1]}.",
            "Australian webinar",
        ),
        RowNote(
            10,
            "We could not place 'Zzyzxville, ES' on the map, so its time zone is not known. "
            f"{ES_SEVERAL} Add it in a Time zone column.",
            "Spanish village walk",
        ),
        RowNote(13, ONLINE_COUNTRY_MESSAGE, "Global webinar"),  # the form's own rule
        RowNote(
            14,
            "Start: 02:30 on 14 March 2027 does not exist in America/New_York, where the clocks "
            "go forward that night; give another time.",
            "Night webinar",
        ),
    ]
    assert report.warnings == [
        RowNote(
            8,
            "The time zone America/Sao_Paulo was replaced by America/Manaus, the time zone of "
            "the event's place.",
            "Manaus walk",
        )
    ]


# Times shown and exported


def test_a_us_webinar_at_15_new_york_time_is_shown_and_exported_right(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_form(client, country="US", format="online", city="", timezone="America/New_York")
    page = preview.get_data(as_text=True)
    assert "Times are in America/New_York: 15:00 there is 20:00 UTC." in text_of(preview)
    assert confirm_zone(client, page, preview_zone(page)).status_code == 303
    [event] = store.frame().to_dict("records")
    change(store, event["id"], {"status": "approved"})

    public = text_of(client.get(f"/events/{event['id']}"))
    when = re.search(r'<dd class="event-when">([^<]*)<', public)
    assert when is not None
    day = datetime.fromisoformat(DAY)
    # British English as CLDR writes it (Babel), the zone by its city and its offset that day.
    expected = f"{day:%A}, {day.day} {day:%B} {day.year}, 15:00 (New York time, UTC-05:00)"
    assert when.group(1).strip() == expected
    popup = client.get(f"/api/events/{event['id']}.json").get_json()
    assert (popup["starts_at"], popup["timezone"]) == (f"{DAY}T15:00", "America/New_York")
    assert popup["start"] == f"{DAY}T15:00:00-05:00"
    ics = client.get(f"/events/{event['id']}.ics").get_data(as_text=True)
    assert f"DTSTART;TZID=America/New_York:{DAY.replace('-', '')}T150000" in ics.splitlines()
    assert "BEGIN:VTIMEZONE\r\nTZID:America/New_York" in ics


# Edits


def test_the_organiser_fixes_the_zone_of_an_online_event(
    client: FlaskClient, store: EventStore
) -> None:
    preview = post_form(client, country="US", format="online", city="", timezone="America/Chicago")
    page = preview.get_data(as_text=True)
    response = confirm_zone(client, page, preview_zone(page))
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    match = re.search(r'id="edit-url" href="([^"]+)"', thanks)
    assert match
    path = html.unescape(match.group(1)).split("localhost", 1)[1]
    edit_page = client.get(path).get_data(as_text=True)
    assert re.search(r'<option value="America/Chicago"[^>]* selected>', edit_page)
    fields = {
        "csrf_token": hidden(edit_page, "csrf_token"),
        **make_submission(starts_at=f"{DAY}T15:00", ends_at="", address="", venue=""),
        "format": "online",
        "city": "",
        "country": "US",
        "version": version_of(edit_page),
        "latitude": "",
        "longitude": "",
    }
    wrong = client.post(path, data={**fields, "timezone": "Europe/Paris"})
    assert wrong.status_code == 422
    assert "Time zone: Europe/Paris is not a time zone of the United States" in text_of(wrong)
    fixed = client.post(path, data={**fields, "timezone": "America/New_York"})
    assert fixed.status_code == 303
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "America/New_York"


def test_a_coordinator_cannot_clear_a_zone(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = add_valid_event(store, status="pending")
    page = coordinator_client.get(f"/admin/events/{event['id']}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    values = {name: event[name] for name in ("title", "category", "format", "starts_at")}
    base = {
        **{name: value for name, value in event.items() if name != "version"},
        **values,
        "csrf_token": token.group(1),
        "version": event["version"],
    }
    for zone, message in [
        ("", "Time zone: give the time zone the event's times are in, such as Europe/Paris."),
        ("Europe/Pariss", "Time zone: choose a time zone such as Europe/Paris."),
    ]:
        response = coordinator_client.post(
            f"/admin/events/{event['id']}/edit", data={**base, "timezone": zone}
        )
        assert response.status_code == 400
        assert message in text_of(response)
    assert store.get(event["id"])["timezone"] == "Europe/Paris"  # type: ignore[index]


# mapapp check


def test_check_lists_the_events_without_a_zone(runner: FlaskCliRunner, store: EventStore) -> None:
    add_valid_event(store, title="Has a zone")
    webinar = add_valid_event(
        store, title="Old webinar", format="online", country="", city="", latitude="",
        longitude="", location_precision="none", timezone="",
    )  # fmt: skip
    walk = add_valid_event(store, title="Old walk", country="ES", timezone="")
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert (
        "events.csv: 2 events have no time zone, so their times are shown as UTC; give each one "
        "its zone on its edit page:\n"
        f"  {webinar['id']}: Old webinar (online, no country)\n"
        f"  {walk['id']}: Old walk (in_person, ES)\n"
    ) in result.output
    change(store, webinar["id"], {"timezone": "Europe/Paris", "country": "FR"})
    change(store, walk["id"], {"timezone": "Europe/Madrid"})
    assert "no time zone" not in runner.invoke(cli, ["check"]).output


def second_sunday_of_march() -> str:
    """Return the day the United States put their clocks forward in the edition's year."""
    year = int(DAY[:4])
    first = datetime(year, 3, 1)
    return (first.replace(day=1 + (6 - first.weekday()) % 7 + 7)).date().isoformat()


def test_a_time_the_clocks_jump_over_is_refused(client: FlaskClient, store: EventStore) -> None:
    day = second_sunday_of_march()
    assert timezones.skipped(f"{day}T02:30", "America/New_York")
    assert not timezones.skipped(f"{day}T03:00", "America/New_York")
    assert not timezones.skipped(f"{day}T02:30", "Asia/Tokyo")
    body = api_event(
        format="online", city="", country="US", timezone="America/New_York",
        starts_at=f"{day}T02:30",
    )  # fmt: skip
    response = client.post("/api/events", json=body)
    assert response.status_code == 422
    moment = datetime.fromisoformat(f"{day}T02:30")
    assert response.get_json() == {
        "errors": {
            "starts_at": (
                f"Start: 02:30 on {moment.day} March {moment.year} does not exist in "
                "America/New_York, where the clocks go forward that night; give another time."
            )
        }
    }
    assert len(store) == 0
    later = client.post("/api/events", json={**body, "starts_at": f"{day}T03:30"})
    assert later.status_code == 201


def test_a_placed_event_keeps_its_place_zone_through_an_edit(
    client: FlaskClient, store: EventStore
) -> None:
    # The time zone map names northern Vietnam's zone Asia/Bangkok, which zone.tab gives Thailand.
    page = post_form(client, country="VN", city="Hanoi", format="in_person").get_data(as_text=True)
    response = confirm_zone(client, page, preview_zone(page))
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    match = re.search(r'id="edit-url" href="([^"]+)"', thanks)
    assert match
    path = html.unescape(match.group(1)).split("localhost", 1)[1]
    [event] = store.frame().to_dict("records")
    assert event["timezone"] == "Asia/Bangkok"
    edit_page = client.get(path).get_data(as_text=True)
    fields = {
        "csrf_token": hidden(edit_page, "csrf_token"),
        **make_submission(starts_at=f"{DAY}T15:00", ends_at="", address="", venue=""),
        "title": "Hanoi walk for Rare",
        "city": "Hanoi",
        "country": "VN",
        "timezone": "Asia/Bangkok",
        "version": version_of(edit_page),
        "latitude": event["latitude"],
        "longitude": event["longitude"],
    }
    assert client.post(path, data=fields).status_code == 303
    [edited] = store.frame().to_dict("records")
    assert (edited["title"], edited["timezone"]) == ("Hanoi walk for Rare", "Asia/Bangkok")


def test_an_online_event_placed_on_the_map_keeps_its_place_zone_through_an_edit(
    client: FlaskClient, store: EventStore
) -> None:
    page = post_form(client, country="KE", format="online", city="").get_data(as_text=True)
    response = confirm_zone(client, page, preview_zone(page))
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    match = re.search(r'id="edit-url" href="([^"]+)"', thanks)
    assert match
    path = html.unescape(match.group(1)).split("localhost", 1)[1]
    [event] = store.frame().to_dict("records")
    placed = {"latitude": "48.856613", "longitude": "2.352222", "location_precision": "manual"}
    change(store, event["id"], {**placed, "timezone": "Europe/Paris"})  # a coordinator's click
    edit_page = client.get(path).get_data(as_text=True)
    fields = {
        "csrf_token": hidden(edit_page, "csrf_token"),
        **make_submission(starts_at=f"{DAY}T15:00", ends_at="", address="", venue=""),
        "title": "Webinar, new title",
        "format": "online",
        "city": "",
        "country": "KE",
        "timezone": "Europe/Paris",  # as the edit page shows it
        "version": version_of(edit_page),
        "latitude": placed["latitude"],
        "longitude": placed["longitude"],
    }
    assert client.post(path, data=fields).status_code == 303
    [edited] = store.frame().to_dict("records")
    assert (edited["title"], edited["timezone"]) == ("Webinar, new title", "Europe/Paris")


def test_placing_pending_events_gives_them_their_place_zone(
    runner: FlaskCliRunner, store: EventStore
) -> None:
    unplaced = {"latitude": "", "longitude": "", "location_precision": "none"}
    walk = add_valid_event(
        store, **unplaced, city="Las Palmas de Gran Canaria", country="ES",
        timezone="Europe/Madrid",
    )  # fmt: skip
    result = runner.invoke(cli, args=["geocode", "--pending"])
    assert result.exit_code == 0, result.output
    assert store.get(walk["id"])["timezone"] == "Atlantic/Canary"  # type: ignore[index]


def test_another_place_picked_in_another_zone_is_confirmed_first(
    client: FlaskClient, store: EventStore
) -> None:
    page = post_form(client, country="US", city="Portland").get_data(as_text=True)
    labels = dict(re.findall(r'<label for="place-(\d+)">([^<]+)</label>', page))
    assert labels["0"].endswith(", time zone America/Los_Angeles")
    assert labels["1"].startswith("Portland, Maine, United States")
    assert labels["1"].endswith(", time zone America/New_York")
    # Without JavaScript the stated zone stays the first place's.
    again = confirm_zone(client, page, "America/Los_Angeles", place="1")
    assert again.status_code == 422
    second = again.get_data(as_text=True)
    assert "Time zone: the pin is now in America/New_York." in text_of(again)
    assert re.search(r'id="place-1" value="1" checked>', second)  # the pick is kept
    assert len(store) == 0
    assert confirm_zone(client, second, preview_zone(second), place="1").status_code == 303
    [event] = store.frame().to_dict("records")
    assert (event["city"], event["timezone"]) == ("Portland", "America/New_York")


def test_without_the_tzdata_package_the_system_zone_table_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(package: str) -> Any:
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(timezones.importlib.resources, "files", missing)
    timezones._table.cache_clear()
    try:
        assert timezones.zones_of("ES") == ("Europe/Madrid", "Africa/Ceuta", "Atlantic/Canary")
    finally:
        monkeypatch.undo()
        timezones._table.cache_clear()


def test_the_form_lists_every_country_zones_for_browsers_without_javascript(
    client: FlaskClient,
) -> None:
    page = client.get("/submit").get_data(as_text=True)
    group = re.search(r'<optgroup label="Spain" data-country="ES">(.*?)</optgroup>', page, re.S)
    assert group is not None
    assert re.findall(r'<option value="([^"]+)"', group.group(1)) == [
        "Europe/Madrid",
        "Africa/Ceuta",
        "Atlantic/Canary",
    ]
    assert '<option value="Asia/Kolkata" data-also="Asia/Calcutta">' in page
    assert page.count("<optgroup ") == len(timezones.countries())
