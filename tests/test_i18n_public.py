"""The public pages in another language: every sentence they show comes from the catalog.

The catalogs are empty until translators fill them, so these tests use a pseudo-translation: every
message of the extracted catalog wrapped in ⟦ ⟧. Text left outside the brackets was not marked.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from mapapp import PROJECT_ROOT, create_app
from mapapp.i18n import LANGUAGES, force_language
from mapapp.web.limits import wait_message
from tests.conftest import write_catalog
from tests.test_submit import hidden

PYBABEL = Path(sys.executable).with_name("pybabel")
# Words that are not interface text: the language switch names each language in itself.
OWN_NAMES = {language.name for language in LANGUAGES.values()}


@pytest.fixture(scope="module")
def pseudo_catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a translations directory whose French wraps every message in ⟦ ⟧."""
    folder = tmp_path_factory.mktemp("translations")
    template = folder / "messages.pot"
    subprocess.run(
        [str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "Nn_:1,2"]
        + ["-k", "lazy_gettext", "-o", str(template), "."],
        cwd=PROJECT_ROOT,
        check=True,
    )
    with template.open("rb") as source:
        catalog = read_po(source, locale="fr")
    for message in catalog:
        if isinstance(message.id, tuple):
            forms = (message.id[0],) + (message.id[1],) * (catalog.num_plurals - 1)
            message.string = tuple(f"⟦{form}⟧" for form in forms)
        elif message.id:
            message.string = f"⟦{message.id}⟧"
    return write_catalog(folder, catalog)


@pytest.fixture
def pseudo_app(app_config: dict[str, Any], pseudo_catalogs: Path) -> Flask:
    """Return an app reading the pseudo-French catalog."""
    return create_app({**app_config, "BABEL_TRANSLATION_DIRECTORIES": str(pseudo_catalogs)})


def unmarked(body: str) -> list[str]:
    """Return the words a page or JSON answer shows outside the catalog's brackets."""
    if body.lstrip().startswith("{"):
        text = json.dumps(json.loads(body)["message"], ensure_ascii=False)
    else:
        body = re.sub(r"(?s)<script.*?</script>", "", body)
        labels = re.findall(r'(?:aria-label|title|alt|data-[a-z-]*)="([^"]*)"', body)
        text = html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + " ".join(labels))
    while (inner := re.sub(r"⟦[^⟦⟧]*⟧", " ", text)) != text:  # innermost first: values nest
        text = inner
    return [word for word in re.findall(r"[^\W\d_]{3,}", text) if word not in OWN_NAMES]


@pytest.mark.parametrize(
    "path", ["/fr/privacy", "/fr/edit/recover", "/fr/no-such-page", "/fr/edit/not-a-token"]
)
def test_a_page_in_french_shows_only_catalog_text(pseudo_app: Flask, path: str) -> None:
    page = pseudo_app.test_client().get(path).get_data(as_text=True)
    assert unmarked(page) == [], page


def test_the_answer_to_a_request_for_links_is_in_french(pseudo_app: Flask) -> None:
    client: FlaskClient = pseudo_app.test_client()
    form = client.get("/fr/edit/recover").get_data(as_text=True)
    sent = client.post(
        "/fr/edit/recover", data={"csrf_token": hidden(form, "csrf_token"), "email": "a@b.org"}
    )
    assert sent.status_code == 200
    assert unmarked(sent.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "path",
    ["/fr/places/search?q=", "/fr/places/at?lat=north&lon=3", "/fr/places/search?q=x&country=Z"],
)
def test_the_placing_maps_answers_are_in_the_pages_language(pseudo_app: Flask, path: str) -> None:
    answer = pseudo_app.test_client().get(path)
    assert answer.status_code == 400
    assert unmarked(answer.get_data(as_text=True)) == []


def test_counts_take_the_languages_plural_and_number_format(pseudo_app: Flask) -> None:
    with pseudo_app.test_request_context("/fr/"), force_language("fr"):
        said = wait_message(30 * 60, form_kept=False)
    assert said == (
        "⟦You have sent many requests in a short time: please try again in 30 minutes.⟧"
    )
