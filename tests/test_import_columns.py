"""Columns and choices of a partner's file: the words people use, in the languages we ship."""

from __future__ import annotations

import pytest

from mapapp.events import CATEGORIES, FORMATS
from mapapp.import_columns import (
    CATEGORY_WORDS,
    FORMAT_WORDS,
    category_code,
    choice_lookup,
    format_code,
)

SHIPPED_LANGUAGES = {"en", "fr", "es", "de", "it", "pt", "nl", "pl", "ar", "zh"}


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("Walk", "sport"),
        ("Light up", "illumination"),
        ("LIGHT-UP", "illumination"),
        ("Conference", "talk"),
        ("Webinar", "talk"),
        ("Marche", "sport"),  # fr
        ("Caminata", "sport"),  # es
        ("Spaziergang", "sport"),  # de
        ("Passeggiata", "sport"),  # it
        ("Caminhada", "sport"),  # pt
        ("Wandeling", "sport"),  # nl
        ("Spacer", "sport"),  # pl
        ("Illumination", "illumination"),
        ("Iluminación", "illumination"),
        ("iluminacion", "illumination"),  # without its accent
        ("Conférence", "talk"),
        ("Vortrag", "talk"),
        ("Wykład", "talk"),
        ("wyklad", "talk"),  # ł typed as l
        ("Collecte de fonds", "fundraiser"),
        ("محاضرة", "talk"),  # ar
        ("إضاءة", "illumination"),
        ("讲座", "talk"),  # zh
        ("点亮", "illumination"),
        ("Light up for Rare", "illumination"),  # the labels of mapapp.events
        ("Sport or walk", "sport"),
        ("Online campaign or social media", "online"),
        ("fundraiser", "fundraiser"),  # and the codes
        ("Disco", None),
    ],
)
def test_categories_are_read_from_words_labels_and_codes(word: str, code: str | None) -> None:
    assert category_code(word) == code


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("In person", "in_person"),
        ("in-person", "in_person"),
        ("Présentiel", "in_person"),
        ("Presencial", "in_person"),
        ("Vor Ort", "in_person"),
        ("Webinar", "online"),
        ("En ligne", "online"),
        ("线上", "online"),
        ("Hybride", "hybrid"),
        ("Híbrido", "hybrid"),
        ("Hybrid", "hybrid"),
        ("teleported", None),
    ],
)
def test_formats_are_read_from_words_labels_and_codes(word: str, code: str | None) -> None:
    assert format_code(word) == code


def test_every_choice_has_words_in_every_shipped_language() -> None:
    for words, choices in ((CATEGORY_WORDS, CATEGORIES), (FORMAT_WORDS, FORMATS)):
        assert set(words) == set(choices)
        for code, languages in words.items():
            assert set(languages) == SHIPPED_LANGUAGES, code
            assert all(languages.values()), code


def test_a_word_given_for_two_choices_is_refused_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match="'Walk' is given for both sport and social"):
        choice_lookup(
            {"sport": "Sport", "social": "Social"},
            {"sport": {"en": ("walk",)}, "social": {"en": ("Walk",)}},
        )
