"""Flask-WTF forms: CSRF protection and rendering; the rules live in mapapp.submissions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache, lru_cache

import pycountry
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields.choices import SelectChoice

from mapapp import timezones
from mapapp.events import CATEGORIES, FORMATS, MAX_LENGTHS, country_name

# A field people never see; bots that fill every input fill it and are turned away.
HONEYPOT_FIELD = "homepage"


def _choices(pairs: Iterable[tuple[str, str]], prompt: str = "") -> list[SelectChoice]:
    """Return (value, label) pairs as WTForms choices, after an empty prompt if given."""
    head = [SelectChoice("", prompt)] if prompt else []
    return head + [SelectChoice(value, label) for value, label in pairs]


@cache
def country_choices() -> list[SelectChoice]:
    """Return every ISO country as (code, full name), sorted by name."""
    pairs = [(country.alpha_2, country_name(country.alpha_2)) for country in pycountry.countries]
    return _choices(sorted(pairs, key=lambda pair: pair[1]), "Choose a country")


@cache
def language_choices() -> list[SelectChoice]:
    """Return every ISO 639-1 language as (code, name), sorted by name."""
    pairs = [
        (language.alpha_2, language.name)
        for language in pycountry.languages
        if hasattr(language, "alpha_2")
    ]
    return _choices(sorted(pairs, key=lambda pair: pair[1]), "Choose a language")


@cache
def _countries_by_name() -> list[tuple[str, str]]:
    """Return (code, name) of every country with time zones, sorted by name."""
    pairs = [(code, country_name(code)) for code in timezones.countries()]
    return sorted(pairs, key=lambda pair: pair[1])


ZoneChoice = tuple[str, str, str]  # zone, label, its aliases separated by spaces


def zone_choices(country: str) -> list[ZoneChoice]:
    """Return a country's zones with their labels and aliases (browsers may name an alias)."""
    return [
        (zone, label, " ".join(timezones.aliases_of(zone)))
        for zone, label in timezones.choices(country)
    ]


def timezone_groups() -> list[tuple[str, str, list[ZoneChoice]]]:
    """Return (country code, country name, zone choices) for every country, by name.

    The labels name each zone's offset now: built once an hour (offsets change on the hour).
    """
    return _timezone_groups(datetime.now(UTC).strftime("%Y-%m-%dT%H"))


@lru_cache(maxsize=2)
def _timezone_groups(hour: str) -> list[tuple[str, str, list[ZoneChoice]]]:
    """Return the time zone groups with their labels of an hour (see timezone_groups)."""
    return [(code, name, zone_choices(code)) for code, name in _countries_by_name()]


def _length(name: str) -> dict[str, int]:
    """Return the maxlength attribute of a field."""
    return {"maxlength": MAX_LENGTHS[name]}


class SubmitForm(FlaskForm):
    """The organiser's event form."""

    title = StringField("Event title", render_kw=_length("title"))
    category = SelectField(
        "Category",
        choices=_choices(CATEGORIES.items(), "Choose a category"),
        validate_choice=False,
    )
    format = RadioField("Format", choices=_choices(FORMATS.items()), validate_choice=False)
    starts_at = StringField(
        "Starts (local time at the event)", render_kw={"type": "datetime-local"}
    )
    ends_at = StringField("Ends (local time at the event)", render_kw={"type": "datetime-local"})
    # Rendered by submit_fields.html's timezone_field: one group of options per country.
    timezone = SelectField("Time zone", choices=[], validate_choice=False)
    venue = StringField("Venue", render_kw=_length("venue"))
    address = StringField("Street address", render_kw=_length("address"))
    city = StringField("Town or city", render_kw=_length("city"))
    region = StringField("Region or state", render_kw=_length("region"))
    country = SelectField("Country", choices=country_choices(), validate_choice=False)
    website = URLField("Website", render_kw=_length("website"))
    organiser = StringField("Organiser", render_kw=_length("organiser"))
    contact_email = EmailField("Contact e-mail (private)", render_kw=_length("contact_email"))
    description = TextAreaField("Description", render_kw={**_length("description"), "rows": 6})
    language = SelectField(
        "Language of the event", choices=language_choices(), validate_choice=False
    )
    consent = BooleanField(
        "I agree that the details above, except my e-mail, are published on the map once a coordinator approves them."
    )
    started = HiddenField()
    homepage = StringField(
        "Leave this field empty",
        render_kw={"autocomplete": "off", "tabindex": "-1"},
    )

    def zone_groups(self) -> list[tuple[str, str, list[ZoneChoice]]]:
        """Return the time zone select's groups (see timezone_groups)."""
        return timezone_groups()


class ConfirmForm(FlaskForm):
    """The preview's form: the signed draft, the chosen place and the duplicate acknowledgement."""

    draft = HiddenField()
    place = RadioField("Place", choices=[], validate_choice=False)
    latitude = StringField("Latitude", render_kw={"inputmode": "decimal"})
    longitude = StringField("Longitude", render_kw={"inputmode": "decimal"})
    submit_anyway = BooleanField("This is a different event: submit it anyway")
    keep_point = BooleanField("The pin is where the event takes place: keep it there")
    # Rendered by submit_preview.html: the zone chosen (no place) or stated (a placed event).
    timezone = SelectField("Time zone", choices=[], validate_choice=False)


class EditForm(SubmitForm):
    """The edit link's form: the same fields, no spam checks, plus coordinates."""

    latitude = StringField("Latitude", render_kw={"inputmode": "decimal"})
    longitude = StringField("Longitude", render_kw={"inputmode": "decimal"})


class WithdrawForm(FlaskForm):
    """The button that withdraws an event (CSRF-protected)."""

    confirm = BooleanField("Yes, withdraw this event")
