"""The import's staging: files in the data directory, or rows of PostgreSQL shared by every host.

The same tests run against both backends (a real PostgreSQL server the session starts, a schema
of the test's own); the last ones are the reason PostgreSQL has one: a preview staged by one host
is confirmed through another with a data directory of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mapapp import import_preview
from mapapp.import_preview import StagedFileError
from mapapp.storage import StoreUnavailableError
from mapapp.storage.staging import (
    DirectoryStaging,
    PostgresStaging,
    Staging,
    staging_for,
)
from tests.conftest import free_port

TOKEN = "a" * 43
OTHER_TOKEN = "b" * 43
# Every byte value, NUL first: an upload is bytes, whatever a spreadsheet holds.
EVERY_BYTE = bytes(range(256)) * 64


@pytest.fixture(params=["directory", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Return the settings of one host: its data directory, and the database if there is one."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    host = {"DATA_DIR": str(data_dir)}
    if request.param == "postgresql":
        host["DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
    return host


@pytest.fixture
def staging(settings: dict[str, str]) -> Staging:
    """Return the staging those settings choose."""
    return staging_for(settings)


def test_the_settings_choose_the_backend(settings: dict[str, str]) -> None:
    chosen = staging_for(settings)
    expected = PostgresStaging if "DATABASE_URL" in settings else DirectoryStaging
    assert type(chosen) is expected


def test_an_upload_comes_back_byte_for_byte(staging: Staging) -> None:
    staging.put(TOKEN, EVERY_BYTE, b'{"who": "c"}', 1000.0)
    staging.put(OTHER_TOKEN, b"", b"{}", 1000.0)
    kept = staging.get(TOKEN)
    assert kept is not None
    assert (kept.content, kept.note) == (EVERY_BYTE, b'{"who": "c"}')
    empty = staging.get(OTHER_TOKEN)
    assert empty is not None and empty.content == b""
    assert staging.get("c" * 43) is None


def test_a_discarded_upload_is_gone_and_the_others_stay(staging: Staging) -> None:
    staging.put(TOKEN, b"one", b"{}", 1000.0)
    staging.put(OTHER_TOKEN, b"two", b"{}", 1000.0)
    staging.discard(TOKEN)
    staging.discard(TOKEN)  # twice: nothing to remove, no error
    assert staging.get(TOKEN) is None
    other = staging.get(OTHER_TOKEN)
    assert other is not None and other.content == b"two"


def test_a_sweep_removes_only_what_was_kept_before_the_moment(staging: Staging) -> None:
    staging.put(TOKEN, b"old", b"{}", 1000.0)
    staging.put(OTHER_TOKEN, b"new", b"{}", 5000.0)
    assert staging.sweep(4999.0) == 1
    assert staging.get(TOKEN) is None
    assert staging.get(OTHER_TOKEN) is not None
    assert staging.sweep(4999.0) == 0


def test_the_previewed_file_is_taken_by_its_account_only_within_the_hour(
    staging: Staging,
) -> None:
    token = import_preview.stage(
        staging, b"Title\nA\n", "a.csv", who="alice", status="pending", now=1000.0
    )
    with pytest.raises(StagedFileError, match="another account"):
        import_preview.take(staging, token, who="bob", now=1001.0)
    taken = import_preview.take(staging, token, who="alice", now=1001.0)
    assert (taken.content, taken.filename, taken.status) == (b"Title\nA\n", "a.csv", "pending")
    late = 1000.0 + import_preview.MAX_AGE_SECONDS + 1
    with pytest.raises(StagedFileError, match="more than an hour old"):
        import_preview.take(staging, token, who="alice", now=late)
    assert staging.get(token) is None  # an expired file is removed


def test_a_preview_staged_on_one_host_is_confirmed_on_another(
    settings: dict[str, str], tmp_path: Path
) -> None:
    # Another host: a data directory of its own with PostgreSQL, the same one on the CSV store.
    other = dict(settings)
    if "DATABASE_URL" in settings:
        other["DATA_DIR"] = str(tmp_path / "other-host")
    first, second = staging_for(settings), staging_for(other)
    token = import_preview.stage(first, EVERY_BYTE, "partners.xlsx", who="alice", status="approved")
    taken = import_preview.take(second, token, who="alice")
    assert (taken.content, taken.status) == (EVERY_BYTE, "approved")
    import_preview.discard(second, token)
    with pytest.raises(StagedFileError, match="cannot find this preview"):
        import_preview.take(first, token, who="alice")


def test_a_database_that_is_down_is_a_store_unavailable_error() -> None:
    staging = PostgresStaging(f"postgresql://mapapp@127.0.0.1:{free_port()}/mapapp")
    with pytest.raises(StoreUnavailableError):
        staging.put(TOKEN, b"x", b"{}", 1000.0)
