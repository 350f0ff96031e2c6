"""The import's template: the columns it reads, with one example row, as CSV or Excel.

The workbook's first sheet holds the header and the example; a second sheet says what each
column takes, and a third lists the categories with words the import understands for them.
The example is an event of the current edition, so the template imports as it is.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from mapapp.events import CATEGORIES, FORMATS, current_edition, edition_date
from mapapp.i18n import N_, _
from mapapp.import_columns import CATEGORY_WORDS

CSV_NAME = "mapapp-import-template.csv"
XLSX_NAME = "mapapp-import-template.xlsx"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# (header, what to write in it); every header is one the import matches to its field, and stays
# English as the import reads it. The help texts are marked for the catalog and translated in
# the workbook (`column_help`); the category and format help lists the choices.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Title", N_("The event's name, as visitors will see it. Required.")),
    (
        "Category",
        # Translators: Walk, Light up, Conference, Marche, Caminata and Vortrag are examples of
        # words the import understands in several languages: keep them as they are.
        N_(
            "One of: %(choices)s. Common words are understood too, in English, French, Spanish, "
            "German, Italian, Portuguese, Dutch, Polish, Arabic and Chinese (Walk, Light up, "
            "Conference, Marche, Caminata, Vortrag…): see the Categories sheet."
        ),
    ),
    ("Format", N_("One of: %(choices)s.")),
    # Translators: keep the example dates and times as they are.
    ("Start date", N_("The day the event starts, such as 2027-02-28 or 28/02/2027. Required.")),
    ("Start time", N_("The local time it starts, such as 18:00. Required.")),
    ("End date", N_("The day it ends, when that is not the day it starts.")),
    ("End time", N_("The local time it ends, such as 22:00.")),
    (
        "Time zone",
        # Translators: keep America/New_York: it is the name of a time zone.
        N_(
            "Only for an online event in a country with several time zones: a name such as "
            "America/New_York. An event with a place takes the time zone of its place."
        ),
    ),
    ("Venue", N_("The building or place, such as Hôtel de Ville.")),
    ("Address", N_("The street address, when there is one.")),
    ("City", N_("The town or city. Required for events in person and hybrid ones.")),
    ("Region", N_("The region, state or province, when a town's name is not enough.")),
    (
        "Country",
        N_(
            "The country's name or its two-letter code, such as France or FR. Required: an "
            "online event gives the country its organisation is based in."
        ),
    ),
    ("Latitude", N_("Only to give the exact point, in decimal degrees, such as 45.7676.")),
    ("Longitude", N_("Only to give the exact point, in decimal degrees, such as 4.8345.")),
    ("Organiser", N_("Who organises the event. Required.")),
    ("Website", N_("The event's web page, such as https://example.org/event.")),
    (
        "Contact e-mail",
        N_(
            "An address where a coordinator can reach the organiser; never shown to visitors. "
            "Required."
        ),
    ),
    ("Description", N_("What happens at the event, in a few sentences.")),
    ("Language", N_("The event's language as a two-letter code, such as fr.")),
)
# The sheets' names, translated in the workbook (the import reads the first sheet by position).
SHEET_TITLES = (N_("Events"), N_("Columns"), N_("Categories"))
# The headers of the two sheets that explain the columns and the categories.
# Translators: the headers of the import template's help sheets.
COLUMNS_HEADER = (N_("Column"), N_("What to write"))
CATEGORIES_HEADER = (N_("Category"), N_("Also understood"))
# Characters a sheet's name cannot hold, and its longest length.
SHEET_NAME_FORBIDDEN = re.compile(r"[\\/*?:\[\]]")
SHEET_NAME_LENGTH = 31
COLUMN_WIDTH = 22
HELP_WIDTH = 100


def example_row(today: date | None = None) -> list[str]:
    """Return the example event: lit on Rare Disease Day of the current edition."""
    day = edition_date(current_edition(today)).isoformat()
    return [
        "Light up the town hall",
        "Light up for Rare",
        "In person",
        day,
        "18:00",
        "",
        "22:00",
        "",
        "Hôtel de Ville",
        "",
        "Lyon",
        "",
        "France",
        "",
        "",
        "Alliance Maladies Rares",
        "https://example.org/light-up",
        "contact@example.org",
        "The town hall is lit in the colours of Rare Disease Day.",
        "fr",
    ]


def template_csv(today: date | None = None) -> bytes:
    """Return the template as CSV in UTF-8 with a byte-order mark, as Excel opens it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for header, _help in COLUMNS])
    writer.writerow(example_row(today))
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx(today: date | None = None) -> bytes:
    """Return the template as a workbook: events, what each column takes, and the categories."""
    book = Workbook()
    events = book.active
    assert events is not None
    events.title = _sheet_name(SHEET_TITLES[0])
    events.append([header for header, _help in COLUMNS])
    row: list[object] = list(example_row(today))
    row[3] = datetime.combine(date.fromisoformat(str(row[3])), time(0, 0))  # a real date cell
    row[4], row[6] = time(18, 0), time(22, 0)
    events.append(row)
    events["D2"].number_format = "yyyy-mm-dd"
    events["E2"].number_format = events["G2"].number_format = "hh:mm"
    for cell in events[1]:
        cell.font = Font(bold=True)
        events.column_dimensions[cell.column_letter].width = COLUMN_WIDTH
    events.freeze_panes = "A2"

    columns = book.create_sheet(_sheet_name(SHEET_TITLES[1]))
    columns.append([_(text) for text in COLUMNS_HEADER])
    for header, help_text in COLUMNS:
        columns.append([header, column_help(header, help_text)])
    _style_list(columns)

    categories = book.create_sheet(_sheet_name(SHEET_TITLES[2]))
    categories.append([_(text) for text in CATEGORIES_HEADER])
    for code, label in CATEGORIES.items():
        words = [word for spellings in CATEGORY_WORDS[code].values() for word in spellings]
        categories.append([_(label), ", ".join(dict.fromkeys(words))])
    _style_list(categories)

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def column_help(header: str, help_text: str) -> str:
    """Return what to write in a column, in the interface language (choices by their names)."""
    choices = {"Category": CATEGORIES, "Format": FORMATS}.get(header)
    if choices is None:
        return _(help_text)
    return _(help_text, choices=", ".join(_(label) for label in choices.values()))


def _sheet_name(title: str) -> str:
    """Return a sheet's name in the interface language, as a sheet's name may be."""
    name = SHEET_NAME_FORBIDDEN.sub("", _(title)).strip()[:SHEET_NAME_LENGTH]
    return name or title


def _style_list(sheet: Worksheet) -> None:
    """Give a two-column sheet a bold header, widths and wrapped text."""
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.column_dimensions["A"].width = COLUMN_WIDTH
    sheet.column_dimensions["B"].width = HELP_WIDTH
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
