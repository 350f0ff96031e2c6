"""mapapp backup and mapapp restore: a consistent copy under the locks, checked and put back."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskCliRunner

from mapapp import coordinators
from mapapp.cli import cli
from mapapp.geocoding import CACHE_COLUMNS, CACHE_FILE
from mapapp.storage import Audit, CsvTable, EventStore
from mapapp.storage.backup import MANIFEST_NAME, NEVER_ROLLED_BACK
from tests.conftest import add_valid_event, change
from tests.servers import server_env, serving

MAPAPP = Path(sys.executable).with_name("mapapp")
BACKUPS_DURING_WRITES = 6
WRITERS = 3


def archive_members(path: Path) -> dict[str, bytes]:
    """Return every member of a backup archive by name, in order."""
    with tarfile.open(path, "r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


def rows_of(data: bytes) -> list[dict[str, str]]:
    """Return a CSV table's rows."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def only_file(folder: Path) -> Path:
    """Return the one file in a folder."""
    files = list(folder.iterdir())
    assert len(files) == 1, files
    return files[0]


def table_files(store: EventStore) -> list[str]:
    """Return the names of the table files a backup of this store holds."""
    known = {table.path.name for table in store.tables() if table.path.exists()}
    return sorted((known | {"geocode_cache.csv"}) - NEVER_ROLLED_BACK)


def write_archive(path: Path, members: dict[str, bytes]) -> None:
    """Write a .tar.gz holding these members, in order."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def manifest_for(members: dict[str, bytes], **changes: Any) -> bytes:
    """Return a manifest listing these members as mapapp writes it, with any field changed."""
    manifest = {
        "format": "mapapp-backup",
        "format_version": 1,
        "created_at": "2027-02-01T00:00:00+00:00",
        "files": [
            {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in members.items()
        ],
        **changes,
    }
    return json.dumps(manifest).encode()


@pytest.fixture
def filled(app: Flask, store: EventStore) -> EventStore:
    """Return a store holding two events, an edit of one, a coordinator and a geocode cache row."""
    first = add_valid_event(store, title="First")
    add_valid_event(store, title="Second", status="pending")
    change(store, first["id"], {"title": "First, edited"})
    with app.app_context():
        coordinators.add_coordinator("coordinator", "a long test passphrase")
    # A table the app does not register with the store: found on disk, locked all the same.
    cache = CsvTable(store.data_dir / CACHE_FILE, CACHE_COLUMNS, key="key")
    cache.append([{"key": "paris", "query": "Paris", "status": "ok", "places": "[]"}])
    cache.close()
    (store.data_dir / ".secret_key").write_text("not in any backup")
    return store


def test_backup_holds_every_table_with_its_checksum_and_nothing_else(
    filled: EventStore, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    result = runner.invoke(cli, ["backup", str(backups)])
    assert result.exit_code == 0, result.output
    archive = only_file(backups)
    assert archive.name.startswith("mapapp-backup-") and archive.name.endswith(".tar.gz")
    assert f"to {archive}" in result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # e-mails and password hashes
    members = archive_members(archive)
    tables = table_files(filled)
    assert {"audit.csv", "coordinators.csv", "events.csv", "geocode_cache.csv"} <= set(tables)
    assert list(members)[0] == MANIFEST_NAME
    assert sorted(members) == sorted([MANIFEST_NAME, *tables])
    for name in tables:
        assert members[name] == (filled.data_dir / name).read_bytes(), name
    manifest = json.loads(members[MANIFEST_NAME])
    assert manifest["format"] == "mapapp-backup"
    assert {file["name"]: file["sha256"] for file in manifest["files"]} == {
        name: hashlib.sha256(members[name]).hexdigest() for name in tables
    }
    titles = [row["title"] for row in rows_of(members["events.csv"])]
    assert titles == ["First, edited", "Second"]
    assert len(rows_of(members["audit.csv"])) == 3


def test_backup_refuses_to_overwrite_a_file(
    filled: EventStore, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    taken = tmp_path / "taken.tar.gz"
    taken.write_bytes(b"keep me")
    result = runner.invoke(cli, ["backup", str(taken)])
    assert result.exit_code == 1
    assert f"{taken} exists already" in result.output
    assert taken.read_bytes() == b"keep me"


def test_restore_puts_the_backup_back_and_keeps_what_it_replaced(
    filled: EventStore, app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    archive = tmp_path / "before.tar.gz"
    assert runner.invoke(cli, ["backup", str(archive)]).exit_code == 0
    backed_up = {
        name: (filled.data_dir / name).read_bytes() for name in ("events.csv", "audit.csv")
    }
    third = add_valid_event(filled, title="Added after the backup")
    filled.delete([filled.frame()["id"].iloc[0]])
    later = {name: (filled.data_dir / name).read_bytes() for name in ("events.csv", "audit.csv")}
    # A table created after the backup: it goes aside, so that it cannot disagree with the rest.
    (filled.data_dir / "newer_table.csv").write_bytes(b"\xef\xbb\xbfid\r\nx\r\n")

    result = runner.invoke(cli, ["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"Restored {len(table_files(filled))} tables from the backup of " in result.output
    for name, data in backed_up.items():
        assert (filled.data_dir / name).read_bytes() == data, name
    assert not (filled.data_dir / "newer_table.csv").exists()
    assert ".secret_key" in os.listdir(filled.data_dir)  # left alone: never in a backup
    replaced = only_file(filled.data_dir / "backups")
    assert f"kept in {replaced}" in result.output
    for name, data in later.items():
        assert (replaced / name).read_bytes() == data, name
    assert (replaced / "newer_table.csv").exists()
    assert "newer_table.csv was not in the backup" in result.output
    # The app's own store (holding the old files open) reads the restored ones.
    assert sorted(filled.frame()["title"]) == ["First, edited", "Second"]
    assert filled.get(third["id"]) is None
    check = runner.invoke(cli, ["check"])
    assert check.exit_code == 0, check.output
    with app.app_context():
        assert [account.name for account in coordinators.list_coordinators()] == ["coordinator"]


@pytest.mark.parametrize("table", ["sessions.csv", "used_drafts.csv"])
def test_sessions_and_used_drafts_are_never_backed_up_nor_rolled_back(
    filled: EventStore, runner: FlaskCliRunner, tmp_path: Path, table: str
) -> None:
    sessions = filled.data_dir / table
    sessions.write_bytes(b"\xef\xbb\xbfid\r\nsession-ended-after-the-backup\r\n")
    archive = tmp_path / "b.tar.gz"
    assert runner.invoke(cli, ["backup", str(archive)]).exit_code == 0
    assert table not in archive_members(archive)
    sessions.write_bytes(b"\xef\xbb\xbfid\r\n")  # signed out, or used, since
    result = runner.invoke(cli, ["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert sessions.read_bytes() == b"\xef\xbb\xbfid\r\n"
    assert table not in result.output


def test_restore_check_reads_the_whole_backup_and_changes_nothing(
    filled: EventStore, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert runner.invoke(cli, ["backup", str(archive)]).exit_code == 0
    add_valid_event(filled, title="After")
    events = (filled.data_dir / "events.csv").read_bytes()
    result = runner.invoke(cli, ["restore", "--check", str(archive)])
    assert result.exit_code == 0, result.output
    assert "a whole backup of " in result.output
    assert f"{len(table_files(filled))} tables" in result.output
    assert (filled.data_dir / "events.csv").read_bytes() == events


def _damaged_archives(real: dict[str, bytes]) -> dict[str, tuple[dict[str, bytes] | bytes, str]]:
    """Return archives that must be refused, each with the words its refusal must contain."""
    flipped = dict(real)
    events = bytearray(flipped["events.csv"])
    events[-5] ^= 0x01
    flipped["events.csv"] = bytes(events)
    tables = {name: data for name, data in real.items() if name != MANIFEST_NAME}
    wrong_header = {**tables, "events.csv": b"\xef\xbb\xbfid,title\r\nabc,x\r\n"}
    return {
        "not an archive": (b"just some bytes, not gzip", "not a .tar.gz backup"),
        "another program's archive": ({"notes.txt": b"hello"}, "has no MANIFEST.json"),
        "a foreign manifest": (
            {MANIFEST_NAME: b'{"format": "something-else", "files": []}'},
            "not a mapapp backup",
        ),
        "a newer format": (
            {MANIFEST_NAME: manifest_for(tables, format_version=99), **tables},
            "of format 99",
        ),
        "a changed byte": (flipped, "the checksum of events.csv does not match"),
        "a member missing": (
            {MANIFEST_NAME: real[MANIFEST_NAME], "events.csv": real["events.csv"]},
            "missing",
        ),
        "an unlisted member": ({**real, "extra.csv": b"x"}, "which its manifest does not list"),
        "a path out of the data directory": (
            {MANIFEST_NAME: manifest_for({"../escape.csv": b"x"}), "../escape.csv": b"x"},
            "not a table's file name",
        ),
        "a sessions table": (
            {MANIFEST_NAME: manifest_for({"sessions.csv": b"x"}), "sessions.csv": b"x"},
            "sessions.csv, which mapapp never restores",
        ),
        "a damaged table": (
            {MANIFEST_NAME: manifest_for(wrong_header), **wrong_header},
            "damaged; nothing was restored",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not an archive",
        "another program's archive",
        "a foreign manifest",
        "a newer format",
        "a changed byte",
        "a member missing",
        "an unlisted member",
        "a path out of the data directory",
        "a sessions table",
        "a damaged table",
        "cut short",
    ],
)
def test_restore_refuses_a_foreign_or_damaged_archive(
    case: str, filled: EventStore, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    good = tmp_path / "good.tar.gz"
    assert runner.invoke(cli, ["backup", str(good)]).exit_code == 0
    add_valid_event(filled, title="After the backup")
    before = {path.name: path.read_bytes() for path in filled.data_dir.iterdir() if path.is_file()}
    bad = tmp_path / "bad.tar.gz"
    if case == "cut short":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        expected = "is damaged"
    else:
        members, expected = _damaged_archives(archive_members(good))[case]
        if isinstance(members, bytes):
            bad.write_bytes(members)
        else:
            write_archive(bad, members)
    result = runner.invoke(cli, ["restore", str(bad)])
    assert result.exit_code == 1, result.output
    assert expected in result.output
    after = {path.name: path.read_bytes() for path in filled.data_dir.iterdir() if path.is_file()}
    assert after == before
    assert not (filled.data_dir / "backups").exists()
    assert (
        not (tmp_path / "escape.csv").exists()
        and not (filled.data_dir.parent / "escape.csv").exists()
    )
    assert [
        path.name for path in filled.data_dir.iterdir() if path.name.startswith(".mapapp")
    ] == []


# A backup taken while mapapp serve takes writes


def submit_events(
    base_url: str, stop: threading.Event, created: list[str], errors: list[str]
) -> None:
    """Submit online events through the API until stop is set."""
    day = date(date.today().year + 1, 2, 28).isoformat()
    number = 0
    with requests.Session() as http:
        while not stop.is_set():
            number += 1
            body = {
                "title": f"Submitted during a backup {threading.get_ident()} {number}",
                "category": "online",
                "format": "online",
                "country": "KE",
                "starts_at": f"{day}T10:00",
                "organiser": "Backup test",
                "contact_email": "backup@example.org",
                "language": "en",
                "consent": True,
            }
            response = http.post(base_url + "/api/events", json=body, timeout=30)
            if response.status_code == 201:
                created.append(response.json()["id"])
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")


def edit_events(data_dir: Path, stop: threading.Event, errors: list[str]) -> None:
    """Rewrite the events file again and again from another writer, as a coordinator's edit does."""
    store = EventStore(data_dir)
    number = 0
    try:
        while not stop.is_set():
            frame = store.frame()
            if not len(frame):
                continue
            number += 1
            row = frame.iloc[number % len(frame)]
            store.update(
                row["id"],
                {"description": f"Edited {number}"},
                expected=row["version"],
                audit=Audit("backup-test", "edit"),
            )
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))
    finally:
        store.close()


def assert_consistent(members: dict[str, bytes]) -> int:
    """Check that the audit log and the events of a backup agree; return the events' count."""
    events = rows_of(members["events.csv"])
    audit = rows_of(members["audit.csv"])
    versions = {row["id"]: int(row["version"]) for row in events}
    entries = Counter((row["event_id"], int(row["version"])) for row in audit)
    # Every event's last change has its entry; no entry describes a change that is not there.
    for event_id, version in versions.items():
        assert entries[(event_id, version)] == 1, (event_id, version)
    for event_id, version in entries:
        assert event_id in versions and version <= versions[event_id], (event_id, version)
    last = max(int(row["version"]) for row in audit)
    assert last == max(versions.values())
    return len(events)


@pytest.mark.slow
def test_backup_during_writes_is_consistent_and_restores(
    tmp_path: Path, server_port: int, data_dir: Path
) -> None:
    stop = threading.Event()
    created: list[str] = []
    errors: list[str] = []
    archives: list[Path] = []
    env = server_env(data_dir)
    with serving(data_dir, tmp_path / "serve.log", server_port) as (base_url, _process):
        threads = [
            threading.Thread(target=submit_events, args=(base_url, stop, created, errors))
            for _ in range(WRITERS)
        ]
        threads.append(threading.Thread(target=edit_events, args=(data_dir, stop, errors)))
        for thread in threads:
            thread.start()
        try:
            for number in range(BACKUPS_DURING_WRITES):
                while len(created) < 5 * (number + 1) and not errors:
                    stop.wait(0.05)
                archive = tmp_path / f"during-{number}.tar.gz"
                subprocess.run(
                    [str(MAPAPP), "backup", str(archive)], env=env, check=True, timeout=120
                )
                archives.append(archive)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    assert errors == []
    counts = [assert_consistent(archive_members(archive)) for archive in archives]
    assert counts == sorted(counts) and counts[-1] < len(created)  # writes went on in between

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    restore_env = {**env, "MAPAPP_DATA_DIR": str(restored_dir)}
    run = subprocess.run(
        [str(MAPAPP), "restore", str(archives[-1])],
        env=restore_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    check = subprocess.run(
        [str(MAPAPP), "check"], env=restore_env, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "events.csv: no problems." in check.stdout
    assert (restored_dir / "events.csv").read_bytes() == archive_members(archives[-1])["events.csv"]
