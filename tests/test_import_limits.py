"""Import limits: the upload's own size limit, workbooks checked before parsing, UTF-16 CSVs."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mapapp.cli import cli
from mapapp.imports import (
    MAX_SHARED_STRINGS_BYTES,
    FileTooLargeError,
    UnreadableFileError,
    import_events,
)
from mapapp.storage import EventStore
from tests.serve_clients import (
    HTTP_TIMEOUT,
    PASSWORD,
    find_form,
    read_store,
    seed,
)
from tests.servers import serving
from tests.test_imports import confirm_preview

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
CONTENT_TYPES = "[Content_Types].xml"
STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# An online event names its organisation's country; France's single zone is its time zone.
HEADER = ["Title", "Category", "Format", "Start", "Country", "Organiser", "E-mail"]
MB = 2**20
CHUNK = b"a" * MB
EDITED_EVENTS = 5


def online_rows(count: int, prefix: str = "Webinar") -> list[list[str]]:
    """Return rows of distinct valid online events."""
    return [
        [
            f"{prefix} {n}",
            "talk",
            "online",
            "2027-02-28T12:00",
            "FR",
            "EURORDIS",
            "partner@example.org",
        ]  # fmt: skip
        for n in range(count)
    ]


def workbook(rows: list[list[str]]) -> bytes:
    """Return the bytes of a small workbook as openpyxl saves it (inline strings)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewritten(content: bytes, parts: dict[str, Callable[[zipfile.ZipFile], None] | bytes]) -> bytes:
    """Return a workbook with some parts replaced (bytes) or written by a function (streamed)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for name in source.namelist():
            if name not in parts:
                target.writestr(name, source.read(name))
        for name, part in parts.items():
            if isinstance(part, bytes):
                target.writestr(name, part)
            else:
                part(target)
    return buffer.getvalue()


def streamed(
    name: str, head: bytes, megabytes: int, tail: bytes
) -> Callable[[zipfile.ZipFile], None]:
    """Return a writer of a part of head, megabytes of "a" and tail, compressed as it goes."""

    def write(archive: zipfile.ZipFile) -> None:
        with archive.open(name, "w", force_zip64=True) as part:
            part.write(head)
            for _ in range(megabytes):
                part.write(CHUNK)
            part.write(tail)

    return write


def with_dimension(ref: str) -> bytes:
    """Return a small workbook whose sheet declares the given dimension."""
    content = workbook(online_rows(2))
    sheet = zipfile.ZipFile(io.BytesIO(content)).read(SHEET)
    sheet, count = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), sheet)
    assert count == 1
    return rewritten(content, {SHEET: sheet})


def with_shared_string(megabytes: int, title: str = "") -> bytes:
    """Return a workbook whose title cell is a shared string: title and megabytes of "a"."""
    content = workbook([])
    archive = zipfile.ZipFile(io.BytesIO(content))
    types = archive.read(CONTENT_TYPES).replace(
        b"</Types>",
        f'<Override PartName="/{STRINGS}" ContentType="{STRINGS_TYPE}"/></Types>'.encode(),
    )
    cells = "".join(
        f'<c r="{column}2" t="inlineStr"><is><t>{value}</t></is></c>'
        for column, value in zip("BCDEFG", online_rows(1)[0][1:], strict=True)
    )
    row = f'<row r="2"><c r="A2" t="s"><v>0</v></c>{cells}</row></sheetData>'
    sheet = archive.read(SHEET).replace(b"</sheetData>", row.encode())
    head = f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>{title}'.encode()
    writer = streamed(STRINGS, head, megabytes, b"</t></si></sst>")
    return rewritten(content, {CONTENT_TYPES: types, SHEET: sheet, STRINGS: writer})


def csv_text(rows: list[list[str]], separator: str = ",") -> str:
    """Return the rows under the header as CSV text."""
    return "".join(separator.join(row) + "\r\n" for row in [HEADER, *rows])


# Workbooks checked before they are parsed


@pytest.mark.parametrize(
    ("ref", "declared"),
    [
        ("A1:XFD1048576", "1,048,576 rows and 16,384 columns (A1:XFD1048576)"),
        ("A1:ZZ10", "10 rows and 702 columns (A1:ZZ10)"),
        ("A1:KN101002", "101,002 rows and 300 columns (A1:KN101002)"),
        ("A1:AZ100001", "100,001 rows and 52 columns (A1:AZ100001)"),  # 5.2 million cells
    ],
)
def test_a_sheet_declaring_more_than_an_import_reads_is_refused_unread(
    app: Flask, store: EventStore, ref: str, declared: str
) -> None:
    content = with_dimension(ref)
    assert len(content) < 6000  # the 4.9 KB workbook that pinned a worker
    with app.app_context(), pytest.raises(FileTooLargeError) as refused:
        import_events(content, "partners.xlsx", store)
    assert f"The sheet declares {declared}; the import reads at most 101,000 rows, 300 " in str(
        refused.value
    )
    assert len(store) == 0


def test_a_sheet_is_read_past_a_dimension_that_declares_too_little(
    app: Flask, store: EventStore
) -> None:
    content = with_dimension("A1:A1")  # some programs write this whatever the sheet holds
    with app.app_context():
        report = import_events(content, "partners.xlsx", store)
    assert [event["title"] for event in report.added] == ["Webinar 0", "Webinar 1"]


def with_far_row(row: int, *, dimension: bool) -> bytes:
    """Return a small workbook with one more cell, at column XFD of a far row."""
    content = with_dimension("A1:XFD1048576")
    sheet = zipfile.ZipFile(io.BytesIO(content)).read(SHEET)
    far = f'<row r="{row}"><c r="XFD{row}" t="inlineStr"><is><t>x</t></is></c></row>'
    sheet = sheet.replace(b"</sheetData>", far.encode() + b"</sheetData>")
    if not dimension:
        sheet = re.sub(rb'<dimension ref="[^"]*" ?/>', b"", sheet)
    return rewritten(content, {SHEET: sheet})


def test_a_stray_cell_far_down_an_undeclared_sheet_is_read_cheaply(
    app: Flask, store: EventStore
) -> None:
    # Declared A1:XFD1048576, this file kept the old code busy for more than 15 minutes.
    with app.app_context(), pytest.raises(FileTooLargeError, match="declares 1,048,576 rows"):
        import_events(with_far_row(1_048_576, dimension=True), "partners.xlsx", store)
    with app.app_context():
        report = import_events(with_far_row(1_048_576, dimension=False), "partners.xlsx", store)
    assert [event["title"] for event in report.added] == ["Webinar 0", "Webinar 1"]
    assert report.rejected == []  # its one cell lies past the 300 columns read: a blank row


def test_a_row_past_excels_last_is_named_as_damage(app: Flask, store: EventStore) -> None:
    content = with_far_row(1_048_577, dimension=False)
    with app.app_context(), pytest.raises(UnreadableFileError) as refused:
        import_events(content, "partners.xlsx", store)
    assert str(refused.value).startswith(
        f"This file is not a readable Excel workbook: {SHEET} has rows past Excel's last row, "
        "1,048,576."
    )
    assert len(store) == 0


def test_a_huge_shared_string_is_refused_before_it_is_unpacked(
    app: Flask, store: EventStore
) -> None:
    megabytes = MAX_SHARED_STRINGS_BYTES // MB + 1
    content = with_shared_string(megabytes)
    assert len(content) < MB  # a zip bomb: one megabyte of file, 65 of text
    with app.app_context(), pytest.raises(FileTooLargeError) as refused:
        import_events(content, "partners.xlsx", store)
    assert str(refused.value) == (
        f"This workbook is too large to import: Its shared text ({STRINGS}) unpacks to "
        f"{megabytes} MB, more than the 64 MB the import reads. Export the sheet as CSV UTF-8, "
        "or split it into smaller files."
    )
    assert len(store) == 0


def test_a_small_shared_string_is_read(app: Flask, store: EventStore) -> None:
    content = with_shared_string(0, title="Shared webinar")
    with app.app_context():
        report = import_events(content, "partners.xlsx", store)
    assert report.rejected == []
    assert [event["title"] for event in report.added] == ["Shared webinar"]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            {SHEET: streamed(SHEET, b"<worksheet>", 257, b"</worksheet>")},
            f"{SHEET} unpacks to 257 MB, more than the 256 MB the import reads",
        ),
        (
            {
                "xl/media/a.bin": streamed("xl/media/a.bin", b"", 170, b""),
                "xl/media/b.bin": streamed("xl/media/b.bin", b"", 170, b""),
            },
            "The workbook unpacks to 340 MB, more than the 320 MB the import reads",
        ),
    ],
    ids=["one-part", "all-parts"],
)
def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    app: Flask,
    store: EventStore,
    parts: dict[str, Callable[[zipfile.ZipFile], None] | bytes],
    message: str,
) -> None:
    content = rewritten(workbook(online_rows(1)), parts)
    assert len(content) < 2 * MB
    with app.app_context(), pytest.raises(FileTooLargeError, match=re.escape(message)):
        import_events(content, "partners.xlsx", store)
    assert len(store) == 0


def test_a_workbook_of_too_many_parts_is_refused(app: Flask, store: EventStore) -> None:
    parts: dict[str, Callable[[zipfile.ZipFile], None] | bytes] = {
        f"xl/media/{n}.bin": b"" for n in range(1_000)
    }
    content = rewritten(workbook(online_rows(1)), parts)
    with app.app_context(), pytest.raises(FileTooLargeError, match="holds 1,009 parts"):
        import_events(content, "partners.xlsx", store)


BROKEN_SHEET = f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c r="A1" t="inlineStr">'
DAMAGED: list[tuple[dict[str, Callable[[zipfile.ZipFile], None] | bytes], str]] = [
    (
        {SHEET: BROKEN_SHEET.encode()},
        f"This file is not a readable Excel workbook: {SHEET} is damaged XML (no element found: "
        "line 1, column 123)",
    ),
    (  # read as the rows are, after the dimension
        {
            SHEET: BROKEN_SHEET.replace(
                "<sheetData>", "<dimension ref='A1:C3'/><sheetData>"
            ).encode()
        },
        f"This file is not a readable Excel workbook: {SHEET} is damaged XML (no element found: ",
    ),
    (
        {"xl/workbook.xml": b"<workbook><sheets><sheet"},
        "This file is not a readable Excel workbook: xl/workbook.xml is damaged XML (unclosed",
    ),
    (
        {"xl/styles.xml": b"\x00\x01 not XML"},
        "This file is not a readable Excel workbook: xl/styles.xml is damaged XML (not well-formed",
    ),
    (
        {"xl/workbook.xml": b'<workbook xmlns="' + MAIN_NS.encode() + b'"/>'},
        "This file is not a readable Excel workbook: it has no sheet.",
    ),
]


@pytest.mark.parametrize(
    ("parts", "message"), DAMAGED, ids=["sheet", "sized", "book", "styles", "no-sheet"]
)
def test_a_damaged_workbook_is_named_plainly(
    app: Flask,
    store: EventStore,
    parts: dict[str, Callable[[zipfile.ZipFile], None] | bytes],
    message: str,
) -> None:
    content = rewritten(workbook(online_rows(2)), parts)
    with app.app_context(), pytest.raises(UnreadableFileError) as refused:
        import_events(content, "partners.xlsx", store)
    assert str(refused.value).startswith(message), refused.value
    assert str(refused.value).endswith(
        "Save it again from your spreadsheet program (as .xlsx), or export it as CSV UTF-8."
    )
    assert len(store) == 0


def test_a_workbook_with_a_bad_checksum_is_named_plainly(app: Flask, store: EventStore) -> None:
    content = bytearray(rewritten(workbook(online_rows(2)), {}))
    # Flip a byte inside the sheet's compressed data: its CRC-32 no longer matches.
    info = zipfile.ZipFile(io.BytesIO(bytes(content))).getinfo(SHEET)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    content[start + info.compress_size // 2] ^= 0xFF
    with app.app_context(), pytest.raises(UnreadableFileError) as refused:
        import_events(bytes(content), "partners.xlsx", store)
    assert str(refused.value).startswith("This file is not a readable Excel workbook: ")
    assert len(store) == 0


# CSV in UTF-16


@pytest.mark.parametrize(
    ("encoding", "separator"),
    [("utf-16", "\t"), ("utf-16", ","), ("utf-16-le", "\t"), ("utf-16-be", ";")],
    ids=["bom-tab", "bom-comma", "le-no-bom", "be-no-bom"],
)
def test_a_utf16_csv_is_read(app: Flask, store: EventStore, encoding: str, separator: str) -> None:
    rows = online_rows(2, prefix="Fête à Orléans")  # what cp1252 would turn into mojibake
    content = csv_text(rows, separator).encode(encoding)
    with app.app_context():
        report = import_events(content, "unicode.csv", store)
    assert report.rejected == []
    assert [event["title"] for event in report.added] == ["Fête à Orléans 0", "Fête à Orléans 1"]


def test_a_broken_utf16_csv_says_to_save_it_as_utf8(app: Flask, store: EventStore) -> None:
    content = csv_text(online_rows(1)).encode("utf-16") + b"\x00\xd8"  # a lone surrogate
    with app.app_context(), pytest.raises(UnreadableFileError) as refused:
        import_events(content, "unicode.csv", store)
    assert "This file looks like UTF-16 text but cannot be read as such" in str(refused.value)
    assert str(refused.value).endswith("save it as CSV UTF-8 and try again.")
    assert len(store) == 0


# The upload's own size limit


def _csrf(client: FlaskClient) -> str:
    """Return the CSRF token of the upload form."""
    page = client.get("/admin/import").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _upload(client: FlaskClient, content: bytes, filename: str) -> tuple[int, str]:
    """Post a file to the import form and return the status and the page."""
    form = {
        "csrf_token": _csrf(client),
        "status": "pending",
        "file": (io.BytesIO(content), filename),
    }
    response = client.post("/admin/import", data=form)
    response.request.input_stream.close()  # the test client spools a large body to a file
    page = response.get_data(as_text=True)
    if response.status_code == 200:  # the preview: confirm it
        response = confirm_preview(client, page)
        page = response.get_data(as_text=True)
    return response.status_code, page


def test_an_upload_of_2000_rows_over_64_kb_is_imported(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    content = csv_text(online_rows(2000)).encode()
    assert len(content) > 2 * 64 * 1024  # the app-wide body limit
    status, page = _upload(coordinator_client, content, "partners.csv")
    assert status == 200, page
    assert "Read 2000 rows: added 2000, skipped 0 already on the map, rejected 0" in page
    assert len(store) == 2000


def test_an_upload_over_20_mb_gets_the_import_page_with_the_limit(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    content = csv_text(online_rows(1)).encode() + b"," * (20 * MB)
    status, page = _upload(coordinator_client, content, "partners.csv")
    assert status == 413
    assert "Nothing was imported." in page
    assert "The file is larger than 20 MB, the most the import takes." in page
    assert '<form method="post" enctype="multipart/form-data"' in page  # to try again
    assert len(store) == 0


def test_an_upload_just_under_20_mb_is_read(
    coordinator_client: FlaskClient, store: EventStore
) -> None:
    head = csv_text(online_rows(1)).encode()
    content = head + b"\r\n" * ((20 * MB - len(head)) // 2)  # blank lines, skipped
    status, page = _upload(coordinator_client, content, "partners.csv")
    assert status == 200, page[:500]
    assert "Read 1 row: added 1" in page


@pytest.mark.parametrize(
    ("content", "filename", "status", "message"),
    [
        (lambda: with_dimension("A1:XFD1048576"), "big.xlsx", 413, "The sheet declares 1,048,"),
        (
            lambda: rewritten(workbook([]), {SHEET: BROKEN_SHEET.encode()}),
            "broken.xlsx",
            422,
            "This file is not a readable Excel workbook: xl/worksheets/sheet1.xml is damaged XML",
        ),
        (lambda: b"not a zip", "fake.xlsx", 422, "This file is not a readable Excel workbook: it"),
    ],
    ids=["dimension", "xml", "zip"],
)
def test_the_upload_form_names_what_is_wrong_with_a_workbook(
    coordinator_client: FlaskClient,
    store: EventStore,
    content: Callable[[], bytes],
    filename: str,
    status: int,
    message: str,
) -> None:
    answer, page = _upload(coordinator_client, content(), filename)
    assert answer == status
    assert "Nothing was imported." in page
    assert message in page
    assert "Traceback" not in page
    assert len(store) == 0


def test_other_routes_keep_the_64_kb_body_limit(client: FlaskClient) -> None:
    response = client.post("/submit", data={"description": "x" * (64 * 1024)})
    assert response.status_code == 413


# The same limits in the CLI


def test_cli_import_refuses_a_file_over_20_mb_before_reading_it(
    runner: FlaskCliRunner, store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as file:
        file.write(csv_text(online_rows(1)).encode())
        file.truncate(21 * MB)  # NULs to 21 MB, sparse on disk
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 1
    assert (
        "The file is larger than 20 MB, the most the import takes. Split it into smaller files."
        in result.output
    )
    assert len(store) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            lambda: with_dimension("A1:XFD1048576"),
            "The sheet declares 1,048,576 rows and 16,384 columns",
        ),
        (lambda: with_shared_string(65), "Its shared text (xl/sharedStrings.xml) unpacks to 65 MB"),
        (
            lambda: rewritten(workbook([]), {SHEET: BROKEN_SHEET.encode()}),
            "This file is not a readable Excel workbook: xl/worksheets/sheet1.xml is damaged",
        ),
    ],
    ids=["dimension", "shared-string", "xml"],
)
def test_cli_import_applies_the_workbook_checks(
    runner: FlaskCliRunner,
    store: EventStore,
    tmp_path: Path,
    content: Callable[[], bytes],
    message: str,
) -> None:
    path = tmp_path / "partners.xlsx"
    path.write_bytes(content())
    result = runner.invoke(cli, ["import", str(path)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(store) == 0


# Through `mapapp serve --workers 3`


def signed_in(base_url: str, name: str) -> requests.Session:
    """Return a session signed in as a coordinator through the real form."""
    http = requests.Session()
    form = find_form(http.get(base_url + "/admin/sign-in", timeout=HTTP_TIMEOUT).text)
    assert form is not None
    data = {**form.values(), "name": name, "password": PASSWORD}
    response = http.post(
        base_url + "/admin/sign-in", data=data, timeout=HTTP_TIMEOUT, allow_redirects=False
    )
    assert response.status_code == 302, response.text
    return http


def upload_through(http: requests.Session, base_url: str, content: bytes) -> requests.Response:
    """Post a CSV to the import form with its CSRF token, and confirm its preview."""
    form = find_form(http.get(base_url + "/admin/import", timeout=HTTP_TIMEOUT).text)
    assert form is not None
    files = {"file": ("partners.csv", content, "text/csv")}
    data = {**form.values(), "status": "pending"}
    preview = http.post(base_url + "/admin/import", data=data, files=files, timeout=HTTP_TIMEOUT)
    confirm = find_form(preview.text, "/admin/import/confirm")
    if preview.status_code != 200 or confirm is None:
        return preview
    return http.post(
        base_url + "/admin/import/confirm", data=confirm.values(), timeout=HTTP_TIMEOUT
    )


def test_an_import_through_the_server_keeps_every_concurrent_edit(
    tmp_path: Path, server_port: int
) -> None:
    data_dir = tmp_path / "data"
    ids = seed(data_dir, ["pending"] * EDITED_EVENTS, ["alice", "bob"])
    content = csv_text(online_rows(2000, prefix="Served webinar")).encode()
    acknowledged: dict[str, str] = {}  # event id -> the last title the server said it saved
    failures: list[str] = []
    importing = threading.Event()
    importing.set()

    with serving(data_dir, data_dir / "serve.log", server_port, 3) as (base_url, _server):
        alice, bob = signed_in(base_url, "alice"), signed_in(base_url, "bob")

        def edit_while_importing() -> None:
            number = 0
            while importing.is_set() or number < len(ids):
                event_id = ids[number % len(ids)]
                path = f"{base_url}/admin/events/{event_id}/edit"
                form = find_form(bob.get(path, timeout=HTTP_TIMEOUT).text)
                assert form is not None
                title = f"Edited {number}"
                response = bob.post(
                    path,
                    data={**form.values(), "title": title},
                    timeout=HTTP_TIMEOUT,
                    allow_redirects=False,
                )
                if response.status_code == 303:
                    acknowledged[event_id] = title
                else:
                    failures.append(f"edit {event_id}: {response.status_code}")
                number += 1

        editor = threading.Thread(target=edit_while_importing)
        editor.start()
        try:
            first = upload_through(alice, base_url, content)
            again = upload_through(alice, base_url, content)
            too_large = upload_through(alice, base_url, content + b"," * (20 * MB))
        finally:
            importing.clear()
            editor.join()
        alice.close()
        bob.close()

    assert failures == []
    assert first.status_code == 200, first.text[-2000:]
    assert "Read 2000 rows: added 2000, skipped 0 already on the map, rejected 0" in first.text
    assert "Read 2000 rows: added 0, skipped 2000 already on the map" in again.text
    assert too_large.status_code == 413
    assert "The file is larger than 20 MB, the most the import takes." in too_large.text
    events, entries = read_store(data_dir)
    assert {event_id: events[event_id]["title"] for event_id in ids} == acknowledged
    imported = [event for event in events.values() if event["title"].startswith("Served webinar")]
    assert len(imported) == 2000
    actions = [entry["action"] for entry in entries]
    assert actions.count("import") == 2000
    assert actions.count("edit") >= len(ids)
