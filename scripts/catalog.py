"""Work on a language's catalog without hand-editing .po syntax: list what is left, fill it, check it.

    python scripts/catalog.py todo fr [--limit 200]     untranslated entries as JSON lines
    python scripts/catalog.py fill fr answers.json       merge {msgid: "text" | ["form0", ...]}
    python scripts/catalog.py check [fr ...]             every problem; exit 1 if any
    python scripts/catalog.py update [fr ...]            merge messages.pot's new strings in

`fill` refuses a translation whose placeholders (%(name)s, %%) differ from the English, a plural
entry without exactly the language's number of forms, and an empty text; it writes nothing for
those and says why. Translators' review notes go in the entries' translator comments by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "mapapp" / "translations"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|%[sd]")
# Markup a translation must keep, such as <strong> around a number.
TAG = re.compile(r"</?[a-z]+[^>]*>")


def catalog_path(language: str) -> Path:
    """Return the .po file of a language."""
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


@contextmanager
def locked(language: str) -> Iterator[None]:
    """Hold the language's catalog for one read-change-write (several people work at once)."""
    with catalog_path(language).with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def load(language: str) -> Catalog:
    """Read a language's catalog."""
    with catalog_path(language).open("rb") as source:
        return read_po(source, locale=language)


def save(catalog: Catalog, language: str) -> None:
    """Write a language's catalog back (sorted as pybabel update leaves it)."""
    with catalog_path(language).open("wb") as target:
        write_po(target, catalog, width=100, sort_by_file=True)


def languages() -> list[str]:
    """Return every language that has a catalog."""
    return sorted(path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"))


def forms(language: str) -> int:
    """Return how many plural forms the language has (Babel's CLDR data)."""
    return get_plural(Locale.parse(language)).num_plurals


def placeholders(text: str) -> list[str]:
    """Return the placeholders of a text, sorted (their order may change in a translation)."""
    return sorted(PLACEHOLDER.findall(text))


def tags(text: str) -> list[str]:
    """Return the HTML tag names in a text, sorted."""
    return sorted(re.sub(r"[\s>].*", "", tag) for tag in TAG.findall(text))


def problems(message: Message, count: int) -> list[str]:
    """Return what is wrong with one entry's translation (nothing when it is complete)."""
    found: list[str] = []
    if message.fuzzy:
        found.append("fuzzy")
    if isinstance(message.id, tuple):
        singular, plural = message.id
        strings = list(message.string) if isinstance(message.string, tuple | list) else []
        if len(strings) != count:
            found.append(f"needs {count} plural forms, has {len(strings)}")
        for index, text in enumerate(strings):
            if not text.strip():
                found.append(f"plural form {index} is empty")
                continue
            wanted = set(placeholders(plural)) | set(placeholders(singular))
            extra = set(placeholders(text)) - wanted
            if extra:
                found.append(f"form {index} has placeholders not in the English: {sorted(extra)}")
        return found
    text = message.string if isinstance(message.string, str) else ""
    english = str(message.id)
    if not text.strip():
        return [*found, "untranslated"]
    if placeholders(text) != placeholders(english):
        found.append(f"placeholders {placeholders(text)} != English {placeholders(english)}")
    if tags(text) != tags(english):
        found.append(f"tags {tags(text)} != English {tags(english)}")
    return found


def entries(catalog: Catalog) -> list[Message]:
    """Return the catalog's messages, the header excluded."""
    return [message for message in catalog if message.id]


def todo(language: str, limit: int) -> None:
    """Print the entries still to translate (or wrong) as JSON lines."""
    catalog = load(language)
    count = forms(language)
    shown = 0
    for message in entries(catalog):
        wrong = problems(message, count)
        if not wrong:
            continue
        item: dict[str, Any] = {
            "msgid": message.id if isinstance(message.id, str) else message.id[0]
        }
        if isinstance(message.id, tuple):
            item["plural"] = message.id[1]
            item["forms"] = count
        if message.auto_comments:
            item["note"] = " ".join(message.auto_comments)
        item["where"] = [f"{path}:{line}" for path, line in message.locations[:2]]
        item["problems"] = wrong
        print(json.dumps(item, ensure_ascii=False))
        shown += 1
        if shown >= limit:
            break
    left = sum(1 for message in entries(catalog) if problems(message, count))
    print(f"# {left} entries left in {language}", file=sys.stderr)


def fill(language: str, answers_path: Path) -> int:
    """Merge translations from a JSON file; return how many were refused."""
    answers: dict[str, Any] = json.loads(answers_path.read_text(encoding="utf-8"))
    with locked(language):
        return _fill(language, answers)


def _fill(language: str, answers: dict[str, Any]) -> int:
    catalog = load(language)
    count = forms(language)
    by_id = {
        (message.id if isinstance(message.id, str) else message.id[0]): message
        for message in entries(catalog)
    }
    refused = 0
    filled = 0
    for msgid, answer in answers.items():
        message = by_id.get(msgid)
        if message is None:
            print(f"not in the catalog: {msgid!r}", file=sys.stderr)
            refused += 1
            continue
        old_string, old_flags = message.string, set(message.flags)
        if isinstance(message.id, tuple):
            message.string = tuple(answer) if isinstance(answer, list) else (answer,)
        else:
            message.string = answer if isinstance(answer, str) else ""
        message.flags.discard("fuzzy")
        wrong = problems(message, count)
        if wrong:
            message.string, message.flags = old_string, old_flags
            print(f"refused {msgid!r}: {'; '.join(wrong)}", file=sys.stderr)
            refused += 1
            continue
        filled += 1
    save(catalog, language)
    left = sum(1 for message in entries(catalog) if problems(message, count))
    print(f"{language}: {filled} filled, {refused} refused, {left} left", file=sys.stderr)
    return refused


def update(names: list[str]) -> None:
    """Merge the template's messages into the catalogs, as `pybabel update --no-fuzzy-matching`."""
    with (TRANSLATIONS / "messages.pot").open("rb") as source:
        template = read_po(source)
    for language in names or languages():
        with locked(language):
            catalog = load(language)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            save(catalog, language)


def check(names: list[str]) -> int:
    """Print every problem of the named catalogs (all when none named); return their number."""
    total = 0
    for language in names or languages():
        catalog = load(language)
        count = forms(language)
        for message in entries(catalog):
            for problem in problems(message, count):
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                print(f"{language}: {msgid!r}: {problem}")
                total += 1
    return total


def main() -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    todo_parser = commands.add_parser("todo")
    todo_parser.add_argument("language")
    todo_parser.add_argument("--limit", type=int, default=10_000)
    fill_parser = commands.add_parser("fill")
    fill_parser.add_argument("language")
    fill_parser.add_argument("answers", type=Path)
    check_parser = commands.add_parser("check")
    check_parser.add_argument("languages", nargs="*")
    update_parser = commands.add_parser("update")
    update_parser.add_argument("languages", nargs="*")
    args = parser.parse_args()
    if args.command == "todo":
        todo(args.language, args.limit)
        return 0
    if args.command == "fill":
        return 1 if fill(args.language, args.answers) else 0
    if args.command == "update":
        update(args.languages)
        return 0
    return 1 if check(args.languages) else 0


if __name__ == "__main__":
    sys.exit(main())
