"""Settings from defaults, MAPAPP_* variables and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapapp import create_app
from mapapp.config import ConfigError, load_settings


def test_defaults_apply_without_environment(tmp_path: Path) -> None:
    settings = load_settings({}, {"DATA_DIR": str(tmp_path)})

    assert settings["ENV"] == "development"
    assert settings["GEOCODER"] == "offline"
    assert settings["DATA_DIR"] == str(tmp_path.resolve())


def test_environment_variables_override_defaults(tmp_path: Path) -> None:
    environ = {
        "MAPAPP_DATA_DIR": str(tmp_path),
        "MAPAPP_SECRET_KEY": "from-env",
        "MAPAPP_NOMINATIM_TIMEOUT": "2.5",
    }

    settings = load_settings(environ)

    assert settings["SECRET_KEY"] == "from-env"
    assert settings["NOMINATIM_TIMEOUT"] == 2.5
    assert settings["DATA_DIR"] == str(tmp_path.resolve())


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAPAPP_SECRET_KEY is not set"):
        create_app({"ENV": "production", "DATA_DIR": str(tmp_path)})


def test_production_starts_with_a_secret_key(tmp_path: Path) -> None:
    app = create_app({"ENV": "production", "DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 64})

    assert app.config["SECRET_KEY"] == "k" * 64


def test_development_key_is_random_and_shared_by_every_process(tmp_path: Path) -> None:
    first = load_settings({}, {"DATA_DIR": str(tmp_path)})["SECRET_KEY"]
    second = load_settings({}, {"DATA_DIR": str(tmp_path)})["SECRET_KEY"]
    other = load_settings({}, {"DATA_DIR": str(tmp_path / "other")})["SECRET_KEY"]

    assert first == second
    assert first != other
    assert len(first) == 64
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAPAPP_ENV": "staging"}, "MAPAPP_ENV must be development, production or testing"),
        ({"MAPAPP_NOMINATIM_TIMEOUT": "soon"}, "MAPAPP_NOMINATIM_TIMEOUT must be a number"),
    ],
)
def test_invalid_settings_are_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**environ, "MAPAPP_DATA_DIR": str(tmp_path)})
