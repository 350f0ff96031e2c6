"""The upload's two steps: a preview of how the file will be read, then the import of that file.

Between the steps the file waits in the staging (mapapp.storage.staging: the data directory's
`imports/` as a private file, mode 0600, or PostgreSQL's table when the hosts share a database)
under a random token, beside a small JSON note of the account that uploaded it, its name, the
status chosen, when, and the file's SHA-256. The confirmation sends only the token:
a token is 43 URL-safe characters or it is refused before any path is made, so no path comes
from the form. The file is taken only by the account that uploaded it, within an hour, and
removed once imported; expired files are removed at each new upload.

Why a file and not a signed hash of the content that a second upload must match: a browser
cannot keep the chosen file between two pages, so the coordinator would have to find and choose
it again, and could choose another one; the staged file is exactly the file previewed, whichever
worker or host answers the confirmation (they share the data directory, or the database).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field

from mapapp.events import CATEGORIES, FIELD_LABELS, FIELDS, FORMATS
from mapapp.i18n import N_, _, country_name
from mapapp.import_columns import PART_FIELDS, PART_LABELS, map_columns
from mapapp.import_files import read_table
from mapapp.import_rules import row_to_event
from mapapp.storage.staging import Staging
from mapapp.submission_rules import SUBMITTED_FIELDS

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_AGE_SECONDS = 3600
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
    staging: Staging,
    content: bytes,
    filename: str,
    *,
    who: str,
    status: str,
    now: float | None = None,
) -> str:
    """Keep a previewed file for its confirmation and return its token."""
    moment = time.time() if now is None else now
    sweep(staging, now=moment)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    note = {
        "who": who,
        "filename": filename,
        "status": status,
        "created": moment,
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    staging.put(token, content, json.dumps(note).encode(), moment)
    return token


def take(staging: Staging, token: str, *, who: str, now: float | None = None) -> StagedFile:
    """Return the file a token stands for, if this account staged it within the hour."""
    if not TOKEN_PATTERN.fullmatch(token or ""):
        raise StagedFileError(_(NOT_FOUND_MESSAGE))
    staged = staging.get(token)
    try:
        if staged is None:
            raise ValueError(token)
        note = json.loads(staged.note)
        created, owner = float(note["created"]), note["who"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StagedFileError(_(NOT_FOUND_MESSAGE)) from exc
    moment = time.time() if now is None else now
    if moment - created > MAX_AGE_SECONDS:
        discard(staging, token)
        raise StagedFileError(_(EXPIRED_MESSAGE))
    if owner != who:
        raise StagedFileError(_(OTHER_ACCOUNT_MESSAGE))
    if hashlib.sha256(staged.content).hexdigest() != note["sha256"]:
        raise StagedFileError(_(CHANGED_MESSAGE))
    return StagedFile(staged.content, str(note["filename"]), str(note["status"]))


def discard(staging: Staging, token: str) -> None:
    """Remove a staged file and its note (done once it is imported)."""
    if TOKEN_PATTERN.fullmatch(token):
        staging.discard(token)


def sweep(staging: Staging, now: float | None = None) -> int:
    """Remove the staged files older than an hour; return how many were removed."""
    moment = time.time() if now is None else now
    return staging.sweep(moment - MAX_AGE_SECONDS)
