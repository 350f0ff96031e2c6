"""Pages visitors see."""

from __future__ import annotations

from flask import Blueprint, render_template

from mapapp.storage import get_store

blueprint = Blueprint("public", __name__)


@blueprint.get("/")
def index() -> str:
    """Show the map of approved events."""
    frame = get_store().frame()
    approved = frame[frame["status"] == "approved"]
    return render_template(
        "index.html", event_count=len(approved), country_count=approved["country"].nunique()
    )


@blueprint.get("/healthz")
def health() -> dict[str, object]:
    """Tell a load balancer the app can read its store."""
    return {"status": "ok", "events": len(get_store())}
