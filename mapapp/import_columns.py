"""Which column of a partner's file holds which field, and the words people use for our choices.

Column names and values are matched folded: case, accents and punctuation do not count
("E-mail", "email" and "EMAIL" are one name; "Conférence" and "conference" one word). Categories
and formats are read from their codes, the labels of mapapp.events (in English and in the
interface language in use), and the words of CATEGORY_WORDS and FORMAT_WORDS, in the languages
the app ships (en, fr, es, de, it, pt, nl, pl, ar, zh).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

from mapapp.events import CATEGORIES, FORMATS
from mapapp.filters import fold
from mapapp.i18n import N_, _, current_code
from mapapp.import_files import ImportFileError

# Column names people use, folded (lower case, no accents, punctuation as spaces) -> our field.
# start_date/start_time and end_date/end_time are parts joined into starts_at and ends_at.
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "title": ("title", "event name", "name", "event", "event title", "name of event"),
    "category": ("category", "type", "event type", "kind", "type of event"),
    "format": ("format", "event format", "attendance", "mode", "in person or online"),
    "starts_at": (
        "start",
        "starts at",
        "starts",
        "start date and time",
        "start datetime",
        "begins",
    ),
    "start_date": ("start date", "date", "day", "event date"),
    "start_time": ("start time", "time", "from", "starting time"),
    "ends_at": ("end", "ends at", "ends", "end date and time", "end datetime", "finishes"),
    "end_date": ("end date",),
    "end_time": ("end time", "until", "to", "ending time", "finishing time"),
    "timezone": ("timezone", "time zone", "tz"),
    "venue": ("venue", "place", "location", "location name", "building"),
    "address": ("address", "street", "street address", "full address"),
    "city": ("city", "town", "town or city", "city or town", "municipality", "village"),
    "region": ("region", "state", "province", "county", "state or province"),
    "country": ("country", "country code", "nation"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "organiser": (
        "organiser",
        "organizer",
        "organisation",
        "organization",
        "host",
        "organised by",
        "organized by",
        "patient organisation",
        "patient organization",
    ),
    "website": ("website", "url", "link", "web", "web site", "event page", "web page"),
    "contact_email": ("contact email", "email", "e mail", "contact e mail", "mail"),
    "description": ("description", "details", "about", "summary", "notes"),
    "language": ("language", "lang"),
}
HEADER_TO_FIELD: dict[str, str] = {
    synonym: name for name, synonyms in COLUMN_SYNONYMS.items() for synonym in synonyms
}
PART_FIELDS = frozenset({"start_date", "start_time", "end_date", "end_time"})
# What the preview calls the fields read in parts (translated where shown).
PART_LABELS: dict[str, str] = {
    "start_date": N_("Start (date)"),
    "start_time": N_("Start (time)"),
    "end_date": N_("End (date)"),
    "end_time": N_("End (time)"),
}
# Translators: Title, Event name, Start, Start date and Start time are column names the import
# reads in English; keep them as they are.
NO_TITLE_COLUMN = N_(
    "We could not find the column with the event names: call it Title or Event name."
)
NO_START_COLUMN = N_(
    "We could not find the column with the start dates: call it Start, or Start date "
    "(with Start time)."
)

# The words people write for each category, by language; codes and labels are added below.
# Written as people spell them: folding makes "Conférence", "conference" and "CONFERENCE" one.
CATEGORY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "illumination": {
        "en": ("light up", "lighting", "lights", "light up for rare", "illumination"),
        "fr": ("illumination", "éclairage", "mise en lumière", "illuminer"),
        "es": ("iluminación", "iluminar", "encendido"),
        "de": ("beleuchtung", "anstrahlung", "lichtaktion"),
        "it": ("illuminazione", "illuminare"),
        "pt": ("iluminação", "iluminar"),
        "nl": ("verlichting", "belichting", "aanlichting"),
        "pl": ("iluminacja", "podświetlenie"),
        "ar": ("إضاءة", "إنارة"),
        "zh": ("点亮", "亮灯", "灯光"),
    },
    "awareness": {
        "en": ("awareness", "stand", "stall", "booth", "information stand", "info stand"),
        "fr": ("sensibilisation", "stand d'information", "stand"),
        "es": ("sensibilización", "concienciación", "puesto", "mesa informativa"),
        "de": ("aufklärung", "infostand", "informationsstand"),
        "it": ("sensibilizzazione", "banchetto", "gazebo"),
        "pt": ("sensibilização", "conscientização", "banca"),
        "nl": ("bewustwording", "informatiestand", "kraam"),
        "pl": ("świadomość", "stoisko", "stoisko informacyjne"),
        "ar": ("توعية", "كشك"),
        "zh": ("宣传", "展位", "摊位"),
    },
    "talk": {
        "en": ("talk", "conference", "webinar", "lecture", "seminar", "symposium", "workshop"),
        "fr": ("conférence", "webinaire", "séminaire", "colloque", "table ronde", "atelier"),
        "es": ("conferencia", "charla", "seminario", "ponencia", "jornada", "taller"),
        "de": ("vortrag", "konferenz", "tagung", "fachtagung", "webinar"),
        "it": ("conferenza", "convegno", "seminario", "webinar"),
        "pt": ("palestra", "conferência", "seminário", "webinário"),
        "nl": ("lezing", "conferentie", "congres", "webinar"),
        "pl": ("wykład", "konferencja", "seminarium", "webinar", "prelekcja"),
        "ar": ("محاضرة", "مؤتمر", "ندوة"),
        "zh": ("讲座", "会议", "研讨会", "网络研讨会"),
    },
    "fundraiser": {
        "en": ("fundraiser", "fundraising", "charity", "benefit", "collection"),
        "fr": ("collecte", "collecte de fonds", "levée de fonds"),
        "es": ("recaudación", "recaudación de fondos", "beneficencia"),
        "de": ("spendenaktion", "spendensammlung", "benefiz"),
        "it": ("raccolta fondi", "beneficenza"),
        "pt": ("angariação de fundos", "arrecadação", "arrecadação de fundos"),
        "nl": ("inzamelingsactie", "inzameling", "benefiet"),
        "pl": ("zbiórka", "zbiórka pieniędzy", "akcja charytatywna"),
        "ar": ("جمع تبرعات", "تبرعات"),
        "zh": ("募捐", "筹款"),
    },
    "sport": {
        "en": ("sport", "sports", "walk", "run", "race", "marathon", "cycling", "swim"),
        "fr": ("marche", "course", "course à pied", "randonnée"),
        "es": ("caminata", "carrera", "marcha", "deporte", "paseo"),
        "de": ("spaziergang", "lauf", "wanderung", "marsch", "spendenlauf"),
        "it": ("passeggiata", "camminata", "corsa", "marcia"),
        "pt": ("caminhada", "corrida", "desporto", "esporte"),
        "nl": ("wandeling", "wandeltocht", "loop", "hardloopwedstrijd"),
        "pl": ("spacer", "marsz", "bieg"),
        "ar": ("مشي", "رياضة", "ماراثون", "سباق"),
        "zh": ("步行", "健步走", "跑步", "运动", "马拉松"),
    },
    "social": {
        "en": ("social", "social gathering", "gathering", "party", "meetup", "picnic", "dinner"),
        "fr": ("rencontre", "fête", "soirée", "pique-nique", "repas"),
        "es": ("encuentro", "fiesta", "merienda", "reunión social"),
        "de": ("treffen", "fest", "feier", "stammtisch", "begegnung"),
        "it": ("festa", "ritrovo", "cena", "aperitivo"),
        "pt": ("encontro", "convívio", "confraternização"),
        "nl": ("bijeenkomst", "feest", "ontmoeting"),
        "pl": ("spotkanie", "piknik", "impreza"),
        "ar": ("لقاء", "حفل", "تجمع"),
        "zh": ("聚会", "联谊"),
    },
    "policy": {
        "en": ("policy", "advocacy", "parliament", "political event"),
        "fr": ("politique", "plaidoyer", "parlement"),
        "es": ("política", "incidencia política", "parlamento"),
        "de": ("politik", "parlament", "interessenvertretung", "parlamentarischer abend"),
        "it": ("evento politico", "parlamento", "istituzionale"),
        "pt": ("advocacia", "evento político"),
        "nl": ("beleid", "politiek", "parlement", "belangenbehartiging"),
        "pl": ("polityka", "rzecznictwo", "parlament"),
        "ar": ("سياسة", "مناصرة", "برلمان"),
        "zh": ("政策", "倡导", "议会"),
    },
    "arts": {
        "en": ("art", "arts", "contest", "competition", "concert", "exhibition", "music"),
        "fr": ("concours", "exposition", "spectacle", "théâtre"),
        "es": ("arte", "concurso", "concierto", "exposición", "teatro"),
        "de": ("kunst", "wettbewerb", "konzert", "ausstellung", "theater"),
        "it": ("concorso", "concerto", "mostra"),
        "pt": ("exposição", "espetáculo"),
        "nl": ("wedstrijd", "tentoonstelling", "toneel"),
        "pl": ("sztuka", "konkurs", "koncert", "wystawa", "teatr"),
        "ar": ("فن", "فنون", "مسابقة", "معرض"),
        "zh": ("艺术", "比赛", "音乐会", "展览"),
    },
    "online": {
        "en": ("online campaign", "social media", "campaign", "digital campaign"),
        "fr": ("campagne", "campagne en ligne", "réseaux sociaux"),
        "es": ("campaña", "campaña en línea", "redes sociales"),
        "de": ("kampagne", "onlinekampagne", "soziale medien"),
        "it": ("campagna", "campagna online", "social network"),
        "pt": ("campanha", "campanha online", "redes sociais"),
        "nl": ("campagne", "online campagne", "sociale media"),
        "pl": ("kampania", "kampania online", "media społecznościowe"),
        "ar": ("حملة", "حملة إلكترونية", "وسائل التواصل الاجتماعي"),
        "zh": ("线上活动", "社交媒体", "网络宣传"),
    },
    "other": {
        "en": ("other", "misc", "miscellaneous"),
        "fr": ("autre", "divers"),
        "es": ("otro", "otra", "otros"),
        "de": ("sonstiges", "andere", "anderes"),
        "it": ("altro", "altri"),
        "pt": ("outro", "outros"),
        "nl": ("overig", "anders"),
        "pl": ("inne", "inny"),
        "ar": ("أخرى", "آخر"),
        "zh": ("其他",),
    },
}
FORMAT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "in_person": {
        "en": ("in person", "inperson", "physical", "offline", "on site", "face to face"),
        "fr": ("en personne", "présentiel", "sur place"),
        "es": ("presencial", "en persona"),
        "de": ("vor ort", "präsenz", "präsenzveranstaltung", "persönlich"),
        "it": ("in presenza", "di persona", "dal vivo"),
        "pt": ("em pessoa",),
        "nl": ("fysiek", "op locatie"),
        "pl": ("stacjonarnie", "stacjonarny", "osobiście"),
        "ar": ("حضوري", "شخصي"),
        "zh": ("线下", "现场"),
    },
    "online": {
        "en": ("online", "virtual", "remote", "webinar", "digital"),
        "fr": ("en ligne", "virtuel", "distanciel", "à distance", "webinaire"),
        "es": ("en línea", "a distancia"),
        "de": ("virtuell",),
        "it": ("virtuale",),
        "pt": ("em linha", "webinário"),
        "nl": ("virtueel",),
        "pl": ("zdalnie", "wirtualnie"),
        "ar": ("عبر الإنترنت", "افتراضي", "أونلاين"),
        "zh": ("线上", "在线", "网络"),
    },
    "hybrid": {
        "en": ("hybrid", "both", "mixed"),
        "fr": ("hybride", "mixte"),
        "es": ("híbrido", "mixto"),
        "de": ("gemischt",),
        "it": ("ibrido", "misto"),
        "pt": ("híbrido",),
        "nl": ("hybride",),
        "pl": ("hybrydowy", "hybrydowo"),
        "ar": ("هجين",),
        "zh": ("混合", "线上线下"),
    },
}
# Letters that folding keeps apart but people often type without their mark.
PLAIN_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "æ": "ae", "œ": "oe"})


def fold_header(name: str) -> str:
    """Return a column name folded for matching: lower case, no accents, words only."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", fold(name)).split())


def fold_word(text: str) -> str:
    """Return a value folded for matching in any script: lower case, no accents, words only."""
    return " ".join(re.sub(r"[\W_]+", " ", fold(text).translate(PLAIN_LETTERS)).split())


def map_columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Return our field -> column position for the header, and the columns left unused."""
    mapping: dict[str, int] = {}
    ignored: list[str] = []
    for position, name in enumerate(header):
        folded = fold_header(name)
        target = HEADER_TO_FIELD.get(folded) or HEADER_TO_FIELD.get(folded.replace(" ", "_"))
        if target is None and folded.replace(" ", "_") in COLUMN_SYNONYMS:
            target = folded.replace(" ", "_")
        if target is None or target in mapping:
            if name:
                ignored.append(name)
            continue
        mapping[target] = position
    if "title" not in mapping:
        raise ImportFileError(_(NO_TITLE_COLUMN))
    if "starts_at" not in mapping and "start_date" not in mapping:
        raise ImportFileError(_(NO_START_COLUMN))
    return mapping, ignored


def choice_lookup(
    choices: Mapping[str, str], words: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> dict[str, str]:
    """Return folded code, label and word -> code; a word given for two codes is an error."""
    lookup: dict[str, str] = {}
    entries = [(code, code) for code in choices] + [
        (label, code) for code, label in choices.items()
    ]
    entries += [
        (word, code)
        for code, languages in words.items()
        for spellings in languages.values()
        for word in spellings
    ]
    for word, code in entries:
        folded = fold_word(word)
        if lookup.setdefault(folded, code) != code:
            raise ValueError(f"{word!r} is given for both {lookup[folded]} and {code}.")
    return lookup


CATEGORY_LOOKUP = choice_lookup(CATEGORIES, CATEGORY_WORDS)
FORMAT_LOOKUP = choice_lookup(FORMATS, FORMAT_WORDS)


def category_code(value: str) -> str | None:
    """Return the category a word names (a code, a label, a word in a shipped language), or None."""
    folded = fold_word(value)
    return CATEGORY_LOOKUP.get(folded) or _label_lookup("category", current_code()).get(folded)


def format_code(value: str) -> str | None:
    """Return the format a word names (a code, a label, a word in a shipped language), or None."""
    folded = fold_word(value)
    return FORMAT_LOOKUP.get(folded) or _label_lookup("format", current_code()).get(folded)


@cache
def _label_lookup(name: str, language: str) -> dict[str, str]:
    """Return folded label -> code of the categories or formats in one interface language.

    The messages name the choices in the interface language, so the import reads them too.
    """
    labels = CATEGORIES if name == "category" else FORMATS
    return {fold_word(_(label)): code for code, label in labels.items()}
