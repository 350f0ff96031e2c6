"""The upload's two steps: a preview of how the file will be read, then the import of that file.

Between the steps the file waits in the data directory, under `imports/`, as a private file
(mode 0600) named by a random token, beside a small JSON note of the account that uploaded it,
its name, the status chosen, when, and the file's SHA-256. The confirmation sends only the token:
a token is 43 URL-safe characters or it is refused before any path is made, so no path comes
from the form. The file is taken only by the account that uploaded it, within an hour, and
removed once imported; expired files are removed at each new upload.

Why a file and not a signed hash of the content that a second upload must match: a browser
cannot keep the chosen file between two pages, so the coordinator would have to find and choose
it again, and could choose another one; the staged file is exactly the file previewed, whichever
worker answers the confirmation (they share the data directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from mapapp.events import CATEGORIES, FIELD_LABELS, FIELDS, FORMATS
from mapapp.i18n import N_, _, country_name
from mapapp.import_columns import PART_FIELDS, PART_LABELS, map_columns
from mapapp.import_files import read_table
from mapapp.import_rules import row_to_event
from mapapp.submission_rules import SUBMITTED_FIELDS

STAGING_DIR = "imports"
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_AGE_SECONDS = 3600
FILE_MODE = 0o600
PREVIEW_ROWS = 5
# The fields a preview row shows, in the events' order, when the file has them: what an
# organiser fills in, and the coordinates a partner's file may carry.
SHOWN_FIELDS: tuple[str, ...] = tuple(
    name for name in FIELDS if name in {*SUBMITTED_FIELDS, "latitude", "longitude"}
)
# Translated when raised.
NOT_FOUND_MESSAGE = N_(
    "We cannot find this preview: it was imported already, or the link was changed. Upload the "
    "file again."
)
EXPIRED_MESSAGE = N_(
    "This preview is more than an hour old, so its file was removed. Upload the file again."
)
OTHER_ACCOUNT_MESSAGE = N_(
    "This preview was made by another account. Upload the file again to import it yourself."
)
CHANGED_MESSAGE = N_("The file of this preview was changed since it was uploaded. Upload it again.")


class StagedFileError(ValueError):
    """The previewed file cannot be taken: unknown, expired, another account's or changed."""


@dataclass
class ImportPreview:
    """How a file will be read: the columns matched, those ignored, and its first rows."""

    filename: str
    status: str
    rows: int
    columns: list[tuple[str, str]] = field(default_factory=list)  # (file's column, our field)
    ignored: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # the labels of the sample's columns
    sample: list[tuple[int, list[str]]] = field(default_factory=list)
    token: str = ""


@dataclass(frozen=True)
class StagedFile:
    """A file waiting between its preview and its import."""

    content: bytes
    filename: str
    status: str


def preview_file(content: bytes, filename: str, *, status: str) -> ImportPreview:
    """Return how the file's columns are matched and how its first rows read; write nothing."""
    header, rows = read_table(content, filename)
    mapping, ignored = map_columns(header)
    preview = ImportPreview(filename=filename, status=status, rows=len(rows), ignored=ignored)
    for name, position in sorted(mapping.items(), key=lambda item: item[1]):
        label = PART_LABELS[name] if name in PART_FIELDS else FIELD_LABELS[name]
        preview.columns.append((header[position], _(label)))
    names = [name for name in SHOWN_FIELDS if name in mapping or _joined(name, mapping)]
    preview.fields = [_(FIELD_LABELS[name]) for name in names]
    for number, cells in rows[:PREVIEW_ROWS]:
        event, problems = row_to_event(cells, mapping, status=status)
        preview.sample.append(
            (number, [problems.get(name) or _shown(name, event) for name in names])
        )
    return preview


def _joined(name: str, mapping: dict[str, int]) -> bool:
    """Return whether a start or end is read from date and time columns."""
    prefix = {"starts_at": "start_", "ends_at": "end_"}.get(name)
    return prefix is not None and any(part.startswith(prefix) for part in mapping)


def _shown(name: str, event: dict[str, str]) -> str:
    """Return a field's value as read, in words where it is a code."""
    value = event.get(name, "")
    if name == "category":
        return _(CATEGORIES[value]) if value in CATEGORIES else value
    if name == "format":
        return _(FORMATS[value]) if value in FORMATS else value
    if name == "country" and value:
        return country_name(value)
    return value.replace("T", " ") if name in {"starts_at", "ends_at"} else value


def stage(
    data_dir: str | Path,
    content: bytes,
    filename: str,
    *,
    who: str,
    status: str,
    now: float | None = None,
) -> str:
    """Keep a previewed file for its confirmation and return its token."""
    moment = time.time() if now is None else now
    directory = Path(data_dir) / STAGING_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    sweep(data_dir, now=moment)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    note = {
        "who": who,
        "filename": filename,
        "status": status,
        "created": moment,
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    _write_private(directory / f"{token}.upload", content)
    _write_private(directory / f"{token}.json", json.dumps(note).encode())
    return token


def take(data_dir: str | Path, token: str, *, who: str, now: float | None = None) -> StagedFile:
    """Return the file a token stands for, if this account staged it within the hour."""
    if not TOKEN_PATTERN.fullmatch(token or ""):
        raise StagedFileError(_(NOT_FOUND_MESSAGE))
    content_path, note_path = _paths(data_dir, token)
    try:
        note = json.loads(note_path.read_bytes())
        content = content_path.read_bytes()
    except (OSError, ValueError) as exc:
        raise StagedFileError(_(NOT_FOUND_MESSAGE)) from exc
    moment = time.time() if now is None else now
    if moment - float(note["created"]) > MAX_AGE_SECONDS:
        discard(data_dir, token)
        raise StagedFileError(_(EXPIRED_MESSAGE))
    if note["who"] != who:
        raise StagedFileError(_(OTHER_ACCOUNT_MESSAGE))
    if hashlib.sha256(content).hexdigest() != note["sha256"]:
        raise StagedFileError(_(CHANGED_MESSAGE))
    return StagedFile(content, str(note["filename"]), str(note["status"]))


def discard(data_dir: str | Path, token: str) -> None:
    """Remove a staged file and its note (done once it is imported)."""
    if TOKEN_PATTERN.fullmatch(token):
        for path in _paths(data_dir, token):
            path.unlink(missing_ok=True)


def sweep(data_dir: str | Path, now: float | None = None) -> int:
    """Remove the staged files older than an hour; return how many were removed."""
    moment = time.time() if now is None else now
    directory = Path(data_dir) / STAGING_DIR
    removed = 0
    for path in directory.glob("*.upload"):
        note = path.with_suffix(".json")
        try:
            created = float(json.loads(note.read_bytes())["created"])
        except (OSError, ValueError, KeyError, TypeError):
            created = path.stat().st_mtime if path.exists() else 0.0
        if moment - created > MAX_AGE_SECONDS:
            path.unlink(missing_ok=True)
            note.unlink(missing_ok=True)
            removed += 1
    return removed


def _paths(data_dir: str | Path, token: str) -> tuple[Path, Path]:
    """Return the paths of a token's file and note (the token checked before)."""
    directory = Path(data_dir) / STAGING_DIR
    return directory / f"{token}.upload", directory / f"{token}.json"


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only this account's processes can read, whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)
