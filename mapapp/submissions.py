"""Organisers' submissions: signed drafts, the preview, storing the event, and the flows."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import pandas as pd
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from mapapp import drafts, placing

# The rules, placing, the duplicate search and the edit links have modules of their own; these
# names stay importable from here for the code and tests that use them through mapapp.submissions.
from mapapp.duplicates import distances_km as distances_km
from mapapp.duplicates import find_duplicates as find_duplicates
from mapapp.duplicates import public_warning
from mapapp.edit_links import edit_token_hash as edit_token_hash
from mapapp.edit_links import event_for_token as event_for_token
from mapapp.edit_links import make_edit_token as make_edit_token
from mapapp.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _, country_name, known_language
from mapapp.placing import API_SOURCE as API_SOURCE
from mapapp.placing import MANUAL_SOURCE as MANUAL_SOURCE
from mapapp.placing import Candidate as Candidate
from mapapp.placing import candidate_choices as candidate_choices
from mapapp.placing import check_coordinates as check_coordinates
from mapapp.placing import parse_choice as parse_choice
from mapapp.placing import place_event as place_event
from mapapp.storage import VERSION_FIELD, Audit, Store, StoreError, new_event_id
from mapapp.submission_rules import REQUIRED_FIELDS as REQUIRED_FIELDS
from mapapp.submission_rules import SUBMITTED_FIELDS as SUBMITTED_FIELDS
from mapapp.submission_rules import check_online_zone, ended_error
from mapapp.submission_rules import check_submission as check_submission
from mapapp.submission_rules import date_window as date_window
from mapapp.submission_rules import editions_around as editions_around

# Signed values handed to the browser and back.
DRAFT_SALT = "mapapp.submit.draft"
STARTED_SALT = "mapapp.submit.started"
DRAFT_MAX_AGE_SECONDS = 24 * 3600
STARTED_MAX_AGE_SECONDS = 24 * 3600
NONCE_BYTES = 12
# Marked for the catalog: translate with _() where shown.
ALREADY_SUBMITTED_MESSAGE = N_(
    "This event was already submitted: we have it, and a coordinator will review it. Nothing "
    "was stored again."
)
KEY_POINT_MESSAGE = N_(
    "Location: the latitude and longitude are outside %(country)s, the event's country. Check "
    "them, or leave them out and give the address so that we find the place."
)
INTERFACE_LANGUAGE_MESSAGE = N_(
    "Interface language: give the code of the language the organiser reads, one of %(codes)s."
)
ORGANISER = "organiser"  # who the audit log names for changes made through an edit link
PENDING, APPROVED = "pending", "approved"


class DraftError(ValueError):
    """A signed draft is missing, expired or tampered with."""


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
    # The time zone the preview states (or preselects), and whether the event's place gave it.
    timezone: str = ""
    timezone_from_place: bool = False


class Partner(Protocol):
    """A partner's system posting through the API with its key (see mapapp.api_keys.ApiKey)."""

    @property
    def partner(self) -> str: ...

    @property
    def trusted(self) -> bool: ...

    @property
    def who(self) -> str: ...

    def refusal(self, country: str) -> str: ...


# Placing


def preview_submission(frame: pd.DataFrame, event: dict[str, str]) -> Preview:
    """Place a valid draft with the geocoder and look for duplicates."""
    preview = locate_event(event)
    placed = place_event(event, preview.candidates, choice=0)
    preview.duplicates = find_duplicates(frame, placed)
    preview.timezone = placed["timezone"]
    preview.timezone_from_place = bool(placed["latitude"])
    return preview


def with_duplicates(
    frame: pd.DataFrame,
    preview: Preview,
    *,
    choice: str = "",
    latitude: str = "",
    longitude: str = "",
) -> Preview:
    """Return a draft's preview with its duplicates (drafts do not keep them), placed as chosen."""
    if check_coordinates(latitude, longitude):
        latitude = longitude = ""
    placed = place_event(
        preview.event,
        preview.candidates,
        choice=parse_choice(choice, preview.candidates),
        latitude=latitude.strip(),
        longitude=longitude.strip(),
    )
    preview.duplicates = find_duplicates(frame, placed)
    return preview


def locate_event(event: dict[str, str]) -> Preview:
    """Return the preview of an event with the places the geocoder finds for it."""
    located = placing.locate(event)
    return Preview(
        event=event,
        status=located.status,
        message=located.message,
        candidates=located.candidates,
    )


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
        "timezone": preview.timezone,
        "timezone_from_place": preview.timezone_from_place,
    }
    return URLSafeTimedSerializer(secret_key, salt=DRAFT_SALT).dumps(payload)


def load_draft(secret_key: str, token: str) -> Preview:
    """Return the preview signed into a hidden field."""
    serializer = URLSafeTimedSerializer(secret_key, salt=DRAFT_SALT)
    try:
        payload = serializer.loads(token, max_age=DRAFT_MAX_AGE_SECONDS)
    except SignatureExpired as exc:
        raise DraftError(
            _("This preview is more than a day old: please fill the form again.")
        ) from exc
    except BadSignature as exc:
        raise DraftError(_("This preview cannot be read: please fill the form again.")) from exc
    if not payload.get("draft_id"):  # signed before drafts were one-time
        raise DraftError(_("This preview is out of date: please fill the form again."))
    return Preview(
        event={str(key): str(value) for key, value in payload["event"].items()},
        status=str(payload["status"]),
        message=str(payload["message"]),
        candidates=[Candidate(**item) for item in payload["candidates"]],
        draft_id=str(payload["draft_id"]),
        timezone=str(payload.get("timezone", "")),
        timezone_from_place=payload.get("timezone_from_place") is True,
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
        return _(
            "This form has expired or was changed: please check your entries and send it again."
        )
    started = started_and_nonce[0]
    elapsed = (time.time() if now is None else now) - started
    if elapsed > STARTED_MAX_AGE_SECONDS:
        return _("This form is more than a day old: please check your entries and send it again.")
    if elapsed < min_seconds:
        return _(
            "That was quicker than a person can fill the form: please check your entries and "
            "send it again."
        )
    return ""


# Writing


def create_event(
    store: Store,
    event: Mapping[str, str],
    secret_key: str,
    *,
    partner: Partner | None = None,
    interface_language: str = DEFAULT_LANGUAGE,
) -> tuple[dict[str, str], str]:
    """Store a submitted event as pending and return it with its edit token.

    An event a partner's key posts carries the partner's name; a trusted key's is then approved
    at once, recorded in the audit log as a second entry by the partner. interface_language is
    the organiser's (the language of the e-mails about the event).
    """
    who = partner.who if partner is not None else ORGANISER
    event_id = new_event_id()
    token = make_edit_token(secret_key, event_id)
    record = {
        **event,
        "id": event_id,
        "status": PENDING,
        "edit_token_hash": edit_token_hash(token),
        "partner": partner.partner if partner is not None else "",
        "interface_language": known_language(interface_language),
    }
    for name in ("created_at", "updated_at", "moderation_note", "is_sample"):
        record[name] = ""
    stored = store.add(record, audit=Audit(who, "submit"))
    if stored["id"] != event_id:  # the store gave another id: the random one was taken
        token = make_edit_token(secret_key, stored["id"])
        stored = store.update(
            stored["id"],
            {"edit_token_hash": edit_token_hash(token)},
            expected=stored[VERSION_FIELD],
            audit=Audit(who, "submit"),
        )
    if partner is not None and partner.trusted:
        stored = store.update(
            stored["id"],
            {"status": APPROVED},
            expected=stored[VERSION_FIELD],
            audit=Audit(who, "approve"),
        )
    return stored, token


def form_values(event: Mapping[str, str]) -> dict[str, str]:
    """Return the submitted fields of an event, as the form shows them."""
    return {name: event.get(name, "") for name in SUBMITTED_FIELDS}


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
        return Outcome(errors={"form": _("We could not accept this form. Please try again.")})
    if problem := check_fill_time(secret_key, started, min_seconds):
        return Outcome(errors={"form": problem})
    _stamp, draft_id = read_started(secret_key, started) or (0.0, "")
    if drafts.is_used(draft_id):  # a start time counts once: for the event it was sent with
        return Outcome(errors={"form": _(ALREADY_SUBMITTED_MESSAGE)}, already_submitted=True)
    event, errors = check_submission(data, consent=consent)
    if event is not None:
        errors = check_online_zone(event)
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    # The zone is known once the event is placed; an event over even in UTC-12 is over anywhere.
    if errors := ended_error(event):
        return Outcome(errors=errors)
    preview = preview_submission(frame, event)
    preview.draft_id = draft_id
    return Outcome(preview=preview)


def confirm_submission(
    store: Store,
    secret_key: str,
    draft: str,
    *,
    choice: str,
    latitude: str,
    longitude: str,
    submit_anyway: bool,
    keep_point: bool = False,
    timezone: str = "",
    interface_language: str = DEFAULT_LANGUAGE,
) -> Outcome:
    """Store a previewed draft at the chosen place, unless it needs another look.

    timezone is the zone the organiser chose (an event without a place) or saw (a placed one): a
    place in another zone is shown again for confirmation.
    """
    preview = load_draft(secret_key, draft)  # raises DraftError
    if drafts.is_used(preview.draft_id):
        return Outcome(errors={"form": _(ALREADY_SUBMITTED_MESSAGE)}, already_submitted=True)
    errors = check_coordinates(latitude, longitude)
    if errors:
        return Outcome(errors=errors, preview=preview)
    posted_zone = timezone.strip()
    chosen_zone, zone_problem = placing.country_zone(posted_zone, preview.event["country"])
    placed = place_event(
        {**preview.event, "timezone": chosen_zone or preview.event["timezone"]},
        preview.candidates,
        choice=parse_choice(choice, preview.candidates),
        latitude=latitude.strip(),
        longitude=longitude.strip(),
    )
    outside = "" if keep_point else placing.outside_warning(placed)
    if placed["latitude"] and posted_zone and placed["timezone"] not in ("", posted_zone):
        preview.timezone, preview.timezone_from_place = placed["timezone"], True
        errors = {"timezone": placing.moved_zone_message(placed)}
        if outside:  # both, at once: a pin in another zone is often in another country
            errors["keep_point"] = outside
        return Outcome(errors=errors, preview=preview)
    if not placed["latitude"] and zone_problem:
        return Outcome(errors={"timezone": zone_problem}, preview=preview)
    if errors := placing.timezone_errors(placed):
        return Outcome(errors=errors, preview=preview)
    if errors := ended_error(placed):  # now in the zone of the place
        return Outcome(errors=errors, preview=preview)
    if outside:
        errors["keep_point"] = outside
    preview.duplicates = find_duplicates(store.frame(), placed)
    if preview.duplicates and drafts.is_used(preview.draft_id):
        # Another confirmation of this draft stored it meanwhile: the "duplicate" is this event
        # (the draft is used up before its event is stored, so this cannot miss it).
        return Outcome(errors={"form": _(ALREADY_SUBMITTED_MESSAGE)}, already_submitted=True)
    if preview.duplicates and not submit_anyway:
        errors["submit_anyway"] = public_warning(preview.duplicates).submit_anyway_message
        return Outcome(errors=errors, preview=preview)
    if errors:  # the pin is outside the event's country: the preview shows the warning again
        return Outcome(errors=errors, preview=preview)
    # Used up under the store's lock before the event is stored: of two confirmations of one
    # draft (a double click, a replay, two workers at once) only the first stores an event.
    if not drafts.use(preview.draft_id, DRAFT_MAX_AGE_SECONDS):
        return Outcome(errors={"form": _(ALREADY_SUBMITTED_MESSAGE)}, already_submitted=True)
    try:
        stored, token = create_event(
            store, placed, secret_key, interface_language=interface_language
        )
    except StoreError:
        drafts.release(preview.draft_id)  # nothing was stored: the organiser may try again
        raise
    return Outcome(event=stored, token=token)


def submit_via_api(
    store: Store, secret_key: str, data: Any, *, partner: Partner | None = None
) -> Outcome:
    """Check, place and store an event posted as JSON by a partner's system.

    With a partner's key, the event must also be in one of the key's countries. The optional
    interface_language (an interface language's code, English if absent) is the language of the
    e-mails to the organiser.
    """
    if not isinstance(data, Mapping):
        return Outcome(errors={"body": _("Send one JSON object with the event's fields.")})
    event, errors = check_submission(data, consent=data.get("consent") is True)
    interface_language = data.get("interface_language", DEFAULT_LANGUAGE)
    if not isinstance(interface_language, str) or interface_language not in LANGUAGES:
        errors["interface_language"] = _(INTERFACE_LANGUAGE_MESSAGE, codes=", ".join(LANGUAGES))
    if data.get("consent") not in (None, True, False):
        errors["consent"] = _("Consent: give true to let us publish the event once approved.")
    latitude = "" if data.get("latitude") is None else data["latitude"]
    longitude = "" if data.get("longitude") is None else data["longitude"]
    if not isinstance(latitude, str | int | float) or not isinstance(longitude, str | int | float):
        errors["latitude"] = _("Location: give latitude and longitude as numbers.")
        latitude = longitude = ""
    latitude, longitude = str(latitude), str(longitude)
    errors.update(check_coordinates(latitude, longitude))
    if partner is not None and "country" not in errors:
        country = event["country"] if event is not None else str(data.get("country") or "")
        if refusal := partner.refusal(country):
            errors["country"] = refusal
    if errors:
        return Outcome(errors=errors)
    assert event is not None
    if partner is not None and latitude.strip() and longitude.strip():
        # The key's countries bind the pin as well as the country field: a trusted key's event
        # is published at once, and another country's coordinators never see it.
        check = placing.check_point(float(latitude), float(longitude), event["country"])
        if check.outside and partner.refusal(check.country):  # in a country the key has: fine
            where = country_name(event["country"])
            return Outcome(errors={"latitude": _(KEY_POINT_MESSAGE, country=where)})
    if latitude.strip() and longitude.strip():
        placed = place_event(
            event, [], latitude=latitude.strip(), longitude=longitude.strip(), source=API_SOURCE
        )
    else:
        placed = place_event(event, locate_event(event).candidates)
    if errors := placing.settled_timezone_errors(placed, event["timezone"]):
        return Outcome(errors=errors)
    if errors := ended_error(placed):
        return Outcome(errors=errors)
    stored, token = create_event(
        store, placed, secret_key, partner=partner, interface_language=interface_language
    )
    return Outcome(event=stored, token=token)
