"""Serve the front-end packages installed by npm (Leaflet and friends) from the app itself.

Only packages named in package.json's dependencies are served, so nothing else under node_modules
(build tools, their dependencies) is reachable. With MAPAPP_ASSETS=cdn the same paths point at
unpkg.com instead, pinned to the installed versions.
"""

from __future__ import annotations

import json
import mimetypes
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, send_from_directory, url_for
from werkzeug.security import safe_join

from mapapp import FROM_CHECKOUT, PACKAGE_DIR, PROJECT_ROOT
from mapapp.i18n import N_, _

# A checkout's own npm install, or the copy of package.json and the declared packages that a wheel
# carries in mapapp/vendor/, laid out the same way (see setup.py).
NPM_ROOT = PROJECT_ROOT if FROM_CHECKOUT else PACKAGE_DIR / "vendor"
NODE_MODULES = NPM_ROOT / "node_modules"
PACKAGE_JSON = NPM_ROOT / "package.json"
CDN_URL = "https://unpkg.com/{package}@{version}/{path}"
# The URL carries the installed version, so a year of caching is safe: an upgrade changes the URL.
CACHE_SECONDS = 365 * 24 * 3600
NOT_SERVED_MESSAGE = N_("No front-end asset is served at %(path)s.")
NOT_INSTALLED_MESSAGE = N_("The front-end package %(package)s is not installed. %(hint)s")
# For the site's team (the log, start-up errors and the 503's second sentence): English.
INSTALL_HINT = (
    "Run `make install` (it runs `npm ci`) to install the front-end assets in node_modules."
)

blueprint = Blueprint("assets", __name__)

mimetypes.add_type("application/json", ".json")
mimetypes.add_type("text/javascript", ".js")


class AssetsMissingError(RuntimeError):
    """An npm package the app serves is not installed."""


@cache
def declared_packages(package_json: Path = PACKAGE_JSON) -> frozenset[str]:
    """Return the names of the npm packages the app may serve."""
    data = json.loads(package_json.read_text(encoding="utf-8"))
    return frozenset(data.get("dependencies", {}))


@cache
def installed_version(package: str, node_modules: Path = NODE_MODULES) -> str:
    """Return the installed version of an npm package, or explain how to install it."""
    manifest = node_modules / package / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except FileNotFoundError as exc:
        raise AssetsMissingError(
            f"The npm package {package!r} is not installed ({manifest} is missing). {INSTALL_HINT}"
        ) from exc


def split_package(path: str) -> tuple[str, str]:
    """Return the package name and the path inside it (scoped names keep their @scope/)."""
    parts = path.lstrip("/").split("/")
    size = 2 if parts[0].startswith("@") else 1
    return "/".join(parts[:size]), "/".join(parts[size:])


def vendor_url(path: str) -> str:
    """Return the URL of a file of an npm package: served by the app, or on the CDN."""
    package, inner = split_package(path)
    if package not in declared_packages():
        raise AssetsMissingError(f"{package!r} is not a dependency in package.json; add it first.")
    version = installed_version(package)
    if current_app.config.get("ASSETS") == "cdn":
        return CDN_URL.format(package=package, version=version, path=inner)
    return url_for("assets.vendor", filename=path, v=version)


def installed_file(path: str) -> Path:
    """Return where a file of a declared npm package is installed (it may be missing)."""
    package, _ = split_package(path)
    if package not in declared_packages():
        raise AssetsMissingError(f"{package!r} is not a dependency in package.json; add it first.")
    return NODE_MODULES / path


@blueprint.get("/vendor/<path:filename>")
def vendor(filename: str) -> Response:
    """Send a file of a declared npm package, cached for long."""
    package, inner = split_package(filename)
    if package not in declared_packages() or not inner:
        abort(404, description=_(NOT_SERVED_MESSAGE, path=repr(filename)))
    package_dir = NODE_MODULES / package
    if not package_dir.is_dir():
        current_app.logger.error("npm package %s is missing: %s", package, INSTALL_HINT)
        abort(503, description=_(NOT_INSTALLED_MESSAGE, package=repr(package), hint=INSTALL_HINT))
    if safe_join(str(package_dir), inner) is None:
        abort(404, description=_(NOT_SERVED_MESSAGE, path=repr(filename)))
    response = send_from_directory(package_dir, inner, max_age=CACHE_SECONDS)
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    """Register the blueprint and the `vendor_url` template global; warn if assets are missing."""
    app.register_blueprint(blueprint)
    app.add_template_global(vendor_url, "vendor_url")
    if app.config.get("ASSETS") != "cdn" and not NODE_MODULES.is_dir():
        app.logger.warning("node_modules is missing. %s", INSTALL_HINT)
