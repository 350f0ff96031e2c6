"""Settings from defaults, MAPAPP_* variables and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapapp import PROJECT_ROOT, config, create_app
from mapapp.config import ConfigError, load_settings
from mapapp.storage import get_store_of
from tests.conftest import change, make_event

PUBLIC = "https://events.example.org"


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
        create_app({"ENV": "production", "DATA_DIR": str(tmp_path), "PUBLIC_URL": PUBLIC})


def test_production_refuses_to_start_without_a_public_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAPAPP_PUBLIC_URL is not set"):
        create_app({"ENV": "production", "DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 64})


def test_production_starts_with_a_secret_key_and_public_url(tmp_path: Path) -> None:
    app = create_app(
        {
            "ENV": "production",
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "k" * 64,
            "PUBLIC_URL": PUBLIC + "/",
        }
    )

    assert app.config["SECRET_KEY"] == "k" * 64
    assert app.config["PUBLIC_URL"] == PUBLIC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("events.example.org", "must be an http or https address"),
        ("ftp://events.example.org", "must be an http or https address"),
        ("https://events.example.org/map", "the site's origin alone"),
        ("https://events.example.org?x=1", "the site's origin alone"),
        ("https://events.example.org:port", "invalid port"),
    ],
)
def test_a_public_url_that_is_not_an_origin_is_named(
    tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"MAPAPP_PUBLIC_URL": value, "MAPAPP_DATA_DIR": str(tmp_path)})


def test_development_key_is_made_at_the_first_request_and_shared(tmp_path: Path) -> None:
    app = create_app({"DATA_DIR": str(tmp_path)})
    assert not (tmp_path / ".secret_key").exists()  # loading the app writes no key

    app.test_client().get("/")
    first = (tmp_path / ".secret_key").read_text()
    second = load_settings({}, {"DATA_DIR": str(tmp_path)})["SECRET_KEY"]
    other = create_app({"DATA_DIR": str(tmp_path / "other")})
    other.test_client().get("/")

    assert app.config["SECRET_KEY"] == first == second
    assert (tmp_path / "other" / ".secret_key").read_text() != first
    assert len(first) == 64
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0


def test_the_data_directory_is_the_checkouts_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    settings = load_settings({})

    assert settings["DATA_DIR"] == str(PROJECT_ROOT / "data")
    assert not list(tmp_path.iterdir())


def test_outside_a_checkout_an_unset_data_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "CHECKOUT_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError, match="MAPAPP_DATA_DIR is not set"):
        load_settings({})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("mode", "expected"), [("", 0o600), ("0600", 0o600), ("0640", 0o640), ("640", 0o640)]
)
def test_data_files_are_created_with_the_configured_mode(
    tmp_path: Path, mode: str, expected: int
) -> None:
    environ = {"MAPAPP_DATA_FILE_MODE": mode} if mode else {}
    app = create_app({**load_settings(environ, {"DATA_DIR": str(tmp_path)}), "SECRET_KEY": "k"})
    store = get_store_of(app)
    store.add(make_event())
    change(store, store.frame()["id"].iloc[0], {"title": "Changed"})

    for name in ("events.csv", "audit.csv", "events.csv.lock"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name


@pytest.mark.parametrize("mode", ["0644", "0666", "rw", "0700"])
def test_a_data_file_mode_readable_by_everyone_is_refused(tmp_path: Path, mode: str) -> None:
    with pytest.raises(ConfigError, match="MAPAPP_DATA_FILE_MODE must be 0600 or 0640"):
        load_settings({"MAPAPP_DATA_FILE_MODE": mode, "MAPAPP_DATA_DIR": str(tmp_path)})


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
