"""The interface in other languages, in chromium: no English left, Arabic mirrored, axe clean."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from mapapp import PROJECT_ROOT, coordinators, create_app, i18n
from mapapp.i18n import LANGUAGES
from mapapp.storage import EventStore
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, make_event, serving_in_thread

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
TRANSLATIONS = Path(i18n.__file__).parent / "translations"
WORD = re.compile(r"[A-Za-z][a-z]{2,}")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Interface text only: event content (dir="auto"), the language switch (each language in itself),
# addresses and code are left out of the comparison.
INTERFACE_TEXT = """() => {
  const skip = '[dir="auto"], .language-switch, code, pre, kbd, .leaflet-control-attribution';
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || parent.closest('script, style, noscript')) continue;
    if (!parent.checkVisibility({visibilityProperty: true})) continue;
    parts.push(node.textContent);
  }
  for (const element of document.querySelectorAll('[placeholder], [aria-label], [title], [alt]')) {
    if (element.closest(skip)) continue;
    for (const name of ['placeholder', 'aria-label', 'title', 'alt']) {
      if (element.hasAttribute(name)) parts.push(element.getAttribute(name));
    }
  }
  parts.push(document.title);
  return parts.join('\\n');
}"""
# Words English and French (or the event data) share that the catalogs' words do not cover.
SAME_IN_BOTH = {"Rare", "Disease", "Day", "Light", "for", "CSV", "Excel", "JSON", "GeoJSON"}


def _messages(path: Path) -> list[Any]:
    with path.open("rb") as source:
        return [message for message in read_po(source) if message.id]


def _words(texts: list[str]) -> set[str]:
    return {word for text in texts for word in WORD.findall(PLACEHOLDER.sub(" ", text))}


def english_only_words(code: str) -> set[str]:
    """Return the words of the English interface that the language's catalog never uses."""
    english: list[str] = []
    translated: list[str] = []
    for message in _messages(TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"):
        english.extend(message.id if isinstance(message.id, tuple) else [message.id])
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        translated.extend(text for text in strings if text)
    return _words(english) - _words(translated) - SAME_IN_BOTH


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Serve one app for the module: a few events (one past), a coordinator, no tiles."""
    data_dir = tmp_path_factory.mktemp("languages")
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "test-secret-key",
            "LOGIN_RATE_LIMIT": "off",
            "TILES": "none",
        }
    )
    store: EventStore = app.extensions["mapapp.store"]
    event = store.add(make_event(title="Soirée des lumières", description="Une soirée."))
    store.add(make_event(title="Concert", category="arts", city="Lyon", latitude="45.76"))
    store.add(make_event(status="pending", title="En attente"))
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    with serving_in_thread(app) as base_url:
        yield {"url": base_url, "event": event}


def _open(browser: Any, url: str, **options: Any) -> tuple[Any, Any]:
    context = browser.new_context(**options)
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    page.goto(url)
    return context, page


def _sign_in(page: Any, base: str, code: str) -> None:
    page.goto(f"{base}/{code}/admin/")
    page.fill("input[name=name]", COORDINATOR_NAME)
    page.fill("input[name=password]", COORDINATOR_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{base}/{code}/admin/")


@pytest.mark.parametrize(
    "path", ["/fr/", "/fr/submit", "/fr/events/ID", "/fr/admin/", "/fr/no-such-page"]
)
def test_french_pages_hold_no_english_interface_text(
    browser: Any, site: dict[str, Any], path: str
) -> None:
    suspects = english_only_words("fr")
    assert len(suspects) > 100  # the comparison has English words to look for
    context, page = _open(browser, site["url"] + "/fr/")
    try:
        if path == "/fr/admin/":
            _sign_in(page, site["url"], "fr")
        else:
            page.goto(site["url"] + path.replace("ID", site["event"]["id"]))
        if path == "/fr/":
            page.wait_for_selector("body[data-map-ready='true']")
            page.wait_for_selector("#event-list li")
        assert page.evaluate("document.documentElement.lang") == "fr"
        # Addresses (share links, the page's own URL) are not interface text.
        text = re.sub(r"(https?|webcal|mailto):\S+|\S+@\S+", " ", page.evaluate(INTERFACE_TEXT))
        english = sorted(set(WORD.findall(text)) & suspects)
        assert english == [], f"English words on {path}: {english}\n---\n{text}"
        assert page.page_errors == []
    finally:
        context.close()


def test_arabic_map_is_right_to_left_and_mirrored(browser: Any, site: dict[str, Any]) -> None:
    positions = {}
    for code in ("en", "ar"):
        prefix = "" if code == "en" else f"/{code}"
        context, page = _open(
            browser, site["url"] + prefix + "/", viewport={"width": 1280, "height": 900}
        )
        try:
            page.wait_for_selector("#event-list li")
            positions[code] = page.evaluate(
                """() => {
                  const box = s => document.querySelector(s).getBoundingClientRect();
                  const style = s => getComputedStyle(document.querySelector(s));
                  const fields = [...document.querySelectorAll('#map-filters .field')]
                    .map(f => f.getBoundingClientRect()).filter(b => b.width > 0);
                  return {
                    direction: style('html').direction,
                    filters: style('#map-filters').direction,
                    list: style('#event-list').direction,
                    listText: style('#event-list li').textAlign,
                    mapLeft: box('.map-frame').left,
                    listLeft: box('.event-list').left,
                    firstField: fields[0].left, secondField: fields[1].left,
                    sameRow: Math.abs(fields[0].top - fields[1].top) < 2,
                  };
                }"""
            )
        finally:
            context.close()
    english, arabic = positions["en"], positions["ar"]
    assert english["direction"] == "ltr"
    assert (arabic["direction"], arabic["filters"], arabic["list"]) == ("rtl", "rtl", "rtl")
    assert arabic["listText"] in {"start", "right"}
    # What is on the right in English is on the left in Arabic.
    if english["listLeft"] != english["mapLeft"]:
        assert (english["listLeft"] > english["mapLeft"]) != (
            arabic["listLeft"] > arabic["mapLeft"]
        )
    if english["sameRow"] and arabic["sameRow"]:
        assert english["firstField"] < english["secondField"]
        assert arabic["firstField"] > arabic["secondField"]


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_axe_finds_no_serious_violation_in_every_language(
    browser: Any, site: dict[str, Any], code: str
) -> None:
    prefix = "" if code == "en" else f"/{code}"
    context = None
    try:
        for path in ("/", "/submit"):
            if context:
                context.close()
            context, page = _open(browser, site["url"] + prefix + path, bypass_csp=True)
            if path == "/":
                page.wait_for_selector("#event-list li")
            assert page.evaluate("document.documentElement.lang") == LANGUAGES[code].tag
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(
                "async () => (await axe.run()).violations"
                ".filter(v => ['serious', 'critical'].includes(v.impact))"
                ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
            )
            assert violations == [], f"{prefix}{path}: {violations}"
    finally:
        if context:
            context.close()
