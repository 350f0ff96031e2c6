"""Organisers' submissions: the form's extra rules, placing, signed drafts, edits and the flows."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from mapapp import drafts, geocoding

# The duplicate search and the edit links have modules of their own; these names stay importable
# from here for the code and tests that use them through mapapp.submissions.
from mapapp.duplicates import distances_km as distances_km
from mapapp.duplicates import find_duplicates as find_duplicates
from mapapp.edit_links import edit_token_hash as edit_token_hash
from mapapp.edit_links import event_for_token as event_for_token
from mapapp.edit_links import make_edit_token as make_edit_token
from mapapp.events import (
    FIELD_LABELS,
    MAX_LENGTHS,
    current_edition,
    edition_date,
    format_coordinate,
    parse_local_time,
    validate_event,
)
from mapapp.storage import (
    VERSION_FIELD,
    Audit,
    ConflictError,
    EventStore,
    StoreError,
    new_event_id,
)

# What an organiser may fill in; everything else (status, id, location) is set here.
SUBMITTED_FIELDS: tuple[str, ...] = (
    "title",
    "category",
    "format",
    "starts_at",
    "ends_at",
    "venue",
    "address",
    "city",
    "region",
    "country",
    "website",
    "organiser",
    "contact_email",
    "description",
    "language",
)
REQUIRED_FIELDS: dict[str, str] = {
    "title": "Title: give the event a name.",
    "starts_at": "Start: give the date and time the event starts.",
    "organiser": "Organiser: say who organises the event.",
    "contact_email": "Contact e-mail: give an address where a coordinator can reach you.",
}
# Fields whose content, when changed through the edit link, sends the event back for review.
CONTENT_FIELDS = SUBMITTED_FIELDS + ("latitude", "longitude", "timezone")
LANGUAGE_MAX_LENGTH = 3
CHOICE_MAX_LENGTH = 40
# The accepted dates: from 60 days before to 30 days after Rare Disease Day of the previous, the
# current or the next edition (so organisers can add events of the coming year early).
WINDOW_BEFORE = timedelta(days=60)
WINDOW_AFTER = timedelta(days=30)
# Signed values handed to the browser and back.
DRAFT_SALT = "mapapp.submit.draft"
STARTED_SALT = "mapapp.submit.started"
DRAFT_MAX_AGE_SECONDS = 24 * 3600
STARTED_MAX_AGE_SECONDS = 24 * 3600
NONCE_BYTES = 12
ALREADY_SUBMITTED_MESSAGE = (
    "This event was already submitted: we have it, and a coordinator will review it. Nothing "
    "was stored again."
)
MANUAL_SOURCE = "organiser"
API_SOURCE = "partner"
ORGANISER = "organiser"  # who the audit log names for changes made through an edit link
CHANGED_MESSAGE = (
    "Your event changed since you opened this page (a coordinator may have reviewed it). "
    "Nothing was saved: below is the event as it is now beside what you typed."
)
MISSING_VERSION_MESSAGE = (
    "This form does not say which version of your event you saw, so nothing was saved. "
    "Reload the page and try again."
)


class DraftError(ValueError):
    """A signed draft is missing, expired or tampered with."""


@dataclass(frozen=True)
class Candidate:
    """A place the organiser may pick for the event."""

    name: str
    latitude: float
    longitude: float
    precision: str
    source: str
    timezone: str

    @classmethod
    def from_place(cls, place: geocoding.Place) -> Candidate:
        """Return the candidate of a geocoder's place."""
        return cls(
            name=str(place.name),
            latitude=float(place.latitude),
            longitude=float(place.longitude),
            precision=str(place.precision),
            source=str(place.source),
            timezone=str(place.timezone or ""),
        )


@dataclass
class Preview:
    """What the organiser sees before confirming: the draft, its places and likely duplicates."""

    event: dict[str, str]
    status: str  # found | not_found | unavailable | online
    message: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    # The nonce of the form's signed start time: confirming uses it up (see mapapp.drafts).
    draft_id: str = ""


# Validation


def editions_around(today: date | None = None) -> list[int]:
    """Return the editions whose date window is accepted: previous, current and next."""
    current = current_edition(today)
    return [current - 1, current, current + 1]


def date_window(year: int) -> tuple[date, date]:
    """Return the first and last accepted day of an edition."""
    day = edition_date(year)
    return day - WINDOW_BEFORE, day + WINDOW_AFTER


def check_submission(
    data: Mapping[str, Any], *, consent: bool, today: date | None = None
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """Return the pending event an organiser submitted and no errors, or None and the errors."""
    errors: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name in SUBMITTED_FIELDS:
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = f"{FIELD_LABELS[name]}: give text."
            value = ""
        raw[name] = value
    # Bound raw sizes before any work, so huge values cost nothing.
    for name, value in raw.items():
        limit = MAX_LENGTHS.get(name, LANGUAGE_MAX_LENGTH if name == "language" else 0)
        limit = limit or (CHOICE_MAX_LENGTH if name in {"category", "format", "country"} else 64)
        if len(value) > 2 * limit + 100:
            errors[name] = f"{FIELD_LABELS[name]}: keep it under {limit} characters."
            raw[name] = ""
    event, schema_errors = validate_event(
        {**raw, "status": "pending", "location_precision": "none"}
    )
    for name, message in schema_errors.items():
        errors.setdefault(name, message)
    candidate = event or {name: raw.get(name, "").strip() for name in SUBMITTED_FIELDS}
    for name, message in REQUIRED_FIELDS.items():
        if not candidate[name] and name not in errors:
            errors[name] = message
    if candidate.get("format") in {"in_person", "hybrid"} and not candidate["city"]:
        errors.setdefault("city", "City: say in which town or city the event takes place.")
    if "starts_at" not in errors and "ends_at" not in errors:
        _check_date_window(candidate, errors, today)
    if not consent:
        errors["consent"] = "Consent: tick the box to let us publish the event once approved."
    if errors:
        return None, errors
    assert event is not None
    return {**event, "status": "pending"}, {}


def _check_date_window(
    event: Mapping[str, str], errors: dict[str, str], today: date | None
) -> None:
    """Require the event to fall within the window of a nearby edition."""
    starts = parse_local_time(event["starts_at"])
    if starts is None:
        return
    editions = editions_around(today)
    windows = [date_window(year) for year in editions]
    if not any(first <= starts.date() <= last for first, last in windows):
        first, last = windows[0][0], windows[-1][1]
        errors["starts_at"] = (
            "Start: Rare Disease Day events take place around the last day of February; "
            f"choose a date from {first:%d %B %Y} to {last:%d %B %Y} that is within 60 days "
            "before or 30 days after an edition."
        )
        return
    if event["ends_at"]:
        ends = parse_local_time(event["ends_at"])
        if ends is not None and ends - starts > timedelta(days=90):
            errors["ends_at"] = "End: an event can last at most 90 days."


# Placing


def preview_submission(frame: pd.DataFrame, event: dict[str, str]) -> Preview:
    """Place a valid draft with the geocoder and look for duplicates."""
    preview = locate_event(event)
    placed = place_event(event, preview.candidates, choice=0)
    preview.duplicates = find_duplicates(frame, placed)
    return preview


def locate_event(event: dict[str, str]) -> Preview:
    """Return the places the geocoder finds for an event (none for online events)."""
    if event["format"] == "online" and not event["city"] and not event["address"]:
        return Preview(event=event, status="online")
    result = geocoding.locate(
        address=event["address"],
        city=event["city"],
        region=event["region"],
        country=event["country"],
    )
    return Preview(
        event=event,
        status=result.status,
        message=_place_message(result, event),
        candidates=[Candidate.from_place(place) for place in result.places],
    )


def _place_message(result: geocoding.GeocodeResult, event: Mapping[str, str]) -> str:
    """Return what to tell the organiser about placing the event."""
    if result.status == "found":
        return result.message or ""
    fallback = (
        " You can still send the event: a coordinator will place it on the map, or you can "
        "type its coordinates below."
    )
    if result.status == "unavailable":
        return "We cannot reach the map search service right now." + fallback
    place = ", ".join(part for part in (event["address"], event["city"]) if part)
    message = result.message or f"We could not find {place!r} in that country."
    if result.suggestions:
        message += " Did you mean " + " or ".join(result.suggestions[:3]) + "?"
    return message + fallback


def place_event(
    event: Mapping[str, str],
    candidates: list[Candidate],
    *,
    choice: int | None = 0,
    latitude: str = "",
    longitude: str = "",
    source: str = MANUAL_SOURCE,
) -> dict[str, str]:
    """Return the event placed at a chosen candidate or at typed coordinates, with its time zone."""
    placed = dict(event)
    picked = candidates[choice] if choice is not None and 0 <= choice < len(candidates) else None
    if latitude and longitude:
        lat, lon = float(latitude), float(longitude)
        same = picked is not None and (
            format_coordinate(lat) == format_coordinate(picked.latitude)
            and format_coordinate(lon) == format_coordinate(picked.longitude)
        )
        if not same:
            picked = Candidate("", lat, lon, "manual", source, "")
    if picked is None:
        placed.update(
            latitude="", longitude="", location_precision="none", location_source="", timezone=""
        )
        return placed
    zone_name = _timezone_of(picked)
    placed.update(
        latitude=format_coordinate(picked.latitude),
        longitude=format_coordinate(picked.longitude),
        location_precision=picked.precision,
        location_source=picked.source[: MAX_LENGTHS["location_source"]],
        timezone=zone_name,
    )
    return placed


def _timezone_of(candidate: Candidate) -> str:
    """Return the time zone at a place."""
    return str(
        geocoding.timezone_at(candidate.latitude, candidate.longitude) or candidate.timezone or ""
    )


def check_coordinates(latitude: str, longitude: str) -> dict[str, str]:
    """Return errors for typed coordinates (both or neither, within range)."""
    latitude, longitude = latitude.strip(), longitude.strip()
    if not latitude and not longitude:
        return {}
    if not latitude or not longitude:
        return {"latitude": "Location: give both latitude and longitude, or neither."}
    errors: dict[str, str] = {}
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not -bound <= number <= bound:
            errors[name] = f"{FIELD_LABELS[name]}: give a number between -{bound} and {bound}."
    return errors


# Signed values


def sign_draft(secret_key: str, preview: Preview) -> str:
    """Return the preview (without duplicates) as a signed string for a hidden field."""
    payload = {
        "event": preview.event,
        "status": preview.status,
        "message": preview.message,
        "candidates": [asdict(candidate) for candidate in preview.candidates],
        # A preview not made from a signed start time gets an id of its own.
        "draft_id": preview.draft_id or secrets.token_urlsafe(NONCE_BYTES),
    }
    return URLSafeTimedSerializer(secret_key, salt=DRAFT_SALT).dumps(payload)


def load_draft(secret_key: str, token: str) -> Preview:
    """Return the preview signed into a hidden field."""
    serializer = URLSafeTimedSerializer(secret_key, salt=DRAFT_SALT)
    try:
        payload = serializer.loads(token, max_age=DRAFT_MAX_AGE_SECONDS)
    except SignatureExpired as exc:
        raise DraftError(
            "This preview is more than a day old: please fill the form again."
        ) from exc
    except BadSignature as exc:
        raise DraftError("This preview cannot be read: please fill the form again.") from exc
    if not payload.get("draft_id"):  # signed before drafts were one-time
        raise DraftError("This preview is out of date: please fill the form again.")
    return Preview(
        event={str(key): str(value) for key, value in payload["event"].items()},
        status=str(payload["status"]),
        message=str(payload["message"]),
        candidates=[Candidate(**item) for item in payload["candidates"]],
        draft_id=str(payload["draft_id"]),
    )


def sign_started(secret_key: str, now: float | None = None) -> str:
    """Return the time the form was shown and a new draft id, signed, for its hidden field."""
    stamp = time.time() if now is None else now
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    return URLSafeSerializer(secret_key, salt=STARTED_SALT).dumps([stamp, nonce])


def read_started(secret_key: str, token: str) -> tuple[float, str] | None:
    """Return the time and the draft id a signed start time holds, or None if it is not valid."""
    try:
        stamp, nonce = URLSafeSerializer(secret_key, salt=STARTED_SALT).loads(token)
        return float(stamp), str(nonce)
    except (BadSignature, TypeError, ValueError):
        return None


def check_fill_time(
    secret_key: str, token: str, min_seconds: float, now: float | None = None
) -> str:
    """Return an error if the form came back too quickly or without its signed start time."""
    started_and_nonce = read_started(secret_key, token)
    if started_and_nonce is None:
        return "This form has expired or was changed: please check your entries and send it again."
    started = started_and_nonce[0]
    elapsed = (time.time() if now is None else now) - started
    if elapsed > STARTED_MAX_AGE_SECONDS:
        return "This form is more than a day old: please check your entries and send it again."
    if elapsed < min_seconds:
        return (
            "That was quicker than a person can fill the form: please check your entries and "
            "send it again."
        )
    return ""


# Writing


def create_event(
    store: EventStore, event: Mapping[str, str], secret_key: str
) -> tuple[dict[str, str], str]:
    """Store a submitted event as pending and return it with its edit token."""
    event_id = new_event_id()
    token = make_edit_token(secret_key, event_id)
    record = {
        **event,
        "id": event_id,
        "status": "pending",
        "edit_token_hash": edit_token_hash(token),
    }
    for name in ("created_at", "updated_at", "moderation_note", "is_sample"):
        record[name] = ""
    stored = store.add(record, audit=Audit(ORGANISER, "submit"))
    if stored["id"] != event_id:  # the store gave another id: the random one was taken
        token = make_edit_token(secret_key, stored["id"])
        stored = store.update(
            stored["id"],
            {"edit_token_hash": edit_token_hash(token)},
            expected=stored[VERSION_FIELD],
            audit=Audit(ORGANISER, "submit"),
        )
    return stored, token


def apply_edit(
    store: EventStore, current: Mapping[str, str], event: Mapping[str, str], version: str
) -> dict[str, str]:
    """Save an organiser's edit of the version they saw; a change of content sends it back to pending.

    Raises ConflictError if the event changed since that version.
    """
    changes = {
        name: event[name] for name in CONTENT_FIELDS + ("location_precision", "location_source")
    }
    changed = any(current[name] != changes[name] for name in CONTENT_FIELDS)
    if not changed:
        return dict(current)
    changes["status"] = "pending"
    return store.update(
        current["id"], changes, expected=version, audit=Audit(ORGANISER, "organiser-edit")
    )


def withdraw_event(store: EventStore, event_id: str, version: str) -> dict[str, str]:
    """Mark an event withdrawn by its organiser, if still at the version they saw.

    Raises ConflictError if it changed since.
    """
    return store.update(
        event_id, {"status": "withdrawn"}, expected=version, audit=Audit(ORGANISER, "withdraw")
    )


def form_values(event: Mapping[str, str]) -> dict[str, str]:
    """Return the submitted fields of an event, as the form shows them."""
    return {name: event.get(name, "") for name in SUBMITTED_FIELDS}


def candidate_choices(candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Return candidates as plain data for the preview map's JSON block."""
    return [asdict(candidate) for candidate in candidates]


def parse_choice(raw: str, candidates: list[Candidate]) -> int | None:
    """Return the index of the chosen candidate, or None for none."""
    if raw.isascii() and raw.isdigit() and int(raw) < len(candidates):  # "²" is a digit too
        return int(raw)
    return None


# The flows the web layer calls


@dataclass
class Outcome:
    """What became of a step: a preview to show, an event stored, or errors (nothing written)."""

    errors: dict[str, str] = field(default_factory=dict)
    preview: Preview | None = None
    event: dict[str, str] | None = None
    token: str = ""
    changed: bool = False
    # The event as it is now, when it changed since the organiser opened the page.
    conflict: dict[str, str] | None = None
    # The draft was confirmed before: nothing was stored again.
    already_submitted: bool = False


def review_submission(
    frame: pd.DataFrame,
    data: Mapping[str, Any],
    *,
    consent: bool,
    honeypot: str,
    started: str,
    secret_key: str,
    min_seconds: float,
) -> Outcome:
    """Check a posted form (spam checks, then rules) and return its preview or the errors."""
    if honeypot:
        return Outcome(errors={"form": "We could not accept this form. Please try again."})
    if problem := check_fill_time(secret_key, started, min_seconds):
        return Outcome(errors={"form": problem})
    _stamp, draft_id = read_started(secret_key, started) or (0.0, "")
    if drafts.is_used(draft_id):  # a start time counts once: for the event it was sent with
        return Outcome(errors={"form": ALREADY_SUBMITTED_MESSAGE}, already_submitted=True)
    event, errors = check_submission(data, consent=consent)
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    preview = preview_submission(frame, event)
    preview.draft_id = draft_id
    return Outcome(preview=preview)


def confirm_submission(
    store: EventStore,
    secret_key: str,
    draft: str,
    *,
    choice: str,
    latitude: str,
    longitude: str,
    submit_anyway: bool,
) -> Outcome:
    """Store a previewed draft at the chosen place, unless it needs another look."""
    preview = load_draft(secret_key, draft)  # raises DraftError
    if drafts.is_used(preview.draft_id):
        return Outcome(errors={"form": ALREADY_SUBMITTED_MESSAGE}, already_submitted=True)
    errors = check_coordinates(latitude, longitude)
    if errors:
        return Outcome(errors=errors, preview=preview)
    placed = place_event(
        preview.event,
        preview.candidates,
        choice=parse_choice(choice, preview.candidates),
        latitude=latitude.strip(),
        longitude=longitude.strip(),
    )
    preview.duplicates = find_duplicates(store.frame(), placed)
    if preview.duplicates and drafts.is_used(preview.draft_id):
        # Another confirmation of this draft stored it meanwhile: the "duplicate" is this event
        # (the draft is used up before its event is stored, so this cannot miss it).
        return Outcome(errors={"form": ALREADY_SUBMITTED_MESSAGE}, already_submitted=True)
    if preview.duplicates and not submit_anyway:
        errors["submit_anyway"] = (
            "This looks like an event already on the map: if it is a different event, tick "
            "the box to submit it anyway."
        )
        return Outcome(errors=errors, preview=preview)
    # Used up under the store's lock before the event is stored: of two confirmations of one
    # draft (a double click, a replay, two workers at once) only the first stores an event.
    if not drafts.use(preview.draft_id, DRAFT_MAX_AGE_SECONDS):
        return Outcome(errors={"form": ALREADY_SUBMITTED_MESSAGE}, already_submitted=True)
    try:
        stored, token = create_event(store, placed, secret_key)
    except StoreError:
        drafts.release(preview.draft_id)  # nothing was stored: the organiser may try again
        raise
    return Outcome(event=stored, token=token)


def submit_via_api(store: EventStore, secret_key: str, data: Any) -> Outcome:
    """Check, place and store an event posted as JSON by a partner's system."""
    if not isinstance(data, Mapping):
        return Outcome(errors={"body": "Send one JSON object with the event's fields."})
    event, errors = check_submission(data, consent=data.get("consent") is True)
    if data.get("consent") not in (None, True, False):
        errors["consent"] = "Consent: give true to let us publish the event once approved."
    latitude = "" if data.get("latitude") is None else data["latitude"]
    longitude = "" if data.get("longitude") is None else data["longitude"]
    if not isinstance(latitude, str | int | float) or not isinstance(longitude, str | int | float):
        errors["latitude"] = "Location: give latitude and longitude as numbers."
        latitude = longitude = ""
    latitude, longitude = str(latitude), str(longitude)
    errors.update(check_coordinates(latitude, longitude))
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    if latitude.strip() and longitude.strip():
        placed = place_event(
            event, [], latitude=latitude.strip(), longitude=longitude.strip(), source=API_SOURCE
        )
    else:
        placed = place_event(event, locate_event(event).candidates)
    stored, token = create_event(store, placed, secret_key)
    return Outcome(event=stored, token=token)


def edit_submission(
    store: EventStore, current: Mapping[str, str], data: Mapping[str, Any]
) -> Outcome:
    """Check an organiser's edit, place it again if its address changed, and save it."""
    version = str(data.get("version") or "")
    if not version:
        return Outcome(errors={"version": MISSING_VERSION_MESSAGE})
    if version != current[VERSION_FIELD]:
        return Outcome(errors={"version": CHANGED_MESSAGE}, conflict=dict(current))
    event, errors = check_submission(data, consent=True)
    latitude = str(data.get("latitude") or "").strip()
    longitude = str(data.get("longitude") or "").strip()
    errors.update(check_coordinates(latitude, longitude))
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    moved = (latitude, longitude) != (current["latitude"], current["longitude"])
    address_changed = any(
        event[name] != current[name] for name in ("address", "city", "region", "country")
    )
    if moved:
        placed = place_event(event, [], latitude=latitude, longitude=longitude)
    elif address_changed:
        placed = place_event(event, locate_event(event).candidates)
    else:
        placed = {
            **event,
            **{
                name: current[name]
                for name in ("latitude", "longitude", "location_precision", "location_source")
            },
            "timezone": current["timezone"],
        }
    try:
        stored = apply_edit(store, current, placed, version)
    except ConflictError as conflict:
        now = conflict.current[current["id"]]
        return Outcome(errors={"version": CHANGED_MESSAGE}, conflict=now)
    return Outcome(event=stored, changed=stored is not None and stored != dict(current))
