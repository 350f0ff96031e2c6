"""Property tests: arbitrary submissions (form and JSON) never cause a 500 and, if refused, write nothing."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapapp.storage import EventStore
from mapapp.submissions import SUBMITTED_FIELDS
from tests.conftest import make_submission
from tests.test_submit import confirm, hidden

VALID = make_submission()
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Each field is either its valid value or arbitrary text (control, bidi and all other characters).
tricky_text = st.text(max_size=300) | st.sampled_from(
    ["", " ", "\u202e", "\x00", "<script>alert(1)</script>", '=HYPERLINK("x")', "2027-02-30T10:00"]
)
form_values = st.fixed_dictionaries(
    {name: st.just(value) | tricky_text for name, value in VALID.items()},
    optional={"consent": st.sampled_from(["y", "", "no"]), "homepage": st.just("") | tricky_text},
)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats() | tricky_text
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
json_bodies = st.fixed_dictionaries(
    {name: st.just(value) | json_value for name, value in VALID.items()},
    optional={
        "consent": st.just(True) | json_value,
        "latitude": json_value,
        "longitude": json_value,
        "status": st.sampled_from(["approved", "rejected"]),
    },
)


def _csv_bytes(store: EventStore) -> bytes:
    """Return the events file as stored."""
    store.frame()
    return store.path.read_bytes()


@PROPERTY_SETTINGS
@given(values=form_values)
def test_any_form_post_is_handled_and_refusals_write_nothing(
    client: FlaskClient, store: EventStore, values: dict[str, str]
) -> None:
    before, count = _csv_bytes(store), len(store)
    page = client.get("/submit").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "started": hidden(page, "started"), **values}
    response = client.post("/submit", data=data)
    assert response.status_code in {200, 422}
    if response.status_code == 422:
        assert _csv_bytes(store) == before
        return
    assert _csv_bytes(store) == before  # the preview writes nothing either
    confirmed = confirm(client, response.get_data(as_text=True), submit_anyway="y")
    assert confirmed.status_code == 303
    assert len(store) == count + 1
    assert set(store.frame()["status"]) == {"pending"}


@PROPERTY_SETTINGS
@given(body=json_bodies)
def test_any_json_post_is_handled_and_refusals_write_nothing(
    client: FlaskClient, store: EventStore, body: dict[str, Any]
) -> None:
    before, count = _csv_bytes(store), len(store)
    response = client.post("/api/events", json=body)
    assert response.status_code in {201, 422}, response.get_data(as_text=True)
    if response.status_code == 422:
        errors = response.get_json()["errors"]
        assert errors and set(errors) <= {*SUBMITTED_FIELDS, "consent", "latitude", "longitude"}
        assert _csv_bytes(store) == before
    else:
        assert response.get_json()["status"] == "pending"
        assert len(store) == count + 1
        assert set(store.frame()["status"]) == {"pending"}
