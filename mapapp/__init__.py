"""mapapp: the interactive world map of Rare Disease Day events."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# A checkout (pyproject.toml beside the package) keeps templates/ and node_modules/ at the top; an
# installed wheel carries copies inside the package, made by setup.py at build time.
FROM_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
TEMPLATES_DIR = (PROJECT_ROOT if FROM_CHECKOUT else PACKAGE_DIR) / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app from defaults, MAPAPP_* environment variables and the given overrides."""
    from mapapp import api_keys, coordinators, digest, drafts, geocoding, i18n, mail, storage, web
    from mapapp.config import load_settings
    from mapapp.web import limits
    from mapapp.web.languages import App

    app: Flask = App(__name__, template_folder=str(TEMPLATES_DIR))
    app.config.update(load_settings(overrides=config))
    i18n.init_app(app)
    storage.init_app(app)
    geocoding.init_app(app)
    coordinators.init_app(app)
    api_keys.init_app(app)
    drafts.init_app(app)
    mail.init_app(app)
    digest.init_app(app)
    limits.init_app(app)
    web.init_app(app)
    return app
