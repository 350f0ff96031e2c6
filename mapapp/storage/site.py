"""The published site's directory: files written atomically, and the manifest of what is there.

`mapapp publish` writes the public site as files into one directory (see mapapp/publish.py).
This module alone touches that directory. Every file is written to a temporary file in the
directory's own temporary folder and renamed over its target, so a static server never sends a
half-written file. The manifest (`.mapapp-publish.json`) records each file's content digest,
size and modification time: a file whose digest is unchanged and whose size and mtime on disk are
still those recorded is left alone (same inode, same mtime, so caches and rsync see nothing new).

Crash safety: the manifest is written last (and fsynced). A publish killed half way leaves the
previous manifest; the next publish finds the files it had written with a size or mtime the
manifest does not know and writes them again, and deletes again the files of removed events.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST_NAME = ".mapapp-publish.json"
TEMPORARY_DIR = ".mapapp-publish-tmp"
MANIFEST_FORMAT = 1
GZIP_LEVEL = 9  # written once, served many times: the best ratio is worth its time


class SitePathError(ValueError):
    """A published file's path would leave the site's directory."""


@dataclass(frozen=True)
class FileEntry:
    """What the manifest knows of one published file."""

    digest: str
    size: int
    mtime_ns: int


@dataclass
class Manifest:
    """The published files and the publisher's own notes (versions, per-event keys)."""

    files: dict[str, FileEntry]
    state: dict[str, Any]


def gzipped(data: bytes) -> bytes:
    """Return data gzipped the same way every time (no timestamp), for nginx's gzip_static."""
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


class SiteDirectory:
    """The directory of a published site."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        """Create the directory and empty the temporary folder a killed publish may have left."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / TEMPORARY_DIR
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()

    def path_of(self, name: str) -> Path:
        """Return where a published file lives, refusing names that would leave the directory."""
        pure = PurePosixPath(name)
        if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in name:
            raise SitePathError(f"Not a path inside the published site: {name!r}")
        if pure.parts[0] in (MANIFEST_NAME, TEMPORARY_DIR):
            raise SitePathError(f"{name!r} is the publisher's own file.")
        return self.root.joinpath(*pure.parts)

    def load_manifest(self) -> Manifest:
        """Return the manifest of the last complete publish (empty for a new directory)."""
        try:
            data = json.loads((self.root / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return Manifest({}, {})
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            return Manifest({}, {})
        files = {
            name: FileEntry(str(entry[0]), int(entry[1]), int(entry[2]))
            for name, entry in data.get("files", {}).items()
        }
        return Manifest(files, dict(data.get("state", {})))

    def is_current(self, name: str, digest: str, manifest: Manifest) -> bool:
        """Return whether a file holds this digest as the manifest recorded it, untouched since."""
        entry = manifest.files.get(name)
        if entry is None or entry.digest != digest:
            return False
        try:
            status = self.path_of(name).stat()
        except FileNotFoundError:
            return False
        return status.st_size == entry.size and status.st_mtime_ns == entry.mtime_ns

    def write(self, name: str, data: bytes, digest: str) -> FileEntry:
        """Write a file atomically (a temporary file renamed over it) and return its entry."""
        target = self.path_of(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.root / TEMPORARY_DIR)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from nginx's user
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        status = target.stat()
        return FileEntry(digest, status.st_size, status.st_mtime_ns)

    def entry_of(self, name: str, digest: str) -> FileEntry:
        """Return the entry of a file already on disk with this digest."""
        status = self.path_of(name).stat()
        return FileEntry(digest, status.st_size, status.st_mtime_ns)

    def remove(self, names: Iterable[str]) -> int:
        """Delete published files (those already gone count too) and return how many."""
        count = 0
        for name in names:
            path = self.path_of(name)
            path.unlink(missing_ok=True)
            count += 1
            self._remove_empty_parents(path.parent)
        return count

    def _remove_empty_parents(self, folder: Path) -> None:
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:  # not empty: it holds other files
                return
            folder = folder.parent

    def save_manifest(self, files: Mapping[str, FileEntry], state: Mapping[str, Any]) -> None:
        """Write the manifest atomically and durably: the publish is complete once it lands."""
        data = {
            "format": MANIFEST_FORMAT,
            "state": dict(state),
            "files": {
                name: [entry.digest, entry.size, entry.mtime_ns]
                for name, entry in sorted(files.items())
            },
        }
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        temporary = self.root / TEMPORARY_DIR / MANIFEST_NAME
        with open(temporary, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.root / MANIFEST_NAME)
        directory = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def finish(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self.root / TEMPORARY_DIR, ignore_errors=True)
