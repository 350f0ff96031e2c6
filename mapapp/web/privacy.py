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
from mapapp.web.limits import LIMIT_SETTINGS, OFF

# What the notice says about sent e-mails when the mail settings do not say otherwise.
DEFAULT_MAIL_RETENTION_DAYS = 90
HOUR_SECONDS, DAY_SECONDS = 3600, 86400
# How long a client's address stays in a rate-limit counter, by the longest window configured
# (whole sentences: a translation catalog takes them as they are).
COUNTER_SENTENCES = {
    "minutes": "Each counter lasts as long as its limit counts, here at most {count} minutes, "
    "after which it is deleted.",
    "hour": "Each counter lasts as long as its limit counts, here at most an hour, "
    "after which it is deleted.",
    "hours": "Each counter lasts as long as its limit counts, here at most {count} hours, "
    "after which it is deleted.",
    "day": "Each counter lasts as long as its limit counts, here at most a day, "
    "after which it is deleted.",
    "days": "Each counter lasts as long as its limit counts, here at most {count} days, "
    "after which it is deleted.",
    "none": "Rate limits are switched off here, so no counter is kept.",
}

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
        return COUNTER_SENTENCES["none"]
    if seconds < HOUR_SECONDS:
        return COUNTER_SENTENCES["minutes"].format(count=-(-seconds // 60))
    if seconds < DAY_SECONDS:
        hours = -(-seconds // HOUR_SECONDS)
        return COUNTER_SENTENCES["hour" if hours == 1 else "hours"].format(count=hours)
    days = -(-seconds // DAY_SECONDS)
    return COUNTER_SENTENCES["day" if days == 1 else "days"].format(count=days)
