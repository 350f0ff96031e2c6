"""The site's absolute addresses for messages sent to organisers (see mapapp.notices.Links)."""

from __future__ import annotations

from flask import url_for

from mapapp.notices import Links


def links() -> Links:
    """Return the addresses of the event pages, the edit pages and the map, as the public names them.

    Each names the page in the message's language (its prefix), whatever the language of the page
    that caused the message. Inside a request, MAPAPP_PUBLIC_URL (see web/address.py) makes these the public origin's.
    """
    return Links(
        event=lambda event_id, language: url_for(
            "public.event_page", event_id=event_id, _external=True, _language=language
        ),
        edit=lambda token, language: url_for(
            "submit.edit", token=token, _external=True, _language=language
        ),
        home=lambda language: url_for("public.index", _external=True, _language=language),
    )
