"""The upload's two steps (preview, then confirm) and the downloadable template."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mapapp import import_preview
from mapapp.events import current_edition, edition_date
from mapapp.import_template import COLUMNS, example_row
from mapapp.storage import EventStore
from mapapp.storage.staging import staging_of
from tests.test_imports import ROWS, _csrf, confirm_preview, csv_bytes

EXPIRED = "This preview is more than an hour old, so its file was removed. Upload the file again."
NOT_FOUND = (
    "We cannot find this preview: it was imported already, or the link was changed. Upload the "
    "file again."
)


def upload(client: FlaskClient, content: bytes, filename: str, **fields: str) -> str:
    """Post a file to the import form; return the preview page (asserting its 200)."""
    form = {"csrf_token": _csrf(client), "status": "pending", **fields}
    response = client.post("/admin/import", data={**form, "file": (io.BytesIO(content), filename)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    return page


def token_of(page: str) -> str:
    """Return the token of the preview a page shows."""
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, page[:2000]
    return match.group(1)


def test_the_preview_shows_the_columns_and_first_rows_and_writes_nothing(
    coordinator_client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    store.frame()  # creates the empty file
    before = (data_dir / "events.csv").read_bytes()
    page = upload(coordinator_client, csv_bytes(ROWS), "partners.csv")
    assert (data_dir / "events.csv").read_bytes() == before
    assert len(store) == 0
    assert "Preview of partners.csv: nothing was added yet" in page
    assert "<tr><td>Event name</td><td>Title</td></tr>" in page
    assert "<tr><td>Town</td><td>City</td></tr>" in page
    assert "<tr><td>Start date</td><td>Start (date)</td></tr>" in page
    assert "Columns not imported: Internal notes." in page
    # The first five rows, as read: the category and country in words, the start joined.
    assert (
        "<tr><td>2</td><td>Light up Lyon</td><td>Light up for Rare</td><td>In person</td>"
        "<td>2027-02-28 18:00</td><td>2027-02-28 22:00</td><td>Hôtel de Ville</td><td>Lyon</td>"
        "<td>France</td>" in page
    )
    assert "<td>6</td>" in page and "<td>7</td>" not in page
    assert "Import these 11 rows</button>" in page


def test_a_one_row_preview_says_row_not_rows(coordinator_client: FlaskClient) -> None:
    page = upload(coordinator_client, csv_bytes(ROWS[:1]), "one.csv")
    assert "The file has 1 row of events." in page
    assert "The first row, as it will be read</h3>" in page
    assert "Import this row</button>" in page
    assert "1 rows" not in page


def test_confirming_imports_the_previewed_file_once(
    coordinator_client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    page = upload(coordinator_client, csv_bytes(ROWS), "partners.csv", status="approved")
    token = token_of(page)
    assert sorted(path.name for path in (data_dir / "imports").iterdir()) == [
        f"{token}.json",
        f"{token}.upload",
    ]
    assert ((data_dir / "imports" / f"{token}.upload").stat().st_mode & 0o777) == 0o600
    response = confirm_preview(coordinator_client, page)
    assert response.status_code == 200
    assert "Read 11 rows: added 4, skipped 1 already on the map, rejected 6" in response.get_data(
        as_text=True
    )
    assert sorted(store.frame()["status"]) == ["approved"] * 4  # the status chosen at upload
    assert list((data_dir / "imports").iterdir()) == []  # the file is gone once imported
    again = confirm_preview(coordinator_client, page)
    assert again.status_code == 400
    assert NOT_FOUND in again.get_data(as_text=True)
    assert len(store) == 4


@pytest.mark.parametrize(
    "token",
    ["../../events", "x" * 43 + "/", "A" * 43, ""],
    ids=["path", "slash", "unknown", "empty"],
)
def test_a_tampered_token_is_refused(
    coordinator_client: FlaskClient, store: EventStore, token: str
) -> None:
    upload(coordinator_client, csv_bytes(ROWS), "partners.csv")
    response = coordinator_client.post(
        "/admin/import/confirm", data={"csrf_token": _csrf(coordinator_client), "token": token}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported." in page
    assert NOT_FOUND in page
    assert len(store) == 0


def test_an_expired_preview_is_refused_and_removed(
    coordinator_client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    page = upload(coordinator_client, csv_bytes(ROWS), "partners.csv")
    note = data_dir / "imports" / f"{token_of(page)}.json"
    stamp = json.loads(note.read_text())
    stamp["created"] -= import_preview.MAX_AGE_SECONDS + 1
    note.write_text(json.dumps(stamp))
    response = confirm_preview(coordinator_client, page)
    assert response.status_code == 400
    assert EXPIRED in response.get_data(as_text=True)
    assert list((data_dir / "imports").iterdir()) == []
    assert len(store) == 0


def test_a_changed_file_is_refused(
    coordinator_client: FlaskClient, store: EventStore, data_dir: Path
) -> None:
    page = upload(coordinator_client, csv_bytes(ROWS), "partners.csv")
    (data_dir / "imports" / f"{token_of(page)}.upload").write_bytes(csv_bytes(ROWS[:1]))
    response = confirm_preview(coordinator_client, page)
    assert response.status_code == 400
    assert import_preview.CHANGED_MESSAGE in response.get_data(as_text=True)
    assert len(store) == 0


def test_another_account_cannot_confirm_a_preview(
    coordinator_client: FlaskClient, client_as: Callable[..., FlaskClient], store: EventStore
) -> None:
    page = upload(coordinator_client, csv_bytes(ROWS), "partners.csv")
    other = client_as("admin")
    response = other.post(
        "/admin/import/confirm", data={"csrf_token": _csrf(other), "token": token_of(page)}
    )
    assert response.status_code == 400
    assert import_preview.OTHER_ACCOUNT_MESSAGE in response.get_data(as_text=True)
    assert len(store) == 0
    assert confirm_preview(coordinator_client, page).status_code == 200  # still the owner's
    assert len(store) == 4


def test_old_previews_are_swept_at_the_next_upload(app: Flask, data_dir: Path) -> None:
    staging = staging_of(app)
    old = import_preview.stage(staging, b"a", "a.csv", who="c", status="pending", now=1000.0)
    new = import_preview.stage(staging, b"b", "b.csv", who="c", status="pending", now=5000.0)
    names = sorted(path.name for path in (data_dir / "imports").iterdir())
    assert names == sorted([f"{new}.json", f"{new}.upload"])
    assert old != new


def test_a_viewer_cannot_preview_confirm_or_download_the_template(
    client_as: Callable[..., FlaskClient],
) -> None:
    viewer = client_as("viewer")
    for url in ("/admin/import", "/admin/import/template.csv", "/admin/import/template.xlsx"):
        assert viewer.get(url).status_code == 403, url
    assert viewer.post("/admin/import/confirm", data={"token": "x"}).status_code == 403


# The template


def test_the_import_page_links_both_templates(coordinator_client: FlaskClient) -> None:
    page = coordinator_client.get("/admin/import").get_data(as_text=True)
    assert 'href="/admin/import/template.xlsx" download' in page
    assert 'href="/admin/import/template.csv" download' in page


def test_the_csv_template_has_the_columns_and_an_example(coordinator_client: FlaskClient) -> None:
    response = coordinator_client.get("/admin/import/template.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="mapapp-import-template.csv"'
    )
    text = response.get_data().decode("utf-8-sig")
    header, example = text.splitlines()
    assert header.split(",") == [name for name, _ in COLUMNS]
    assert example.startswith(
        f"Light up the town hall,Light up for Rare,In person,{edition_date(current_edition())},"
    )


def test_the_xlsx_template_explains_every_column_and_category(
    coordinator_client: FlaskClient,
) -> None:
    response = coordinator_client.get("/admin/import/template.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="mapapp-import-template.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["Events", "Columns", "Categories"]
    events, columns, categories = book.worksheets
    assert [cell.value for cell in events[1]] == [name for name, _ in COLUMNS]
    assert events["A2"].value == example_row()[0]
    assert events["D2"].is_date
    explained = {row[0]: row[1] for row in columns.iter_rows(min_row=2, values_only=True)}
    assert explained["Title"] == "The event's name, as visitors will see it. Required."
    assert "Light up for Rare, Awareness stand or stall" in explained["Category"]
    listed = {row[0]: row[1] for row in categories.iter_rows(min_row=2, values_only=True)}
    assert "walk" in listed["Sport or walk"] and "Spaziergang".lower() in listed["Sport or walk"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_template_as_it_is_imports_its_example_row(
    coordinator_client: FlaskClient, store: EventStore, kind: str
) -> None:
    content = coordinator_client.get(f"/admin/import/template.{kind}").get_data()
    page = upload(coordinator_client, content, f"template.{kind}")
    assert "Every column of the file is read." in page
    response = confirm_preview(coordinator_client, page)
    assert response.status_code == 200
    assert (
        "Read 1 row: added 1, skipped 0 already on the map, rejected 0, 0 warnings."
        in response.get_data(as_text=True)
    )
    (event,) = store.frame().to_dict("records")
    assert (event["title"], event["category"], event["city"], event["country"]) == (
        "Light up the town hall",
        "illumination",
        "Lyon",
        "FR",
    )
    assert event["starts_at"] == f"{edition_date(current_edition())}T18:00"
    assert event["latitude"] != ""  # placed in Lyon
