"""Messages kept as .eml files in one directory (data/mail/): what the app sends with no SMTP server.

Each message is `<name>.eml`, written atomically (a temporary file, fsync, `os.replace`, the
directory fsynced) with the data files' mode, so a reader sees a whole message or none, and
writing the same message again (a sender that died before recording it) replaces it: a name
holds one copy, however often it is written.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from mapapp.storage.csv import DEFAULT_FILE_MODE, fsync_directory

MAIL_DIR = "mail"
SUFFIX = ".eml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # an outbox id: no path, no dots
# A partial file this old was left by a writer that died before renaming it.
STALE_PARTIAL_SECONDS = 3600


class MailDrop:
    """A directory of .eml files, each named after its message's id in the outbox."""

    def __init__(
        self, directory: str | os.PathLike[str], *, file_mode: int = DEFAULT_FILE_MODE
    ) -> None:
        self.directory = Path(directory)
        self.file_mode = file_mode

    def path(self, name: str) -> Path:
        """Return where the message with this name is kept."""
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"Not a message name: {name!r}.")
        return self.directory / f"{name}{SUFFIX}"

    def put(self, name: str, data: bytes) -> Path:
        """Keep a message's bytes under its name, whole or not at all; return its path."""
        target = self.path(name)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.directory / f".{name}.{os.getpid()}.tmp"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode)
        try:
            os.fchmod(descriptor, self.file_mode)
            with open(descriptor, "wb", closefd=False) as handle:
                handle.write(data)
            os.fsync(descriptor)
        except BaseException:
            os.close(descriptor)
            partial.unlink(missing_ok=True)
            raise
        os.close(descriptor)
        os.replace(partial, target)
        fsync_directory(self.directory)
        return target

    def names(self) -> list[str]:
        """Return the names of the messages kept, in no particular order."""
        if not self.directory.is_dir():
            return []
        return [path.stem for path in self.directory.glob(f"*{SUFFIX}")]

    def remove(self, names: Iterable[str]) -> int:
        """Remove the messages with these names; return how many were there."""
        removed = 0
        for name in names:
            try:
                self.path(name).unlink()
            except (FileNotFoundError, ValueError):
                continue
            removed += 1
        return removed

    def remove_older_than(self, seconds: float) -> int:
        """Remove the messages written more than this many seconds ago; return how many went."""
        if not self.directory.is_dir():
            return 0
        cutoff = time.time() - seconds
        for partial in self.directory.glob(".*.tmp"):  # a writer killed before its rename
            try:
                if partial.stat().st_mtime < time.time() - STALE_PARTIAL_SECONDS:
                    partial.unlink()
            except FileNotFoundError:
                continue
        old = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    old.append(path.stem)
            except FileNotFoundError:
                continue
        return self.remove(old)
