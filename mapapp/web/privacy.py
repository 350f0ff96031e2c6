"""The privacy notice (/privacy) and the contact address every page's footer shows.

The notice is written from the app's own settings (limits, retention, tiles, geocoder), so what
it says is what this installation does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, current_app, render_template
from flask.blueprints import BlueprintSetupState
from limits import parse_many

from mapapp import mapview
from mapapp.config import ConfigError
from mapapp.i18n import N_, Nn_, _, ngettext
from mapapp.web.limits import LIMIT_SETTINGS, OFF

# What the notice says about sent e-mails when the mail settings do not say otherwise.
DEFAULT_MAIL_RETENTION_DAYS = 90
HOUR_SECONDS, DAY_SECONDS = 3600, 86400
# How long a client's address stays in a rate-limit counter, by the longest window configured
# (whole sentences; %(num)s is the number of minutes, hours or days).
COUNTER_MINUTES_SENTENCE = Nn_(
    "Each counter lasts as long as its limit counts, here at most %(num)s minute, "
    "after which it is deleted.",
    "Each counter lasts as long as its limit counts, here at most %(num)s minutes, "
    "after which it is deleted.",
)
COUNTER_HOUR_SENTENCE = N_(
    "Each counter lasts as long as its limit counts, here at most an hour, "
    "after which it is deleted."
)
COUNTER_HOURS_SENTENCE = Nn_(
    "Each counter lasts as long as its limit counts, here at most %(num)s hour, "
    "after which it is deleted.",
    "Each counter lasts as long as its limit counts, here at most %(num)s hours, "
    "after which it is deleted.",
)
COUNTER_DAY_SENTENCE = N_(
    "Each counter lasts as long as its limit counts, here at most a day, after which it is deleted."
)
COUNTER_DAYS_SENTENCE = Nn_(
    "Each counter lasts as long as its limit counts, here at most %(num)s day, "
    "after which it is deleted.",
    "Each counter lasts as long as its limit counts, here at most %(num)s days, "
    "after which it is deleted.",
)
NO_COUNTER_SENTENCE = N_("Rate limits are switched off here, so no counter is kept.")

blueprint = Blueprint("privacy", __name__)


@blueprint.record_once
def _check_contact(state: BlueprintSetupState) -> None:
    """Stop the app at start, with a message, when the contact address is not an address."""
    value = str(state.app.config.get("CONTACT_EMAIL") or "").strip()
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ConfigError(
            f"MAPAPP_CONTACT_EMAIL must be the e-mail address people write to about the site, "
            f"such as team@example.org, not {value!r} ({exc})."
        ) from exc


@blueprint.app_context_processor
def contact() -> dict[str, Any]:
    """Give every template the contact address."""
    return {"contact_email": str(current_app.config["CONTACT_EMAIL"]).strip()}


@blueprint.get("/privacy")
def privacy() -> str:
    """Show what the site collects, who sees it, how long it is kept and how to remove it."""
    config = current_app.config
    tiles, _ = mapview.tile_source(config)
    return render_template(
        "privacy.html",
        mail_retention_days=int(config.get("MAIL_RETENTION_DAYS", DEFAULT_MAIL_RETENTION_DAYS)),
        counter_sentence=counter_sentence(config),
        tile_host=urlsplit(tiles).hostname if tiles else "",
        cdn=config.get("ASSETS") == "cdn",
        nominatim=config.get("GEOCODER") in {"nominatim", "chain"},
        nominatim_host=urlsplit(str(config.get("NOMINATIM_URL") or "")).hostname or "",
    )


def counter_sentence(config: Mapping[str, Any]) -> str:
    """Return how long a client's address stays in a rate-limit counter, as a sentence."""
    seconds = 0
    for setting in LIMIT_SETTINGS:
        value = str(config.get(setting) or OFF).strip()
        if value.lower() != OFF:
            seconds = max([seconds, *(item.get_expiry() for item in parse_many(value))])
    if not seconds:
        return _(NO_COUNTER_SENTENCE)
    if seconds < HOUR_SECONDS:
        return ngettext(*COUNTER_MINUTES_SENTENCE, -(-seconds // 60))
    if seconds < DAY_SECONDS:
        hours = -(-seconds // HOUR_SECONDS)
        return _(COUNTER_HOUR_SENTENCE) if hours == 1 else ngettext(*COUNTER_HOURS_SENTENCE, hours)
    days = -(-seconds // DAY_SECONDS)
    return _(COUNTER_DAY_SENTENCE) if days == 1 else ngettext(*COUNTER_DAYS_SENTENCE, days)
