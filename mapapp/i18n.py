"""Interface languages: their table, gettext for every module, and names, dates and numbers.

The only module importing Flask-Babel. Every string a person reads goes through `_` (or
`ngettext` for counts) at the time it is shown; constants defined at import time are marked with
`N_` (or `Nn_` for a singular and plural pair) so that `pybabel extract` finds them, and are
translated where they are used with `_(CONSTANT)`. Outside a request (the CLI, the digest
command) the language is English unless `force_language` says otherwise, so the CLI stays English.

Placeholders are Python's named ones (`%(place)s`), the same in the JavaScript catalog.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel import units as babel_units
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_babel import gettext as _gettext
from flask_babel import lazy_gettext as _lazy_gettext

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    """An interface language: its URL prefix, its BCP 47 tag, its own name, its direction."""

    code: str  # the URL prefix (/fr/) and the catalog's folder
    tag: str  # <html lang>, hreflang
    name: str  # its name in itself, as the language switch shows it
    direction: str = "ltr"
    # The CLDR locale that writes its dates, times and numbers, when not the bare language's.
    formats: str = ""

    @property
    def locale(self) -> Locale:
        """Return the Babel locale (CLDR) of this language."""
        return _locale(self.code)

    @property
    def format_tag(self) -> str:
        """Return the BCP 47 tag the browser's Intl formats dates and numbers with ("en-GB")."""
        return (self.formats or self.code).replace("_", "-")


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        # The interface's English is British ("organiser", "colour"), and so are its dates and
        # times ("Sunday 28 February 2027, 18:00"); CLDR's bare "en" is the United States'.
        Language("en", "en", "English", formats="en_GB"),
        Language("fr", "fr", "Français"),
        Language("es", "es", "Español"),
        Language("de", "de", "Deutsch"),
        Language("it", "it", "Italiano"),
        Language("pt", "pt", "Português"),
        Language("nl", "nl", "Nederlands"),
        Language("pl", "pl", "Polski"),
        Language("ar", "ar", "العربية", "rtl"),
        Language("zh", "zh-Hans", "简体中文"),
    )
}
DEFAULT_LANGUAGE = "en"
# Territories whose people read distances in miles (CLDR's measurement data has no "road
# distance" unit for Babel, so the short list is kept here): the interface's British English
# gives miles.
MILE_TERRITORIES = frozenset({"US", "GB", "LR", "MM"})


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a constant for the catalog; translate it where it is shown, with `_(text)`."""
    return text


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - the gettext convention
    """Mark a singular and plural pair for the catalog (the JavaScript's counts)."""
    return singular, plural


def _(text: str, **values: Any) -> str:
    """Return the text in the current interface language, with `%(name)s` values filled in."""
    return str(_gettext(text, **values))


def ngettext(singular: str, plural: str, count: int, **values: Any) -> str:
    """Return the form for `count` in the current language; `%(num)s` is the count."""
    values.setdefault("num", format_number(count))
    # Flask-Babel's ngettext takes the count as `num` and would refuse a `num` value of its own.
    return str(get_translations().ungettext(singular, plural, count) % values)


def lazy_gettext(text: str, **values: Any) -> Any:
    """Return a string translated when it is shown (form labels defined at import time)."""
    return _lazy_gettext(text, **values)


def init_app(app: Any) -> Babel:
    """Load the catalogs; the web layer chooses each request's language."""
    from mapapp.web.languages import request_language

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    return Babel(app, locale_selector=request_language)


@cache
def _locale(code: str) -> Locale:
    language = LANGUAGES.get(code)
    return Locale.parse(language.formats if language and language.formats else code)


def current_code() -> str:
    """Return the code of the interface language in use (English outside a request)."""
    locale = get_locale()
    if locale is None:
        return DEFAULT_LANGUAGE
    return locale.language if locale.language in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> Language:
    """Return the interface language in use."""
    return LANGUAGES[current_code()]


def current_locale() -> Locale:
    """Return the CLDR locale of the interface language in use."""
    return _locale(current_code())


def known_language(code: str | None) -> str:
    """Return `code` if it is an interface language, else English."""
    code = (code or "").strip().lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@contextmanager
def force_language(code: str | None) -> Iterator[None]:
    """Speak `code` (an interface language; English if unknown) inside the block."""
    with force_locale(known_language(code)):
        yield


# Names (CLDR through Babel)


def country_name(code: str, fallback: str = "") -> str:
    """Return a country's name in the interface language (its code if CLDR has none)."""
    code = (code or "").strip().upper()
    if not code:
        return fallback
    return current_locale().territories.get(code) or fallback or code


def language_name(code: str) -> str:
    """Return a language's name in the interface language, from a code such as "fr" or "pt-BR"."""
    code = (code or "").strip()
    if not code:
        return ""
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name(current_locale()) or code
    except (ValueError, UnknownLocaleError):
        return code


def sorted_names(names: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return (code, name) pairs sorted by name as a reader of the language expects."""
    return sorted(names, key=lambda pair: _collation_key(pair[1]))


def _collation_key(name: str) -> tuple[str, str]:
    import unicodedata

    folded = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)), name


# Dates, times, numbers, distances


def format_date(value: date, format: str = "long") -> str:
    """Return a date as the interface language writes it ("22 février 2027")."""
    return str(babel_dates.format_date(value, format, locale=current_locale()))


def format_time(value: datetime | time, format: str = "short") -> str:
    """Return a time of day as the interface language writes it, in the value's own zone."""
    return str(babel_dates.format_time(value, format, locale=current_locale()))


def format_datetime(value: datetime, format: str = "medium") -> str:
    """Return a date and time as the interface language writes it, in the value's own zone."""
    tzinfo = value.tzinfo if isinstance(value, datetime) else None
    return str(babel_dates.format_datetime(value, format, tzinfo=tzinfo, locale=current_locale()))


def format_skeleton(value: datetime | date, skeleton: str) -> str:
    """Return a date in a CLDR skeleton ("MMMEd": "Mon, 22 Feb") in the interface language."""
    tzinfo = value.tzinfo if isinstance(value, datetime) else None
    return str(babel_dates.format_skeleton(skeleton, value, tzinfo=tzinfo, locale=current_locale()))


def format_number(value: float | int) -> str:
    """Return a number with the interface language's separators ("12 345")."""
    return str(babel_numbers.format_decimal(value, locale=current_locale()))


def distance_unit() -> str:
    """Return "mile" or "kilometer": the unit the interface language's readers expect."""
    locale = current_locale()
    territory = locale.territory or ("US" if locale.language == "en" else "")
    return "mile" if territory in MILE_TERRITORIES else "kilometer"


def format_distance(kilometres: float) -> str:
    """Return a distance in the reader's unit, rounded as a person would say it ("12 km")."""
    unit = distance_unit()
    value = kilometres / 1.609344 if unit == "mile" else kilometres
    pattern = "#,##0.#" if value < 10 else "#,##0"
    return str(
        babel_units.format_unit(
            value, f"length-{unit}", length="short", format=pattern, locale=current_locale()
        )
    )


# The JavaScript's catalog


def js_catalog(messages: Iterable[str], plurals: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Return the page's strings in the interface language, for the browser's `t()` and `tn()`.

    A message maps to its translation; a plural pair maps its singular to {CLDR plural category:
    translated form}, the categories `Intl.PluralRules(lang).select(n)` returns in the browser
    (the catalog's forms are picked by a sample number of each category).
    """
    translations = get_translations()
    catalog: dict[str, Any] = {text: translations.ugettext(text) for text in messages}
    samples = plural_samples(current_code())
    for singular, plural in plurals:
        catalog[singular] = {
            # gettext counts whole numbers: a fraction's category (Polish "other", "1,5
            # wydarzenia") takes the form of the next whole number, as the language reads it.
            category: translations.ungettext(singular, plural, math.ceil(sample))
            for category, sample in samples.items()
        }
    return catalog


# Numbers tried for a sample of each plural category: whole numbers first; a million is French
# and Spanish "many" ("1 million d'événements"); a fraction is Polish and Russian "other".
PLURAL_CANDIDATES: tuple[float, ...] = (*range(0, 1000), 1_000_000, 1.5)


@cache
def plural_samples(code: str) -> Mapping[str, float]:
    """Return one number of each CLDR plural category of the language ("few": 3)."""
    rule = _locale(code).plural_form
    samples: dict[str, float] = {}
    for number in PLURAL_CANDIDATES:
        samples.setdefault(rule(number), number)
    return samples
