"""The coordinators' edit form: menus of names, date and time inputs, read-only fields, the scope."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import admin_form, audit
from mapapp.access import NATIONAL
from mapapp.geocoding import timezone_at
from mapapp.i18n import sorted_names
from mapapp.storage import EventStore
from tests.conftest import change, make_event
from tests.serve_clients import find_form

LISBON = ("38.722300", "-9.139300")


def edit_path(event: dict[str, str]) -> str:
    """Return the admin edit page of an event."""
    return f"/admin/events/{event['id']}/edit"


def page_of(client: FlaskClient, event: dict[str, str]) -> str:
    """Return the edit page's HTML, checking it opened."""
    response = client.get(edit_path(event))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def form_of(client: FlaskClient, event: dict[str, str]) -> dict[str, str]:
    """Return the edit form's fields as a browser would send them untouched."""
    form = find_form(page_of(client, event))
    assert form is not None
    return form.values()


def select_of(page: str, name: str) -> str:
    """Return the HTML of a select of the edit form."""
    match = re.search(rf'<select id="field-{name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, name
    return match.group(1)


def options_of(page: str, name: str) -> list[tuple[str, str]]:
    """Return a select's (value, label) options."""
    pairs = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_of(page, name))
    return [(html.unescape(value), html.unescape(label)) for value, label in pairs]


def selected_of(page: str, name: str) -> tuple[str, str]:
    """Return a select's selected (value, label)."""
    match = re.search(r'<option value="([^"]*)" selected>([^<]*)</option>', select_of(page, name))
    assert match, name
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def person_entries(app: Flask) -> list[audit.Entry]:
    """Return the audit entries of people's changes (not the events' creation)."""
    with app.app_context():
        return [entry for entry in audit.page(1, 1000).entries if entry.who != "system"]


def test_the_form_shows_menus_of_names_with_the_current_values_selected(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(status="pending", category="talk", format="hybrid"))
    page = page_of(coordinator_client, event)
    assert selected_of(page, "country") == ("FR", "France")
    assert selected_of(page, "category") == ("talk", "Talk or conference")
    assert selected_of(page, "format") == ("hybrid", "Hybrid")
    assert selected_of(page, "status") == ("pending", "Pending review")
    assert selected_of(page, "location_precision") == ("city", "City")
    assert selected_of(page, "language") == ("fr", "French")
    zone, label = selected_of(page, "timezone")
    assert zone == "Europe/Paris" and re.fullmatch(r"Europe/Paris \(UTC\+0[12]:00 now\)", label)
    # Countries by name (codes as values), an administrator's empty choice first.
    countries = options_of(page, "country")
    assert countries[0] == ("", admin_form.NO_COUNTRY_LABEL)
    names = [label for _, label in countries[1:]]
    # Sorted as readers of the language sort them (Åland Islands after Afghanistan).
    assert names == [name for _, name in sorted_names((name, name) for name in names)]
    assert len(names) == 249
    assert ("DE", "Germany") in countries and ("ES", "Spain") in countries
    languages = options_of(page, "language")
    assert languages[0] == ("", "No language given") and ("de", "German") in languages
    # Every field labelled.
    for name, label in [("country", "Country"), ("timezone", "Time zone"), ("title", "Title")]:
        assert f'<label for="field-{name}">{label}</label>' in page


def test_start_and_end_are_date_and_time_inputs_in_local_time(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(starts_at="2027-02-28T18:00", ends_at="2027-03-01T01:30"))
    page = page_of(coordinator_client, event)
    for name, kind, value in [
        ("starts_at_date", "date", "2027-02-28"),
        ("starts_at_time", "time", "18:00"),
        ("ends_at_date", "date", "2027-03-01"),
        ("ends_at_time", "time", "01:30"),
    ]:
        assert re.search(
            rf'<input type="{kind}" id="field-{name}"[^>]*name="{name}" value="{value}"', page
        ), name
    assert 'name="starts_at"' not in page and 'name="ends_at"' not in page


def test_location_source_and_sample_flag_are_shown_but_not_fields(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(location_source="gazetteer", is_sample="true"))
    page = page_of(coordinator_client, event)
    form = form_of(coordinator_client, event)
    assert not {"location_source", "is_sample"} & set(form)
    assert "<dt>Location source</dt><dd>Found in the offline gazetteer (GeoNames)</dd>" in page
    assert "<dt>Sample flag</dt><dd>Yes: a sample event from the demonstration data</dd>" in page


def test_saving_keeps_the_read_only_fields_even_when_a_post_sends_them(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(location_source="gazetteer", is_sample="true"))
    form = form_of(coordinator_client, event)
    form.update(title="A new title", location_source="typed", is_sample="")
    response = coordinator_client.post(edit_path(event), data=form)
    assert response.status_code == 303
    stored = store.get(event["id"])
    assert (stored["title"], stored["location_source"], stored["is_sample"]) == (
        "A new title",
        "gazetteer",
        "true",
    )
    [entry] = person_entries(app)
    assert entry.changes == {"title": ["Light up the town hall", "A new title"]}


def test_an_untouched_form_saves_nothing(
    app: Flask, coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(description="Two\nlines.", language=""))
    response = coordinator_client.post(edit_path(event), data=form_of(coordinator_client, event))
    assert response.status_code == 303
    assert store.get(event["id"]) == event
    assert person_entries(app) == []


@pytest.mark.parametrize(
    ("parts", "starts_at", "ends_at"),
    [
        # What date and time inputs send.
        ({"starts_at": ("2027-02-27", "17:30"), "ends_at": ("2027-02-27", "21:00")},
         "2027-02-27T17:30", "2027-02-27T21:00"),
        # A time alone ends on the start's day; no end at all is no end.
        ({"starts_at": ("2027-02-27", "17:30"), "ends_at": ("", "21:00")},
         "2027-02-27T17:30", "2027-02-27T21:00"),
        ({"starts_at": ("2027-02-27", "17:30"), "ends_at": ("", "")}, "2027-02-27T17:30", ""),
        # Typed where a browser shows a text box: day first, seconds dropped.
        ({"starts_at": ("27/02/2027", "9:05:00"), "ends_at": ("1.3.2027", "00:15")},
         "2027-02-27T09:05", "2027-03-01T00:15"),
    ],
)  # fmt: skip
def test_dates_and_times_are_saved_as_stored_local_times(
    coordinator_client: FlaskClient,
    store: EventStore,
    parts: dict[str, tuple[str, str]],
    starts_at: str,
    ends_at: str,
) -> None:
    event = store.add(make_event())
    form = form_of(coordinator_client, event)
    for name, (day, clock) in parts.items():
        form.update({f"{name}_date": day, f"{name}_time": clock})
    response = coordinator_client.post(edit_path(event), data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    stored = store.get(event["id"])
    assert (stored["starts_at"], stored["ends_at"]) == (starts_at, ends_at)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"starts_at_date": ""}, "starts_at", "Start: give a date such as 28/02/2027."),
        (
            {"starts_at_date": "2027-02-30"},
            "starts_at",
            "Start: “2027-02-30” is not a date we can read; give a date such as 28/02/2027.",
        ),
        ({"starts_at_time": ""}, "starts_at", "Start: give a time such as 18:00."),
        (
            {"starts_at_time": "25:00"},
            "starts_at",
            "Start: “25:00” is not a time we can read; give a time such as 18:00 (24-hour clock).",
        ),
        (
            {"starts_at_date": "", "starts_at_time": ""},
            "starts_at",
            "Start: give a date such as 28/02/2027. Start: give a time such as 18:00.",
        ),
        ({"ends_at_time": ""}, "ends_at", "End: give the time the event ends, such as 20:00."),
        (
            {"ends_at_date": "tomorrow"},
            "ends_at",
            "End: “tomorrow” is not a date we can read; give a date such as 28/02/2027.",
        ),
        (
            {"ends_at_date": "2027-02-27", "ends_at_time": "10:00"},
            "ends_at",
            "End: the event cannot end before it starts.",
        ),
    ],
)
def test_bad_dates_and_times_are_refused_with_a_message_beside_the_field(
    app: Flask,
    coordinator_client: FlaskClient,
    store: EventStore,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    event = store.add(make_event())
    form = form_of(coordinator_client, event)
    form.update(title="Not saved", **changes)
    response = coordinator_client.post(edit_path(event), data=form)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    # In the summary at the top, linked to the field, and next to the field.
    assert f'<li><a href="#field-{field}">{message}</a></li>' in page
    assert f'<p class="field-error" id="error-{field}">{message}</p>' in page
    assert re.search(
        rf'id="field-{field}_date" name="{field}_date" value="[^"]*" '
        rf'aria-describedby="hint-{field} error-{field}" aria-invalid="true"',
        page,
    )
    # What the person typed is kept; nothing is saved.
    assert 'value="Not saved"' in page
    assert store.get(event["id"]) == event
    assert person_entries(app) == []


def test_moving_the_point_by_hand_places_it_and_gives_it_the_zone_of_the_point(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(country="PT", city="Lisboa", location_source="gazetteer"))
    form = form_of(coordinator_client, event)
    form.update(latitude=LISBON[0], longitude=LISBON[1])  # zone left at Europe/Paris
    response = coordinator_client.post(edit_path(event), data=form, follow_redirects=True)
    assert "Saved the event." in response.get_data(as_text=True)
    stored = store.get(event["id"])
    assert (stored["latitude"], stored["longitude"]) == LISBON
    assert (stored["location_precision"], stored["location_source"]) == ("manual", "coordinator")
    assert stored["timezone"] == timezone_at(float(LISBON[0]), float(LISBON[1])) == "Europe/Lisbon"


def test_a_zone_chosen_with_the_move_is_kept(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event())
    form = form_of(coordinator_client, event)
    form.update(latitude=LISBON[0], longitude=LISBON[1], timezone="Europe/Madrid")
    form.update(location_precision="address")
    assert coordinator_client.post(edit_path(event), data=form).status_code == 303
    stored = store.get(event["id"])
    assert (stored["timezone"], stored["location_precision"]) == ("Europe/Madrid", "address")


def test_a_point_moved_outside_the_country_is_saved_with_a_warning(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event())  # in France
    form = form_of(coordinator_client, event)
    form.update(latitude=LISBON[0], longitude=LISBON[1])
    response = coordinator_client.post(edit_path(event), data=form, follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert "Saved the event." in page
    assert "This point is outside France: drag the pin if that is wrong." in page


def test_removing_the_point_leaves_the_event_not_placed(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(format="online", city="", venue=""))
    form = form_of(coordinator_client, event)
    form.update(latitude="", longitude="")
    assert coordinator_client.post(edit_path(event), data=form).status_code == 303
    stored = store.get(event["id"])
    assert (stored["latitude"], stored["location_precision"]) == ("", "none")


def test_a_national_coordinator_chooses_among_their_countries_and_cannot_leave_them(
    app: Flask, store: EventStore, client_as: Callable[..., FlaskClient]
) -> None:
    event = store.add(make_event())
    client = client_as(NATIONAL, {"FR", "BE"})
    page = page_of(client, event)
    assert options_of(page, "country") == [("BE", "Belgium"), ("FR", "France")]
    zones = [value for value, _ in options_of(page, "timezone") if value]
    assert zones == ["Europe/Brussels", "Europe/Paris"]

    form = form_of(client, event)
    form.update(country="DE", timezone="Europe/Berlin")
    response = client.post(edit_path(event), data=form)
    assert response.status_code == 400
    message = (
        "Country: you coordinate events in Belgium, France, not in Germany. Ask an administrator "
        "to take care of this event."
    )
    page = html.unescape(response.get_data(as_text=True))
    assert f'<p class="field-error" id="error-country">{message}</p>' in page
    assert store.get(event["id"]) == event
    assert person_entries(app) == []

    form.update(country="BE", timezone="Europe/Brussels")  # one of theirs: saved
    assert client.post(edit_path(event), data=form).status_code == 303
    assert store.get(event["id"])["country"] == "BE"


def test_an_event_with_no_country_shows_the_empty_choice_and_every_zone(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(
        make_event(format="online", country="", city="", venue="", latitude="", longitude="",
                   location_precision="none", timezone="UTC")
    )  # fmt: skip
    page = page_of(coordinator_client, event)
    assert selected_of(page, "country") == ("", admin_form.NO_COUNTRY_LABEL)
    assert selected_of(page, "timezone") == ("UTC", "UTC")
    zones = {value for value, _ in options_of(page, "timezone")}
    assert {"Europe/Paris", "America/Chicago", "Asia/Tokyo", "UTC"} <= zones


def test_a_zone_outside_the_country_is_kept_as_stored(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event(timezone="Asia/Calcutta", country="IN", city="Delhi"))
    page = page_of(coordinator_client, event)
    assert selected_of(page, "timezone") == ("Asia/Calcutta", "Asia/Calcutta (as stored)")
    response = coordinator_client.post(edit_path(event), data=form_of(coordinator_client, event))
    assert response.status_code == 303
    assert store.get(event["id"])["timezone"] == "Asia/Calcutta"


def test_the_conflict_view_shows_names_as_they_are_now_beside_what_was_sent(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    event = store.add(make_event())
    form = form_of(coordinator_client, event)
    change(store, event["id"], {"category": "talk", "starts_at": "2027-02-28T19:00"})
    form["title"] = "Mine"
    response = coordinator_client.post(edit_path(event), data=form)
    assert response.status_code == 409
    page = html.unescape(response.get_data(as_text=True))
    assert '<td dir="auto">Talk or conference</td><td dir="auto">Light up for Rare</td>' in page
    assert (
        '<td dir="auto">28 February 2027, 19:00</td><td dir="auto">28 February 2027, 18:00</td>'
    ) in page
    assert '<td dir="auto">Light up the town hall</td><td dir="auto">Mine</td>' in page
    again = find_form(response.get_data(as_text=True))
    assert again is not None and again.values()["title"] == "Mine"
    assert again.values()["version"] == store.get(event["id"])["version"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2027-02-28", "2027-02-28"),
        ("28/02/2027", "2027-02-28"),
        ("28.2.2027", "2027-02-28"),
        ("2027-02-29", None),  # not a leap year
        ("0999-02-28", None),  # before 1000: the store cannot write it
        ("02/28/2027", None),  # month first is not read
        ("", None),
    ],
)
def test_dates_people_send(typed: str, expected: str | None) -> None:
    parsed = admin_form.parse({"starts_at_date": typed, "starts_at_time": "18:00"}, make_event())
    assert parsed.values.get("starts_at") == (f"{expected}T18:00" if expected else None)
    assert ("starts_at" in parsed.errors) == (expected is None)
