"""The coordinators' edit form: the fields it shows and their widgets, and form <-> stored values.

People see menus of names (countries, languages, categories, the zones of the chosen country),
date and time inputs in the event's local time, and the point on a map; the store keeps codes,
`YYYY-MM-DDTHH:MM` and coordinates. `form_values` turns an event into what the form shows and
`parse` turns a sent form back into the stored values to save, with a message per field it
cannot read. The location source and the sample flag are shown, never sent: saving keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache

import pycountry

from mapapp import access, moderation
from mapapp.events import (
    CATEGORIES,
    FIELD_LABELS,
    FORMATS,
    LOCAL_TIME_FORMAT,
    LOCATION_PRECISIONS,
    MAX_LENGTHS,
    MIN_YEAR,
    STATUSES,
    format_coordinate,
    parse_local_time,
)
from mapapp.forms import ZoneChoice, timezone_groups
from mapapp.i18n import (
    DEFAULT_LANGUAGE,
    N_,
    _,
    country_name,
    current_code,
    format_date,
    format_time,
    language_name,
    sorted_names,
)

# The widgets the template knows, one per kind of input.
TEXT, TEXTAREA, URL, EMAIL, SELECT, DATETIME, ZONE, COORDINATE = (
    "text",
    "textarea",
    "url",
    "email",
    "select",
    "datetime",
    "zone",
    "coordinate",
)
# The form's groups of fields, in the order a person fills them in (country before its zones).
# The legends are marked for the catalog and translated by `layout`.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        N_("The event"),
        ("title", "status", "category", "format", "language", "description", "website"),
    ),
    # Translators: the heading of the form's date and time fields.
    (N_("When"), ("starts_at", "ends_at")),
    (
        # Translators: the heading of the form's place fields.
        N_("Where"),
        (
            "venue",
            "address",
            "city",
            "region",
            "country",
            "timezone",
            "latitude",
            "longitude",
            "location_precision",
        ),
    ),
    # Translators: the heading of the form's organiser and contact fields.
    (N_("Who"), ("organiser", "contact_email")),
    (N_("Moderation"), ("moderation_note",)),
)
WIDGETS: dict[str, str] = {
    "status": SELECT,
    "category": SELECT,
    "format": SELECT,
    "language": SELECT,
    "country": SELECT,
    "location_precision": SELECT,
    "timezone": ZONE,
    "starts_at": DATETIME,
    "ends_at": DATETIME,
    "latitude": COORDINATE,
    "longitude": COORDINATE,
    "description": TEXTAREA,
    "moderation_note": TEXTAREA,
    "website": URL,
    "contact_email": EMAIL,
}
# The menus whose options are the schema's codes with their labels.
MENUS: dict[str, dict[str, str]] = {
    "status": STATUSES,
    "category": CATEGORIES,
    "format": FORMATS,
    "location_precision": LOCATION_PRECISIONS,
}
# Shown as they are stored, never sent with the form: saving keeps them.
READ_ONLY_FIELDS: tuple[str, ...] = ("location_source", "is_sample")
DATETIME_FIELDS: tuple[str, ...] = ("starts_at", "ends_at")
DATE_SUFFIX, TIME_SUFFIX = "_date", "_time"
# Every text below is marked for the catalog and translated where it is shown.
HINTS: dict[str, str] = {
    "starts_at": N_("The date and the time where the event takes place, in its time zone below."),
    "ends_at": N_(
        "Optional. Leave both empty for no end time; give the time alone for an event that ends "
        "on the day it starts."
    ),
    "timezone": N_("The zones of the country chosen above; with no country, every zone."),
    "latitude": N_("Click the map or drag the pin to set the point, or type it here."),
    # Translators: “Placed by hand” is the name of a location precision in the menu.
    "location_precision": N_(
        "Moving the point by hand makes it “Placed by hand”, and gives the event the time zone "
        "of the new point unless you chose another zone."
    ),
    "moderation_note": N_("Private: only coordinators see it."),
}
PROMPTS = {
    "country": N_("Choose a country"),
    "language": N_("No language given"),
    "timezone": N_("Choose a time zone"),
}
NO_COUNTRY_LABEL = N_("No country (online events looked after by the international team)")
# Translators: the page's script puts the point's coordinates in place of {lat} and {lon};
# keep both as they are.
MOVED_MESSAGE = N_("The pin is now at {lat}, {lon}: save the form to keep it there.")
WITHOUT_COUNTRY_GROUP = N_("Without a country")
# Translators: where an event's point on the map came from.
SOURCE_LABELS = {
    "organiser": N_("Placed by the organiser on the map"),
    "coordinator": N_("Placed by a coordinator"),
    "partner": N_("Sent by a partner's system"),
    "import": N_("Imported from a file"),
    "gazetteer": N_("Found in the offline gazetteer (GeoNames)"),
    "nominatim": N_("Found by Nominatim (OpenStreetMap)"),
    "sample": N_("Sample data"),
}
# Translators: whether an event is a sample event.
SAMPLE_LABELS = {"true": N_("Yes: a sample event from the demonstration data"), "": N_("No")}
# Translators: a field that has no value.
NOT_SET = N_("Not set")

DATE_EXAMPLE = "28/02/2027"
TIME_EXAMPLES = {"starts_at": "18:00", "ends_at": "20:00"}
# Translators: %(label)s is the field's name (Start, End), %(date)s an example such as 28/02/2027.
MISSING_DATE_MESSAGE = N_("%(label)s: give a date such as %(date)s.")
BAD_DATE_MESSAGE = N_(
    "%(label)s: “%(typed)s” is not a date we can read; give a date such as %(date)s."
)
MISSING_TIME_MESSAGE = N_("%(label)s: give a time such as %(time)s.")
BAD_TIME_MESSAGE = N_(
    "%(label)s: “%(typed)s” is not a time we can read; give a time such as %(time)s "
    "(24-hour clock)."
)
END_DATE_WITHOUT_TIME_MESSAGE = N_("End: give the time the event ends, such as 20:00.")
# What a date input sends (ISO), and what people type where a browser shows a plain text box.
ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
TYPED_DATE = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")
TYPED_TIME = re.compile(r"(\d{1,2})[:.h](\d{2})(?::(\d{2}))?")


@dataclass(frozen=True)
class Choice:
    """One option of a menu: the stored value and the name people read."""

    value: str
    label: str


@dataclass(frozen=True)
class ZoneGroup:
    """The zones of one country in the time zone menu ("" for the zones of no country)."""

    country: str
    name: str
    zones: tuple[ZoneChoice, ...]


@dataclass(frozen=True)
class ZoneMenu:
    """The time zone menu: its groups, and every zone they offer."""

    groups: tuple[ZoneGroup, ...]

    @property
    def values(self) -> frozenset[str]:
        """Return the zones the menu offers."""
        return frozenset(zone for group in self.groups for zone, _, _ in group.zones)


@dataclass(frozen=True)
class FormField:
    """One field of the edit form: its name, label, widget, hint and menu options."""

    name: str
    label: str
    widget: str
    hint: str = ""
    choices: tuple[Choice, ...] = ()
    max_length: int | None = None

    @property
    def values(self) -> frozenset[str]:
        """Return the values the menu offers."""
        return frozenset(choice.value for choice in self.choices)


@dataclass(frozen=True)
class Group:
    """A group of fields shown together under a heading."""

    legend: str
    fields: tuple[FormField, ...]


@dataclass
class Parsed:
    """A sent form read back: the stored values to save, or a message per field it cannot read."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    moved: bool = False  # the point was moved by hand (on the map or typed)


@dataclass(frozen=True)
class Saved:
    """What saving the form did, with the form as read."""

    outcome: moderation.Outcome
    parsed: Parsed


def layout(scope: access.Scope) -> tuple[Group, ...]:
    """Return the form's groups of fields, the country menu holding the countries of the scope."""
    return tuple(
        Group(_(legend), tuple(_field(name, scope) for name in names)) for legend, names in GROUPS
    )


def prompts() -> dict[str, str]:
    """Return the menus' prompts in the interface language."""
    return {name: _(prompt) for name, prompt in PROMPTS.items()}


def moved_message() -> str:
    """Return what the map says once the pin is moved ({lat} and {lon} filled in by the script)."""
    return _(MOVED_MESSAGE)


def anchors() -> dict[str, str]:
    """Return the id of the element each field's error links to (a date and time: their group)."""
    return {name: f"field-{name}" for _legend, names in GROUPS for name in names}


def zone_menu(scope: access.Scope) -> ZoneMenu:
    """Return the time zone menu's groups: the zones of each country the scope covers, by name."""
    groups = [
        ZoneGroup(code, name, tuple(zones))
        for code, name, zones in timezone_groups()
        if scope.covers_country(code)
    ]
    if scope.covers_country(""):
        groups.append(ZoneGroup("", _(WITHOUT_COUNTRY_GROUP), (("UTC", "UTC", ""),)))
    return ZoneMenu(tuple(groups))


def read_only(event: Mapping[str, str]) -> list[tuple[str, str]]:
    """Return (label, value in words) of the fields shown but not sent."""
    words = {"location_source": SOURCE_LABELS, "is_sample": SAMPLE_LABELS}
    shown = []
    for name in READ_ONLY_FIELDS:
        value = str(event.get(name, ""))
        word = words[name].get(value)
        shown.append((_(FIELD_LABELS[name]), _(word) if word else value or _(NOT_SET)))
    return shown


def form_values(event: Mapping[str, str]) -> dict[str, str]:
    """Return the values the form shows for an event: its fields, with dates and times apart."""
    values = {name: str(event.get(name, "")) for name in _sent_fields()}
    for name in DATETIME_FIELDS:
        moment = parse_local_time(str(event.get(name, "")))
        values[name + DATE_SUFFIX] = moment.date().isoformat() if moment else ""
        values[name + TIME_SUFFIX] = moment.strftime("%H:%M") if moment else ""
    return values


def refill(event: Mapping[str, str], form: Mapping[str, str]) -> dict[str, str]:
    """Return the values to show again after a refused save: what the person sent, else stored."""
    shown = form_values(event)
    return {name: form.get(name, value) for name, value in shown.items()}


def parse(form: Mapping[str, str], current: Mapping[str, str]) -> Parsed:
    """Return the stored values a sent form means, given the event as it is stored.

    Fields missing from the form keep their stored value. A point moved by hand (on the map
    or typed) is "Placed by hand" by a coordinator, unless another precision was chosen, and
    takes the time zone of the new point unless another zone was chosen.
    """
    parsed = Parsed()
    for name in _sent_fields():
        if name in form:
            parsed.values[name] = str(form[name])
    start_date = None
    for name in DATETIME_FIELDS:
        if name + DATE_SUFFIX not in form and name + TIME_SUFFIX not in form:
            continue
        stored, day, error = _local_time(
            name,
            str(form.get(name + DATE_SUFFIX, "")),
            str(form.get(name + TIME_SUFFIX, "")),
            start_date,
        )
        if name == "starts_at":
            start_date = day
        if error:
            parsed.errors[name] = error
        else:
            parsed.values[name] = stored
    _place_by_hand(parsed, current)
    return parsed


def display(event: Mapping[str, str]) -> dict[str, str]:
    """Return an event's fields in words, as the conflict view shows them side by side."""
    shown = {name: str(value) for name, value in event.items()}
    for name, labels in MENUS.items():
        if name in shown and shown[name] in labels:
            shown[name] = _(labels[shown[name]])
    if shown.get("country"):
        shown["country"] = country_name(shown["country"])
    if shown.get("language"):
        shown["language"] = dict(_languages(current_code())).get(
            shown["language"], shown["language"]
        )
    if shown.get("is_sample") in SAMPLE_LABELS:
        shown["is_sample"] = _(SAMPLE_LABELS[shown["is_sample"]])
    for name in DATETIME_FIELDS:
        if moment := parse_local_time(shown.get(name, "")):
            shown[name] = _moment_text(moment)
    return shown


def _moment_text(moment: datetime) -> str:
    """Return a local date and time as the conflict view shows it ("28 February 2027, 18:00").

    English keeps the form it has always had; other languages get CLDR's long date and time.
    """
    if current_code() == DEFAULT_LANGUAGE:
        return f"{moment.day} {moment:%B %Y}, {moment:%H:%M}"
    # Translators: a date and a time, such as "28 February 2027, 18:00".
    return _("%(date)s, %(time)s", date=format_date(moment), time=format_time(moment))


def save(event_id: str, who: str, form: Mapping[str, str], version: str) -> Saved:
    """Read a sent edit form and save it as moderation.edit does (scope and version checked)."""
    current = access.events().require_changeable(event_id)
    parsed = parse(form, current)
    if parsed.errors:
        return Saved(moderation.Outcome(errors=parsed.errors), parsed)
    return Saved(moderation.edit(event_id, who, parsed.values, version), parsed)


def _sent_fields() -> tuple[str, ...]:
    """Return the fields the form sends under their own names (dates and times go in parts)."""
    return tuple(name for _legend, names in GROUPS for name in names if name not in DATETIME_FIELDS)


def _field(name: str, scope: access.Scope) -> FormField:
    """Return one field of the form with its options."""
    return FormField(
        name,
        _(FIELD_LABELS[name]),
        WIDGETS.get(name, TEXT),
        _(HINTS[name]) if name in HINTS else "",
        _choices(name, scope),
        MAX_LENGTHS.get(name),
    )


def _choices(name: str, scope: access.Scope) -> tuple[Choice, ...]:
    """Return a menu's options (none for a field that is not a menu)."""
    if name == "country":
        head = (Choice("", _(NO_COUNTRY_LABEL)),) if scope.covers_country("") else ()
        return head + tuple(
            Choice(code, label)
            for code, label in _countries(current_code())
            if scope.covers_country(code)
        )
    if name == "language":
        return (Choice("", _(PROMPTS["language"])),) + tuple(
            Choice(c, n) for c, n in _languages(current_code())
        )
    return tuple(Choice(code, _(label)) for code, label in MENUS.get(name, {}).items())


@cache
def _countries(language: str) -> tuple[tuple[str, str], ...]:
    """Return every ISO country as (code, name in the language), sorted as its readers sort."""
    pairs = [(country.alpha_2, country_name(country.alpha_2)) for country in pycountry.countries]
    return tuple(sorted_names(pairs))


@cache
def _languages(language: str) -> tuple[tuple[str, str], ...]:
    """Return every ISO 639-1 language as (code, name in the language), sorted by name."""
    pairs = [
        (str(item.alpha_2), language_name(item.alpha_2) or str(item.name))
        for item in pycountry.languages
        if hasattr(item, "alpha_2")
    ]
    return tuple(sorted_names(pairs))


def _local_time(
    name: str, typed_date: str, typed_time: str, start_date: date | None
) -> tuple[str, date | None, str]:
    """Return (stored value, its date, "") of a date and a time, or ("", date, message).

    An end with a time and no date ends on the start's date; an end with neither has no end.
    """
    label = _(FIELD_LABELS[name])
    typed_date, typed_time = typed_date.strip(), typed_time.strip()
    if name == "ends_at" and not typed_date and not typed_time:
        return "", None, ""
    day = _read_date(typed_date)
    clock = _read_time(typed_time)
    if name == "ends_at" and not typed_date and start_date is not None:
        day = start_date
    problems = []
    if day is None:
        if typed_date:
            problems.append(_(BAD_DATE_MESSAGE, label=label, typed=typed_date, date=DATE_EXAMPLE))
        else:
            problems.append(_(MISSING_DATE_MESSAGE, label=label, date=DATE_EXAMPLE))
    if clock is None:
        if name == "ends_at" and typed_date and not typed_time:
            problems.append(_(END_DATE_WITHOUT_TIME_MESSAGE))
        else:
            example = TIME_EXAMPLES[name]
            if typed_time:
                problems.append(_(BAD_TIME_MESSAGE, label=label, typed=typed_time, time=example))
            else:
                problems.append(_(MISSING_TIME_MESSAGE, label=label, time=example))
    if day is None or clock is None:
        return "", day, " ".join(problems)
    return datetime.combine(day, clock).strftime(LOCAL_TIME_FORMAT), day, ""


def _read_date(text: str) -> date | None:
    """Return the date a date input sent (2027-02-28) or a person typed (28/02/2027)."""
    if match := ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := TYPED_DATE.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
    else:
        return None
    if year < MIN_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _read_time(text: str) -> time | None:
    """Return the time a time input sent or a person typed (18:00, 18:00:00, 18.00, 18h00)."""
    match = TYPED_TIME.fullmatch(text)
    if match is None:
        return None
    hour, minute, second = (int(part or 0) for part in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute)  # the store keeps minutes


def _place_by_hand(parsed: Parsed, current: Mapping[str, str]) -> None:
    """Mark a point moved by hand as placed by a coordinator, in the time zone of the point."""
    values = parsed.values
    if "latitude" not in values or "longitude" not in values:
        return
    point = _point(values["latitude"], values["longitude"])
    if not values["latitude"].strip() and not values["longitude"].strip():
        if current.get("latitude") and values.get("location_precision") in (
            None,
            current.get("location_precision"),
        ):
            values["location_precision"] = "none"  # the point was removed
        return
    if point is None or point == _point(current.get("latitude", ""), current.get("longitude", "")):
        return  # not moved, or not a point: validation says what is wrong
    parsed.moved = True
    if values.get("location_precision", current.get("location_precision")) == current.get(
        "location_precision"
    ):
        values["location_precision"] = moderation.MANUAL_PRECISION
    values["location_source"] = moderation.COORDINATOR_SOURCE
    zone = values.get("timezone", current.get("timezone", ""))
    if zone in ("", current.get("timezone", "")):
        from mapapp.geocoding import timezone_at  # loads the zone shapes: only when moved

        values["timezone"] = timezone_at(*point) or zone


def _point(latitude: str, longitude: str) -> tuple[float, float] | None:
    """Return a point as stored (six decimals), or None if it is not two numbers in range."""
    try:
        lat, lon = float(latitude), float(longitude)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return float(format_coordinate(lat)), float(format_coordinate(lon))
