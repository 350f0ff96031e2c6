"""Partner API keys (mapapp.api_keys): the admin pages, the CLI, and POST /api/events with a key."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp import api_keys, create_app
from mapapp.access import ADMIN, NATIONAL, VIEWER, NotAllowed, Scope
from mapapp.cli import cli
from mapapp.events import current_edition, edition_date
from mapapp.storage import EventStore

DAY = edition_date(current_edition()).isoformat()
SYSTEM = Scope.system("test")
BEARER_INVALID = 'Bearer error="invalid_token"'


def api_event(**fields: Any) -> dict[str, Any]:
    """Return a valid online event as a partner's system posts it (no geocoding needed)."""
    data: dict[str, Any] = {
        "title": "Rare disease webinar",
        "category": "talk",
        "format": "online",
        "starts_at": f"{DAY}T10:00",
        "ends_at": f"{DAY}T12:00",
        "country": "FR",
        "organiser": "Alliance maladies rares",
        "contact_email": "contact@partner.example",
        "consent": True,
    }
    data.update(fields)
    return data


def make_key(app: Flask, partner: str = "Alliance", countries: str = "FR,BE", **kw: Any) -> str:
    """Create a key as the system and return its secret."""
    with app.app_context():
        _, secret = api_keys.create_key(SYSTEM, partner, countries, **kw)
    return secret


def post(client: FlaskClient, secret: str | None, **fields: Any) -> Any:
    """Post an event to the API, with the key as a bearer token when given."""
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return client.post("/api/events", json=api_event(**fields), headers=headers)


def csrf(client: FlaskClient) -> str:
    """Return a CSRF token of the client's session."""
    page = client.get("/admin/account/password").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


# The admin pages


def test_an_admin_creates_a_key_whose_secret_is_shown_once_and_only_hashed_on_disk(
    app: Flask, client_as: Callable[..., FlaskClient], data_dir: Any
) -> None:
    admin = client_as(ADMIN, name="ines")
    form = {
        "csrf_token": csrf(admin),
        "partner": "Alliance Maladies Rares",
        "countries": ["FR", "BE"],
        "trusted": "y",
    }
    response = admin.post("/admin/keys", data=form)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secrets = re.findall(r'value="(mapapp_[0-9a-f]{8}_[A-Za-z0-9_-]{43})"', page)
    assert len(secrets) == 1
    secret = secrets[0]
    assert "it is shown only this once" in page
    # Only the hash is stored; the list never shows the secret again.
    text = (data_dir / "api_keys.csv").read_text(encoding="utf-8-sig")
    assert secret not in text and secret.split("_")[2] not in text
    assert api_keys.hash_secret(secret) in text
    listed = admin.get("/admin/keys").get_data(as_text=True)
    assert secret not in listed
    assert "Alliance Maladies Rares" in listed and "Belgium, France" in listed
    assert "Approved at once" in listed and "by ines" in listed
    with app.app_context():
        (key,) = api_keys.list_keys(SYSTEM)
    assert (key.partner, key.countries, key.trusted, key.created_by) == (
        "Alliance Maladies Rares",
        frozenset({"FR", "BE"}),
        True,
        "ines",
    )
    assert secret.startswith(f"mapapp_{key.id}_")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"partner": " ", "countries": ["FR"]}, api_keys.PARTNER_MESSAGE),
        (
            {"partner": "x" * 101, "countries": ["FR"]},
            "Partner: keep the name under 100 characters.",
        ),
        ({"partner": "Alliance"}, api_keys.COUNTRIES_MESSAGE),
        (
            {"partner": "Alliance", "countries": ["FR", "XX"]},
            "Countries: XX is not a country code we know (use codes such as FR).",
        ),
    ],
    ids=["no-partner", "long-partner", "no-country", "unknown-country"],
)
def test_a_key_form_with_a_mistake_gets_422_and_writes_nothing(
    app: Flask, client_as: Callable[..., FlaskClient], form: dict[str, Any], message: str
) -> None:
    admin = client_as(ADMIN)
    response = admin.post("/admin/keys", data={"csrf_token": csrf(admin), **form})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f"<li>{message}</li>" in page.replace("&#39;", "'")
    assert "mapapp_" not in page.replace("mapapp_…", "")
    with app.app_context():
        assert api_keys.list_keys(SYSTEM) == []


def test_a_key_form_without_its_csrf_token_gets_400(
    app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    admin = client_as(ADMIN)
    response = admin.post("/admin/keys", data={"partner": "Alliance", "countries": ["FR"]})
    assert response.status_code == 400
    assert "The form expired; please send it again." in response.get_data(as_text=True)
    with app.app_context():
        assert api_keys.list_keys(SYSTEM) == []


def test_an_admin_revokes_a_key_and_its_requests_get_401(
    app: Flask, client: FlaskClient, client_as: Callable[..., FlaskClient], store: EventStore
) -> None:
    secret = make_key(app)
    assert post(client, secret).status_code == 201
    key_id = secret.split("_")[1]
    admin = client_as(ADMIN)
    response = admin.post("/admin/keys/revoke", data={"csrf_token": csrf(admin), "key": key_id})
    assert response.status_code == 303
    page = admin.get("/admin/keys").get_data(as_text=True)
    assert f"Revoked the key {key_id} of Alliance: its requests are refused from now on." in page
    assert "Revoked <time" in page
    before = len(store)
    refused = post(client, secret)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == BEARER_INVALID
    assert refused.get_json() == {
        "error": "Unauthorized",
        "message": "This API key is not valid: it is unknown or was revoked. Ask the site's "
        "administrators for a new key.",
    }
    assert len(store) == before
    again = admin.post("/admin/keys/revoke", data={"csrf_token": csrf(admin), "key": key_id})
    assert again.status_code == 303
    assert "was already revoked on" in admin.get("/admin/keys").get_data(as_text=True)


@pytest.mark.parametrize("role", [NATIONAL, VIEWER])
def test_only_administrators_reach_the_keys(
    app: Flask, client_as: Callable[..., FlaskClient], role: str
) -> None:
    secret = make_key(app)
    other = client_as(role, {"FR"})
    token = csrf(other)
    assert "API keys" not in other.get("/admin/").get_data(as_text=True)
    assert other.get("/admin/keys").status_code == 403
    created = other.post(
        "/admin/keys", data={"csrf_token": token, "partner": "Mine", "countries": ["FR"]}
    )
    assert created.status_code == 403
    revoked = other.post(
        "/admin/keys/revoke", data={"csrf_token": token, "key": secret.split("_")[1]}
    )
    assert revoked.status_code == 403
    with app.app_context():
        (key,) = api_keys.list_keys(SYSTEM)
        assert key.active and key.partner == "Alliance"
        with pytest.raises(NotAllowed):
            api_keys.create_key(Scope("n", role, frozenset({"FR"})), "Mine", "FR")
        with pytest.raises(NotAllowed):
            api_keys.revoke_key(Scope("n", role, frozenset({"FR"})), key.id)


def test_the_nav_links_the_keys_for_administrators(client_as: Callable[..., FlaskClient]) -> None:
    assert 'href="/admin/keys"' in client_as(ADMIN).get("/admin/").get_data(as_text=True)


# The API with a key


def test_a_keys_event_waits_for_review_and_carries_the_partners_name(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = make_key(app, "Alliance Maladies Rares")
    response = post(client, secret, partner="Someone else")  # never taken from the body
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "pending"
    stored = store.get(body["id"])
    assert stored is not None
    assert (stored["status"], stored["partner"]) == ("pending", "Alliance Maladies Rares")
    entries = store.audit.frame()
    mine = entries[entries["event_id"] == body["id"]]
    assert list(zip(mine["who"], mine["action"], strict=True)) == [
        ("partner:Alliance Maladies Rares", "submit")
    ]


def test_without_a_key_the_partner_field_stays_empty(client: FlaskClient, store: EventStore):
    response = post(client, None, partner="Pretend partner")
    assert response.status_code == 201
    stored = store.get(response.get_json()["id"])
    assert stored is not None and stored["partner"] == "" and stored["status"] == "pending"


def test_a_trusted_keys_event_is_approved_at_once(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = make_key(app, "Trusted alliance", trusted=True)
    response = post(client, secret)
    assert response.status_code == 201
    assert response.get_json()["status"] == "approved"
    stored = store.get(response.get_json()["id"])
    assert stored is not None
    assert (stored["status"], stored["partner"]) == ("approved", "Trusted alliance")
    entries = store.audit.frame()
    mine = entries[entries["event_id"] == stored["id"]]
    assert list(zip(mine["who"], mine["action"], strict=True)) == [
        ("partner:Trusted alliance", "submit"),
        ("partner:Trusted alliance", "approve"),
    ]
    # One message, saying the event is on the map already and linking to it.
    from mapapp import mail
    from mapapp.mail_messages import build_message

    with app.app_context():
        [row] = mail.queued()
        text = build_message(row, "map@example.org", "team@example.org").get_body(("plain",))
    assert row["kind"] == "submission_received"
    body = text.get_content()
    assert "it is on the map already:" in body and f"/events/{stored['id']}" in body
    assert "A coordinator checks every event" not in body


def test_an_event_outside_the_keys_countries_gets_422_and_nothing_is_written(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = make_key(app, countries="FR BE")
    response = post(client, secret, country="DE", timezone="Europe/Berlin")
    assert response.status_code == 422
    assert response.get_json() == {
        "errors": {
            "country": "Country: this key posts events in Belgium, France, not in Germany. Ask "
            "the site's administrators for a key that covers Germany."
        }
    }
    assert len(store) == 0
    assert len(store.audit.frame()) == 0


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "reviewed"])
def test_a_keys_event_pinned_outside_its_country_gets_422_and_nothing_is_written(
    app: Flask, client: FlaskClient, store: EventStore, trusted: bool
) -> None:
    # A French key's event with France in its country field but its pin in Berlin: a trusted
    # key's would be published at once on Germany's map, where no German coordinator sees it.
    secret = make_key(app, countries="FR", trusted=trusted)
    place = {"format": "in_person", "venue": "Hôtel de Ville", "city": "Paris"}
    response = post(client, secret, **place, latitude=52.52, longitude=13.405)
    assert response.status_code == 422
    assert response.get_json() == {
        "errors": {
            "latitude": "Location: the latitude and longitude are outside France, the event's "
            "country. Check them, or leave them out and give the address so that we find the "
            "place."
        }
    }
    assert len(store) == 0
    inside = post(client, secret, **place, latitude=48.8566, longitude=2.3522)
    assert inside.status_code == 201, inside.get_json()


def test_a_keys_event_pinned_in_another_of_its_countries_is_taken(
    app: Flask, client: FlaskClient, store: EventStore
) -> None:
    secret = make_key(app, countries="FR BE")
    place = {"format": "in_person", "venue": "Grand-Place", "city": "Lille"}
    response = post(client, secret, **place, latitude=50.8467, longitude=4.3525)  # Brussels
    assert response.status_code == 201, response.get_json()
    assert len(store) == 1


@pytest.mark.parametrize(
    "secret",
    [
        "mapapp_00000000_" + "A" * 43,  # the right shape, no such key
        "mapapp_nothex00_" + "A" * 43,
        "not-ours",
    ],
    ids=["unknown-id", "bad-id", "foreign"],
)
def test_an_unknown_key_gets_401(
    app: Flask, client: FlaskClient, store: EventStore, secret: str
) -> None:
    real = make_key(app)
    response = post(client, secret)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == BEARER_INVALID
    assert "not valid" in response.get_json()["message"]
    # A real key's id with another secret is refused too.
    forged = real[: len("mapapp_00000000_")] + "B" * 43
    assert post(client, forged).status_code == 401
    assert len(store) == 0


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer two words", "mapapp_abc"]
)
def test_a_malformed_authorization_header_gets_400(
    client: FlaskClient, store: EventStore, header: str
) -> None:
    response = client.post("/api/events", json=api_event(), headers={"Authorization": header})
    assert response.status_code == 400
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'
    assert response.get_json() == {
        "error": "Bad Request",
        "message": "The Authorization header must be 'Bearer' and your API key, separated by "
        "one space; leave the header out to submit without a key.",
    }
    assert len(store) == 0


def test_each_key_has_a_rate_limit_of_its_own(app_config: dict[str, Any]) -> None:
    app = create_app(
        {**app_config, "API_KEY_RATE_LIMIT": "2 per hour", "SUBMIT_RATE_LIMIT": "1 per hour"}
    )
    first, second = make_key(app, "First"), make_key(app, "Second")
    client = app.test_client()
    # The per-address limit (1 per hour) does not count keyed requests: each key gets its two.
    assert [post(client, first).status_code for _ in range(3)] == [201, 201, 429]
    limited = post(client, first)
    assert limited.status_code == 429
    assert 3500 <= limited.get_json()["retry_after"] <= 3601
    assert [post(client, second).status_code for _ in range(3)] == [201, 201, 429]
    # Requests without a key still count per address, apart from the keys.
    assert [post(client, None).status_code for _ in range(2)] == [201, 429]
    assert len(app.extensions["mapapp.store"]) == 5


def test_a_bad_key_limit_setting_is_explained(app_config: dict[str, Any]) -> None:
    from mapapp.config import ConfigError

    with pytest.raises(ConfigError, match="MAPAPP_API_KEY_RATE_LIMIT must be a limit"):
        create_app({**app_config, "API_KEY_RATE_LIMIT": "often"})


def test_the_openapi_description_names_the_bearer_scheme(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    scheme = spec["components"]["securitySchemes"]["partnerKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    post_operation = spec["paths"]["/api/events"]["post"]
    assert post_operation["security"] == [{}, {"partnerKey": []}]
    assert {"400", "401", "422", "429"} <= set(post_operation["responses"])


# The command line


def test_the_cli_creates_lists_and_revokes_keys(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    created = runner.invoke(cli, args=["key", "create", "CLI alliance", "--countries", "fr,be"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"mapapp_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", secret)
    assert "is not shown again" in created.stderr
    key_id = secret.split("_")[1]
    listed = runner.invoke(cli, args=["key", "list"])
    assert f"{key_id}\tCLI alliance\tBE,FR\treviewed\tcreated " in listed.output
    assert post(client, secret).status_code == 201
    revoked = runner.invoke(cli, args=["key", "revoke", key_id])
    assert revoked.exit_code == 0 and f"Revoked the key {key_id} of CLI alliance." in revoked.output
    assert post(client, secret).status_code == 401
    unknown = runner.invoke(cli, args=["key", "revoke", "nope"])
    assert unknown.exit_code == 1
    assert "There is no API key with the id 'nope'." in unknown.output
    refused = runner.invoke(cli, args=["key", "create", "X", "--countries", "ZZ"])
    assert refused.exit_code == 1 and "ZZ is not a country code we know" in refused.output


# In the browser


@pytest.mark.browser
def test_an_admin_creates_and_revokes_a_key_in_the_browser(
    app: Flask, live_server: str, page: Any
) -> None:
    from mapapp import coordinators
    from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD

    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    page.goto(f"{live_server}/admin/sign-in")
    page.get_by_label("Name").fill(COORDINATOR_NAME)
    page.get_by_label("Password").fill(COORDINATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/admin/")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Partner").fill("Browser alliance")
    page.get_by_label("Countries it may post events in").select_option(["BE", "FR"])
    page.get_by_label("Trusted").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("API key").input_value()
    assert re.fullmatch(r"mapapp_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", secret)
    assert page.get_by_text("it is shown only this once").is_visible()
    row = page.locator("table.keys tbody tr")
    assert row.count() == 1
    assert "Browser alliance" in row.inner_text() and "Belgium, France" in row.inner_text()
    key_id = secret.split("_")[1]
    page.get_by_role("button", name=f"Revoke the key {key_id} of Browser alliance").click()
    page.get_by_text(f"Revoked the key {key_id} of Browser alliance").wait_for()
    assert page.get_by_label("API key").count() == 0  # the secret is not shown again
    assert "Revoked" in page.locator("table.keys tbody tr").inner_text()
    assert page.page_errors == []
