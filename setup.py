"""Build hook: put the templates and the declared npm packages into the wheel and the sdist.

A checkout keeps `templates/` at the top and the front-end packages in `node_modules/` (installed
by `npm ci`, never committed). A wheel has neither, so `build_py` copies them into the package:
`mapapp/templates/`, and `mapapp/vendor/` with package.json and a `node_modules/` of each package
named in its dependencies (only those: what mapapp/web/assets.py serves). The sdist carries the
same files, so a wheel built from it needs no npm. Editable installs copy nothing. The gettext
catalogs (`mapapp/translations/<lang>/LC_MESSAGES/messages.po`) are compiled into `.mo` files
inside the wheel, with Babel, whether or not `make install` compiled them in the checkout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent
TEMPLATES = "templates"
NODE_MODULES = "node_modules"
NPM_FILES = ("package.json", "package-lock.json")
# Where the copies go inside the package (mapapp/__init__.py and mapapp/web/assets.py look there).
PACKAGE = "mapapp"
VENDOR = "vendor"
TRANSLATIONS = "translations"
NPM_HINT = "Run `make install` (or `npm ci`) first: npm is needed to build mapapp."


def declared_packages() -> list[str]:
    """Return the npm packages named in package.json's dependencies (as mapapp.web.assets does)."""
    data = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    return sorted(data.get("dependencies", {}))


def bundled_sources() -> dict[str, str]:
    """Return each file to bundle (relative to the root) and its place inside the package."""
    sources: dict[str, str] = {}
    for path in sorted((ROOT / TEMPLATES).rglob("*")):
        if path.is_file():
            relative = path.relative_to(ROOT).as_posix()
            sources[relative] = relative
    for name in NPM_FILES:
        if (ROOT / name).is_file():
            sources[name] = f"{VENDOR}/{name}"
    for package in declared_packages():
        package_dir = ROOT / NODE_MODULES / package
        if not (package_dir / "package.json").is_file():
            raise FileError(
                f"The npm package {package!r}, a dependency in package.json, is not installed "
                f"({package_dir} is missing). {NPM_HINT}"
            )
        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and NODE_MODULES not in path.relative_to(package_dir).parts:
                inner = path.relative_to(ROOT / NODE_MODULES).as_posix()
                sources[f"{NODE_MODULES}/{inner}"] = f"{VENDOR}/{NODE_MODULES}/{inner}"
    if not any(place.startswith(f"{TEMPLATES}/") for place in sources.values()):
        raise FileError(f"No templates found in {ROOT / TEMPLATES}.")
    return sources


class BuildWithFrontEnd(build_py):
    """Build the package with the templates and the declared npm packages inside it."""

    def run(self) -> None:
        """Build the Python package, then copy the bundled files into it."""
        sources = {} if self.editable_mode else bundled_sources()  # fail before building
        super().run()
        if self.editable_mode:
            return
        package_dir = Path(self.build_lib) / PACKAGE
        for stale in (TEMPLATES, VENDOR):  # a reused build/ may hold a dropped package
            shutil.rmtree(package_dir / stale, ignore_errors=True)
        for source, place in sources.items():
            target = package_dir / place
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / source, target)
        compile_catalogs(package_dir / TRANSLATIONS)


def compile_catalogs(target_dir: Path) -> None:
    """Write each language's compiled catalog (.mo) under target_dir."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in sorted((ROOT / PACKAGE / TRANSLATIONS).glob("*/LC_MESSAGES/*.po")):
        relative = po_path.relative_to(ROOT / PACKAGE / TRANSLATIONS).with_suffix(".mo")
        with po_path.open("rb") as source:
            catalog = read_po(source)
        (target_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        with (target_dir / relative).open("wb") as target:
            write_mo(target, catalog)


class SdistWithFrontEnd(sdist):
    """Make an sdist that carries the templates and the declared npm packages."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        """Lay out the sdist's files, the bundled ones included (so npm is not needed again)."""
        super().make_release_tree(base_dir, [*files, *bundled_sources()])


setup(cmdclass={"build_py": BuildWithFrontEnd, "sdist": SdistWithFrontEnd})
