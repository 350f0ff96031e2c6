"""The domain's messages, labels, names and dates in the interface language they are built in.

A small French catalog of the test's own stands in for the translators' one, so that these tests
show each message is translated when it is built (in the request's language), while English stays
as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from flask import Flask

from mapapp import create_app, event_text, forms, geocoding, placing, submission_rules, timezones
from mapapp.events import validate_event
from mapapp.i18n import force_language, ngettext
from mapapp.submissions import check_fill_time, sign_started
from tests.conftest import catalog_of, write_catalog

FRENCH = {
    "Title: give the event a name.": "Titre : donnez un nom à l’événement.",
    "Light up for Rare": "Illuminons pour les maladies rares",
    "Pending review": "En attente de relecture",
    "Title": "Titre",
    "Event title": "Titre de l’événement",
    "Choose a country": "Choisissez un pays",
    "%(city)s time": "heure de %(city)s",
    "This event ended on %(day)s: the map shows coming and current events. If its dates are "
    "wrong, correct them and send it again.": "Cet événement s’est terminé le %(day)s.",
    "Time zone: %(zone)s is not the time zone of %(country)s; its time zone is %(single)s.": (
        "Fuseau horaire : %(zone)s n’est pas celui de ce pays (%(country)s) ; "
        "son fuseau est %(single)s."
    ),
    "That was quicker than a person can fill the form: please check your entries and send it "
    "again.": "C’était trop rapide : vérifiez vos saisies et envoyez de nouveau.",
}
FRENCH_PLURALS = {
    (
        "%(field)s: keep it under %(num)s character.",
        "%(field)s: keep it under %(num)s characters.",
    ): (  # CLDR's French has three forms: one, many (millions), other
        "%(field)s : moins de %(num)s caractère.",
        "%(field)s : moins de %(num)s de caractères.",
        "%(field)s : moins de %(num)s caractères.",
    ),
}
SAMPLE = {
    "title": "",
    "category": "talk",
    "format": "in_person",
    "starts_at": "2027-02-28T18:00",
    "ends_at": "2027-02-28T20:00",
    "timezone": "Europe/Paris",
    "city": "Paris",
    "country": "FR",
}
OUR_FILES = (
    "events.py",
    "forms.py",
    "submission_rules.py",
    "submissions.py",
    "organiser_edits.py",
    "recovery.py",
    "placing.py",
    "timezones.py",
    "event_text.py",
    "duplicates.py",
    "geocoding/__init__.py",
)
KEYWORDS: dict[str, Any] = {"_": None, "N_": None, "ngettext": (1, 2), "lazy_gettext": None}


@pytest.fixture
def french_app(app_config: dict[str, Any], tmp_path: Path) -> Iterator[Flask]:
    """Return an app whose French catalog holds the few messages above."""
    translations = write_catalog(tmp_path / "translations", catalog_of(FRENCH, FRENCH_PLURALS))
    # Zone words are remembered per language for the process (the shipped catalogs never change
    # under it); this app's own small catalog must not meet words another test's app remembered.
    event_text._zone_words.cache_clear()
    yield create_app({**app_config, "BABEL_TRANSLATION_DIRECTORIES": str(translations)})
    event_text._zone_words.cache_clear()


def test_validation_messages_are_built_in_the_language_in_use(french_app: Flask) -> None:
    with french_app.test_request_context("/"):
        _, english = validate_event({**SAMPLE, "description": "x" * 5001})
        with force_language("fr"):
            _, french = validate_event({**SAMPLE, "description": "x" * 5001})
    assert english["title"] == "Title: give the event a name."
    assert english["description"] == "Description: keep it under 5000 characters."
    assert french["title"] == "Titre : donnez un nom à l’événement."
    # The field's label comes from the catalog too, or stays English when it has none yet.
    assert french["description"] == "Description : moins de 5000 caractères."


def test_labels_and_form_fields_follow_the_language(french_app: Flask) -> None:
    with french_app.test_request_context("/"):
        with force_language("fr"):
            assert event_text.category_label("illumination") == (
                "Illuminons pour les maladies rares"
            )
            assert event_text.status_label("pending") == "En attente de relecture"
            form = forms.SubmitForm(meta={"csrf": False})
            assert str(form.title.label.text) == "Titre de l’événement"
            assert form.country.choices[0].label == "Choisissez un pays"
            assert ("DE", "Allemagne") in [(c.value, c.label) for c in form.country.choices]
        form = forms.SubmitForm(meta={"csrf": False})
        assert str(form.title.label.text) == "Event title"
        assert ("DE", "Germany") in [(c.value, c.label) for c in form.country.choices]
        assert event_text.category_label("illumination") == "Light up for Rare"


def test_choices_are_kept_apart_per_language(app: Flask) -> None:
    with app.test_request_context("/"):
        english = dict((code, name) for code, name, _zones in forms.timezone_groups())
        with force_language("de"):
            german = dict((code, name) for code, name, _zones in forms.timezone_groups())
            languages = {choice.value: choice.label for choice in forms.language_choices()}
    assert (english["DE"], german["DE"]) == ("Germany", "Deutschland")
    assert languages["fr"] == "Französisch"


def test_dates_and_zones_read_as_the_language_writes_them(french_app: Flask) -> None:
    event = {**SAMPLE, "ends_at": "2027-03-01T02:00"}
    with french_app.test_request_context("/"):
        assert event_text.when_line(event) == (
            "Sun 28 Feb 2027, 18:00 \N{EN DASH} Mon 1 Mar 2027, 02:00 (Paris time)"
        )
        with force_language("fr"):
            assert event_text.when_line(event) == (
                "dim. 28 févr. 2027, 18:00 \N{EN DASH} lun. 1 mars 2027, 02:00 (heure de Paris)"
            )
            assert timezones.describe_times("2027-02-28T23:30", "Europe/Madrid") == (
                "Times are in Europe/Madrid: 23:30 there is 22:30 UTC."
            )
            assert submission_rules.long_date(date(2026, 3, 3)) == "3 mars 2026"


def test_places_and_countries_are_named_in_the_language(french_app: Flask) -> None:
    with french_app.test_request_context("/"):
        assert placing.country_zone("Europe/Paris", "DE")[1] == (
            "Time zone: Europe/Paris is not the time zone of Germany; its time zone is "
            "Europe/Berlin."
        )
        assert geocoding.country_in_sentence("GB") == "the United Kingdom"
        with force_language("fr"):
            assert placing.country_zone("Europe/Paris", "DE")[1] == (
                "Fuseau horaire : Europe/Paris n’est pas celui de ce pays (Allemagne) ; "
                "son fuseau est Europe/Berlin."
            )
            assert geocoding.country_in_sentence("GB") == "Royaume-Uni"
            assert placing.outside_message("GB", "FR") == (
                "This point is in France, not Royaume-Uni: drag the pin if that is wrong."
            )


def test_the_form_messages_and_the_ended_error_are_translated(french_app: Flask) -> None:
    started = "2020-01-01T10:00"
    with french_app.test_request_context("/"), force_language("fr"):
        problem = check_fill_time("key", "not-signed", 0)
        ended = submission_rules.ended_error(
            {**SAMPLE, "starts_at": started, "ends_at": "2020-01-01T12:00"}
        )
        token = sign_started("key", now=0.0)
        quick = check_fill_time("key", token, 10, now=1.0)
    assert problem.startswith("This form has expired")  # no French for it in this catalog
    assert ended == {"ends_at": "Cet événement s’est terminé le 1 janvier 2020."}
    assert quick == "C’était trop rapide : vérifiez vos saisies et envoyez de nouveau."


def test_counts_take_the_form_of_their_number() -> None:
    assert ngettext("%(num)s event", "%(num)s events", 1) == "1 event"
    assert ngettext("%(num)s event", "%(num)s events", 12345) == "12,345 events"


@pytest.mark.parametrize("name", OUR_FILES)
def test_the_catalog_extraction_finds_the_messages(name: str) -> None:
    path = Path(forms.__file__).parent / name
    found = [message for _line, message, _comments, _context in _extract(path)]
    assert found, f"{name}: no message extracted"


def test_the_extraction_keeps_plurals_and_translators_notes() -> None:
    path = Path(forms.__file__).parent / "events.py"
    extracted = {str(message): comments for _line, message, comments, _context in _extract(path)}
    plural = (
        "('%(field)s: keep it under %(num)s character.', "
        "'%(field)s: keep it under %(num)s characters.')"
    )
    assert plural in extracted
    assert "Pending review" in extracted
    assert any("status" in note for note in extracted["Approved"])


def _extract(path: Path) -> list[tuple[int, Any, list[str], Any]]:
    return list(
        extract_from_file("python", str(path), keywords=KEYWORDS, comment_tags=("Translators:",))
    )
