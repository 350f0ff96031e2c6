"""`mapapp db init | import-csv | export-csv`: a CSV data directory into PostgreSQL and back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from mapapp import PROJECT_ROOT, coordinators, create_app
from mapapp.cli import cli
from mapapp.storage import Audit, get_store_of, utc_now
from mapapp.storage.database import close_pools
from mapapp.storage.records import UTF8_BOM, encode_row, encode_rows
from tests.conftest import SAMPLE_EVENTS, add_valid_event, free_port

MAPAPP = Path(sys.executable).with_name("mapapp")
ODD = 'odd, "quoted"\r\nlines =1+1 \ufeff 🎗️ NA null  '
# The tables whose columns take any text (the others have rules: filled by the app's own code).
FREE_TABLES = (
    "geocode_cache.csv",
    "sessions.csv",
    "account_tokens.csv",
    "accounts_log.csv",
    "used_drafts.csv",
    "outbox.csv",
)


def csv_app(tmp_path: Path) -> Flask:
    """Return an app on a CSV data directory of every table, with odd texts and extra columns."""
    data_dir = tmp_path / "csv-data"
    data_dir.mkdir()
    shutil.copy(SAMPLE_EVENTS, data_dir / "events.csv")
    # A file with two columns this app does not know, at the end of its header (kept as they are).
    header = encode_row(["id", "coordinator", "credential", "created_at", "legacy", "note"])
    rows = encode_rows([["s-old", "alice", "c", "2026-01-01T00:00:00Z", "x, y", ODD]])
    (data_dir / "sessions.csv").write_bytes(UTF8_BOM + header + b"".join(rows))
    app = create_app({"ENV": "testing", "TESTING": True, "DATA_DIR": str(data_dir)})
    with app.app_context():
        store = get_store_of(app)
        first = add_valid_event(store, title=ODD.strip(), description=ODD.strip())
        second = add_valid_event(store, title="To be erased", contact_email="gone@example.org")
        store.update(
            first["id"], {"status": "pending"}, expected=first["version"], audit=Audit("t", "edit")
        )
        store.erase(second["id"], who="admin")
        coordinators.add_coordinator("alice", "a long enough password 1", email="a@example.org")
        tables = {table.spec.file_name: table for table in store.tables()}
        for name in FREE_TABLES:
            table = tables[name]
            table.append(
                [
                    {column: f"{column}-{number} {ODD}" for column in table.schema}
                    for number in range(3)
                ]
            )
        tables["api_keys.csv"].append(
            [
                {
                    "id": "key-1",
                    "partner": ODD,
                    "secret_hash": "h",
                    "countries": "FR,DE",
                    "trusted": "false",
                    "created_at": utc_now(),
                    "created_by": "alice",
                    "revoked_at": "",
                }
            ]
        )
        tables["sessions.csv"].delete([f"id-0 {ODD}"])  # a rewrite with the extras
    return app


@pytest.fixture
def pg_app(postgres_url: str, tmp_path: Path) -> Iterator[Flask]:
    """Return an app whose tables are in the test's PostgreSQL schema."""
    data_dir = tmp_path / "pg-data"
    data_dir.mkdir()
    yield create_app(
        {"ENV": "testing", "TESTING": True, "DATA_DIR": str(data_dir), "DATABASE_URL": postgres_url}
    )
    close_pools()


def tables_in(url: str) -> set[str]:
    """Return the names of the tables in the URL's schema."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {str(name) for (name,) in rows}


def test_db_init_creates_every_table(pg_app: Flask, postgres_url: str) -> None:
    result = pg_app.test_cli_runner().invoke(cli, ["db", "init"])
    assert result.exit_code == 0, result.output
    assert "has every table: events.csv, audit.csv, geocode_cache.csv" in result.output
    assert {"mapapp_schema", "mapapp_tombstones", "mapapp_events", "mapapp_audit"} <= tables_in(
        postgres_url
    )
    assert {"mapapp_sessions", "mapapp_outbox", "mapapp_api_keys"} <= tables_in(postgres_url)
    again = pg_app.test_cli_runner().invoke(cli, ["db", "init"])
    assert again.exit_code == 0, again.output


def test_import_then_export_gives_every_file_back_byte_for_byte(
    pg_app: Flask, tmp_path: Path
) -> None:
    source = csv_app(tmp_path)
    data_dir = Path(source.config["DATA_DIR"])
    files = sorted(path.name for path in data_dir.glob("*.csv"))
    assert len(files) == 10  # every table of the app has rows
    runner = pg_app.test_cli_runner()
    imported = runner.invoke(cli, ["db", "import-csv", str(data_dir)])
    assert imported.exit_code == 0, imported.output
    assert "events.csv (" in imported.output and "sessions.csv (3 rows)" in imported.output
    out = tmp_path / "exported"
    exported = runner.invoke(cli, ["db", "export-csv", str(out)])
    assert exported.exit_code == 0, exported.output
    for name in files:
        assert (out / name).read_bytes() == (data_dir / name).read_bytes(), name
    with source.app_context(), pg_app.app_context():
        csv_store, pg_store = get_store_of(source), get_store_of(pg_app)
        assert pg_store.frame().equals(csv_store.frame())
        assert pg_store.audit.frame().equals(csv_store.audit.frame())
        assert int(pg_store.version.split("-")[0]) >= int(csv_store.version.split("-")[0])


def test_the_database_goes_on_from_the_imported_versions(pg_app: Flask, tmp_path: Path) -> None:
    source = csv_app(tmp_path)
    result = pg_app.test_cli_runner().invoke(cli, ["db", "import-csv", source.config["DATA_DIR"]])
    assert result.exit_code == 0, result.output
    with pg_app.app_context():
        store = get_store_of(pg_app)
        top = max(int(version) for version in store.audit.frame()["version"])
        event = store.frame().iloc[0].to_dict()
        changed = store.update(
            event["id"], {"title": "Later"}, expected=event["version"], audit=Audit("t", "edit")
        )
        assert int(changed["version"]) > top
        assert store.changed_since(f"{top}-x") == [event["id"]]


def test_import_refuses_a_database_holding_rows_unless_replace(
    pg_app: Flask, tmp_path: Path
) -> None:
    source = csv_app(tmp_path)
    runner = pg_app.test_cli_runner()
    with pg_app.app_context():
        get_store_of(pg_app).add({"title": "Already here", "status": "pending"})
    refused = runner.invoke(cli, ["db", "import-csv", source.config["DATA_DIR"]])
    assert refused.exit_code == 1
    assert "The database holds rows already (events.csv" in refused.output
    assert "Pass --replace" in refused.output
    with pg_app.app_context():
        assert get_store_of(pg_app).frame()["title"].tolist() == ["Already here"]
    replaced = runner.invoke(cli, ["db", "import-csv", "--replace", source.config["DATA_DIR"]])
    assert replaced.exit_code == 0, replaced.output
    with pg_app.app_context():
        assert "Already here" not in get_store_of(pg_app).frame()["title"].tolist()


def test_import_refuses_a_damaged_file_and_loads_nothing(pg_app: Flask, tmp_path: Path) -> None:
    source = tmp_path / "damaged"
    source.mkdir()
    shutil.copy(SAMPLE_EVENTS, source / "events.csv")
    (source / "outbox.csv").write_bytes(UTF8_BOM + b"id,nonsense\r\n1,2\r\n")
    result = pg_app.test_cli_runner().invoke(cli, ["db", "import-csv", str(source)])
    assert result.exit_code == 1
    assert "outbox.csv needs attention; nothing was imported" in result.output
    with pg_app.app_context():
        assert len(get_store_of(pg_app)) == 0


def test_db_commands_without_a_database_url_say_so(app: Flask) -> None:
    result = app.test_cli_runner().invoke(cli, ["db", "init"])
    assert result.exit_code == 1
    assert "MAPAPP_DATABASE_URL is not set" in result.output


def run_mapapp(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real mapapp command with a database URL."""
    environment = {
        **os.environ,
        "MAPAPP_DATA_DIR": str(tmp_path),
        "MAPAPP_DATABASE_URL": url,
        "PYTHONPATH": str(PROJECT_ROOT),  # this checkout's code, as the test process runs
    }
    return subprocess.run(
        [MAPAPP, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://mapapp:secret@localhost/mapapp", "MAPAPP_DATABASE_URL must be a PostgreSQL"),
        ("postgresql://mapapp:secret@127.0.0.1:{port}/mapapp", "Connection refused"),
    ],
)
def test_a_bad_url_or_a_server_down_is_a_message_not_a_traceback(
    tmp_path: Path, url: str, message: str
) -> None:
    result = run_mapapp(tmp_path, url.format(port=free_port()), "db", "init")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_backup_and_check_point_to_the_database_tools(pg_app: Flask, tmp_path: Path) -> None:
    runner = pg_app.test_cli_runner()
    backup = runner.invoke(cli, ["backup", str(tmp_path)])
    assert backup.exit_code == 1
    assert "back them up with pg_dump" in backup.output
    restore_source = tmp_path / "some.tar.gz"
    restore_source.write_bytes(b"x")
    restore = runner.invoke(cli, ["restore", str(restore_source)])
    assert restore.exit_code == 1 and "pg_restore" in restore.output
    check = runner.invoke(cli, ["check"])
    assert check.exit_code == 0, check.output
    assert "kept in PostgreSQL" in check.output
