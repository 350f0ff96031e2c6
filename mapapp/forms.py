"""Flask-WTF forms: CSRF protection and rendering; the rules live in mapapp.submissions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

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
from mapapp.events import CATEGORIES, FORMATS, MAX_LENGTHS
from mapapp.i18n import (
    N_,
    _,
    country_name,
    current_code,
    current_locale,
    language_name,
    lazy_gettext,
    sorted_names,
)

# A field people never see; bots that fill every input fill it and are turned away.
HONEYPOT_FIELD = "homepage"
CHOOSE_COUNTRY = N_("Choose a country")
CHOOSE_LANGUAGE = N_("Choose a language")
CHOOSE_CATEGORY = N_("Choose a category")


def _choices(pairs: Iterable[tuple[str, str]], prompt: str = "") -> list[SelectChoice]:
    """Return (value, label) pairs as WTForms choices, after an empty prompt if given."""
    head = [SelectChoice("", prompt)] if prompt else []
    return head + [SelectChoice(value, label) for value, label in pairs]


def country_choices() -> list[SelectChoice]:
    """Return every ISO country as (code, name) in the interface language, sorted by name."""
    return _country_choices(current_code())


@cache
def _country_choices(language: str) -> list[SelectChoice]:
    """Return the country choices of an interface language (see country_choices)."""
    pairs = [(country.alpha_2, country_name(country.alpha_2)) for country in pycountry.countries]
    return _choices(sorted_names(pairs), _(CHOOSE_COUNTRY))


def language_choices() -> list[SelectChoice]:
    """Return every ISO 639-1 language as (code, name) in the interface language, by name."""
    return _language_choices(current_code())


@cache
def _language_choices(language: str) -> list[SelectChoice]:
    """Return the language choices of an interface language (see language_choices)."""
    names = current_locale().languages
    pairs = []
    for entry in pycountry.languages:
        code = getattr(entry, "alpha_2", "")
        if code:
            name = language_name(code)
            pairs.append((code, names.get(code, entry.name) if name == code else name))
    return _choices(sorted_names(pairs), _(CHOOSE_LANGUAGE))


def category_choices() -> list[SelectChoice]:
    """Return the categories in the interface language, after the prompt, in their order."""
    return _choices(((code, _(label)) for code, label in CATEGORIES.items()), _(CHOOSE_CATEGORY))


def format_choices() -> list[SelectChoice]:
    """Return the formats in the interface language, in their order."""
    return _choices((code, _(label)) for code, label in FORMATS.items())


def _countries_by_name(language: str) -> list[tuple[str, str]]:
    """Return (code, name) of every country with time zones, sorted by name in a language."""
    return sorted_names((code, country_name(code)) for code in timezones.countries())


ZoneChoice = tuple[str, str, str]  # zone, label, its aliases separated by spaces


def zone_choices(country: str) -> list[ZoneChoice]:
    """Return a country's zones with their labels and aliases (browsers may name an alias)."""
    return [
        (zone, label, " ".join(timezones.aliases_of(zone)))
        for zone, label in timezones.choices(country)
    ]


def timezone_groups() -> list[tuple[str, str, list[ZoneChoice]]]:
    """Return (country code, country name, zone choices) for every country, by name.

    The labels name each zone's offset now: built once an hour (offsets change on the hour)
    and interface language.
    """
    return _timezone_groups(datetime.now(UTC).strftime("%Y-%m-%dT%H"), current_code())


@lru_cache(maxsize=2 * 10)
def _timezone_groups(hour: str, language: str) -> list[tuple[str, str, list[ZoneChoice]]]:
    """Return the time zone groups with their labels of an hour and language (see above)."""
    return [(code, name, zone_choices(code)) for code, name in _countries_by_name(language)]


def _length(name: str) -> dict[str, int]:
    """Return the maxlength attribute of a field."""
    return {"maxlength": MAX_LENGTHS[name]}


class SubmitForm(FlaskForm):
    """The organiser's event form."""

    title = StringField(lazy_gettext("Event title"), render_kw=_length("title"))
    # Choices in the interface language are set on each form (see __init__).
    category = SelectField(lazy_gettext("Category"), choices=[], validate_choice=False)
    format = RadioField(lazy_gettext("Format"), choices=[], validate_choice=False)
    starts_at = StringField(
        lazy_gettext("Starts (local time at the event)"), render_kw={"type": "datetime-local"}
    )
    ends_at = StringField(
        lazy_gettext("Ends (local time at the event)"), render_kw={"type": "datetime-local"}
    )
    # Rendered by submit_fields.html's timezone_field: one group of options per country.
    timezone = SelectField(lazy_gettext("Time zone"), choices=[], validate_choice=False)
    venue = StringField(lazy_gettext("Venue"), render_kw=_length("venue"))
    address = StringField(lazy_gettext("Street address"), render_kw=_length("address"))
    city = StringField(lazy_gettext("Town or city"), render_kw=_length("city"))
    region = StringField(lazy_gettext("Region or state"), render_kw=_length("region"))
    country = SelectField(lazy_gettext("Country"), choices=[], validate_choice=False)
    website = URLField(lazy_gettext("Website"), render_kw=_length("website"))
    organiser = StringField(lazy_gettext("Organiser"), render_kw=_length("organiser"))
    contact_email = EmailField(
        lazy_gettext("Contact e-mail (private)"), render_kw=_length("contact_email")
    )
    description = TextAreaField(
        lazy_gettext("Description"), render_kw={**_length("description"), "rows": 6}
    )
    language = SelectField(lazy_gettext("Language of the event"), choices=[], validate_choice=False)
    consent = BooleanField(
        lazy_gettext(
            "I agree that the details above, except my e-mail, are published on the map once a "
            "coordinator approves them."
        )
    )
    started = HiddenField()
    homepage = StringField(
        # Translators: the label of a field hidden from people, which only robots fill in.
        lazy_gettext("Leave this field empty"),
        render_kw={"autocomplete": "off", "tabindex": "-1"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()
        self.format.choices = format_choices()
        self.country.choices = country_choices()
        self.language.choices = language_choices()

    def zone_groups(self) -> list[tuple[str, str, list[ZoneChoice]]]:
        """Return the time zone select's groups (see timezone_groups)."""
        return timezone_groups()


class ConfirmForm(FlaskForm):
    """The preview's form: the signed draft, the chosen place and the duplicate acknowledgement."""

    draft = HiddenField()
    # Translators: a noun: the place where the event takes place.
    place = RadioField(lazy_gettext("Place"), choices=[], validate_choice=False)
    latitude = StringField(lazy_gettext("Latitude"), render_kw={"inputmode": "decimal"})
    longitude = StringField(lazy_gettext("Longitude"), render_kw={"inputmode": "decimal"})
    submit_anyway = BooleanField(lazy_gettext("This is a different event: submit it anyway"))
    keep_point = BooleanField(lazy_gettext("The pin is where the event takes place: keep it there"))
    # Rendered by submit_preview.html: the zone chosen (no place) or stated (a placed event).
    timezone = SelectField(lazy_gettext("Time zone"), choices=[], validate_choice=False)


class EditForm(SubmitForm):
    """The edit link's form: the same fields, no spam checks, plus coordinates."""

    latitude = StringField(lazy_gettext("Latitude"), render_kw={"inputmode": "decimal"})
    longitude = StringField(lazy_gettext("Longitude"), render_kw={"inputmode": "decimal"})


class WithdrawForm(FlaskForm):
    """The button that withdraws an event (CSRF-protected)."""

    confirm = BooleanField(lazy_gettext("Yes, withdraw this event"))
