"""The coordinators' domain messages in the page's language (issue 13): refusals, counts, logs.

A small French catalog of the test's own stands in for the translators' work, so that what is
translated at display time, and what must stay English (the audit CSV, the exports), can be told
apart; country names come from CLDR whatever the catalog holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import access, admin_form, audit, choropleth, imports, review_queue, stats
from mapapp.access import NATIONAL, Scope
from mapapp.i18n import force_language
from mapapp.storage import Audit, EventStore
from tests.conftest import add_valid_event, catalog_of, write_catalog

# The French of the test's catalog: a few messages of the area, as a translator would give them.
FRENCH = {
    access.COUNTRY_REFUSAL: (
        "Pays : vous coordonnez les événements de %(scope)s, pas de %(country)s. Demandez à un "
        "administrateur de s'occuper de cet événement."
    ),
    audit.ACTIONS["approve"]: "Approuvé",
    "Approved": "Approuvé",
    "Light up for Rare": "Illuminons pour les maladies rares",
    "Read %(rows)s: added %(added)s, skipped %(duplicates)s already on the map, "
    "rejected %(rejected)s, %(warnings)s.": (
        "%(rows)s lues : %(added)s ajoutées, %(duplicates)s déjà sur la carte, "
        "%(rejected)s refusées, %(warnings)s."
    ),
}
FRENCH_PLURALS = {
    # French has three forms in CLDR: one, many (a million) and other.
    ("%(num)s row", "%(num)s rows"): ("%(num)s ligne", "%(num)s de lignes", "%(num)s lignes"),
    ("%(num)s warning", "%(num)s warnings"): (
        "%(num)s avertissement",
        "%(num)s d'avertissements",
        "%(num)s avertissements",
    ),
}


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Return the test app's settings with the test's French catalog."""
    translations = write_catalog(tmp_path / "translations", catalog_of(FRENCH, FRENCH_PLURALS))
    return {**app_config, "BABEL_TRANSLATION_DIRECTORIES": str(translations)}


def test_a_refusal_names_the_countries_in_the_page_language(app: Flask) -> None:
    scope = Scope("ana", NATIONAL, frozenset({"BE", "FR"}))
    with app.test_request_context("/"):
        assert scope.refusal("DE") == (
            "Country: you coordinate events in Belgium, France, not in Germany. Ask an "
            "administrator to take care of this event."
        )
        with force_language("fr"):
            assert scope.refusal("DE") == (
                "Pays : vous coordonnez les événements de Belgique, France, pas de Allemagne. "
                "Demandez à un administrateur de s'occuper de cet événement."
            )
            with pytest.raises(access.NotAllowed) as refused:
                Scope("viewer", access.VIEWER).require(False, access.READ_ONLY_MESSAGE)
            assert str(refused.value) == access.READ_ONLY_MESSAGE  # no French for it yet


def test_counts_remembered_per_frame_speak_each_request_language(
    app: Flask, store: EventStore
) -> None:
    with app.app_context():
        add_valid_event(store, country="DE", city="Berlin", timezone="Europe/Berlin")
        frame = store.frame()
    with app.test_request_context("/"):
        board = stats.dashboard(frame)
        english = (board.countries[0].label, board.categories[0].label, board.statuses[1].label)
        menu = review_queue.country_choices(frame)
        with force_language("fr"):
            again = stats.dashboard(frame)
            assert again is board  # one answer per frame, shared by every language
            french = (again.countries[0].label, again.categories[0].label, again.statuses[1].label)
            assert review_queue.country_choices(frame) == [("DE", "Allemagne")]
    assert english == ("Germany", "Light up for Rare", "Approved")
    assert french == ("Allemagne", "Illuminons pour les maladies rares", "Approuvé")
    assert menu == [("DE", "Germany")]


def test_the_audit_page_is_french_and_its_csv_stays_english(
    app: Flask, store: EventStore, coordinator_client: FlaskClient
) -> None:
    with app.app_context():
        event = add_valid_event(store, status="pending")
        store.update(
            event["id"],
            {"status": "approved"},
            expected=event["version"],
            audit=Audit("ana", "approve"),
        )
    page = coordinator_client.get("/fr/admin/audit").get_data(as_text=True)
    assert "<td>Approuvé</td>" in page
    english = coordinator_client.get("/admin/audit.csv").get_data()
    assert coordinator_client.get("/fr/admin/audit.csv").get_data() == english
    assert ",Approved," in english.decode("utf-8")


def test_exports_stay_english_under_a_language_prefix(
    app: Flask, store: EventStore, client: FlaskClient
) -> None:
    with app.app_context():
        add_valid_event(store)
    for kind in ("csv", "json", "geojson"):
        english = client.get(f"/events.{kind}").get_data()
        assert client.get(f"/fr/events.{kind}").get_data() == english, kind


def test_the_import_summary_is_one_translated_sentence(app: Flask) -> None:
    report = imports.ImportReport(rows=11, added=[{}] * 3, warnings=[imports.RowNote(2, "x")])
    with app.test_request_context("/"):
        english = report.summary()
        with force_language("fr"):
            french = report.summary()
    assert english == (
        "Read 11 rows: added 3, skipped 0 already on the map, rejected 0, 1 warning."
    )
    assert french == (
        "11 lignes lues : 3 ajoutées, 0 déjà sur la carte, 0 refusées, 1 avertissement."
    )


def test_the_conflict_view_writes_dates_as_the_language_does(app: Flask) -> None:
    event = {"starts_at": "2027-02-28T18:00", "country": "DE", "language": "de"}
    with app.test_request_context("/"):
        english = admin_form.display(event)
        with force_language("fr"):
            french = admin_form.display(event)
    assert (english["starts_at"], english["country"], english["language"]) == (
        "28 February 2027, 18:00",
        "Germany",
        "German",
    )
    assert (french["starts_at"], french["country"], french["language"]) == (
        "28 février 2027, 18:00",
        "Allemagne",
        "allemand",
    )


@pytest.mark.parametrize(
    ("low", "high", "label"),
    [
        (1, 1, "1 event"),
        (2, 2, "2 events"),
        (3, 5, "3 to 5 events"),
        (1000, 1200, "1,000 to 1,200 events"),
    ],
)
def test_the_map_legend_says_each_class(app: Flask, low: int, high: int, label: str) -> None:
    with app.test_request_context("/"):
        assert choropleth.ShadeClass(low, high, "#000").label == label
