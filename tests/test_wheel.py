"""The built package: an sdist and the wheel built from it serve every page with no checkout.

The wheel is installed with --no-deps into a fresh venv that sees the project's dependencies
through a .pth line naming .venv's site-packages (a .pth inside a directory added that way is
not run, so .venv's editable finder for the checkout cannot leak in), and served by
`mapapp serve` from an empty directory.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path
from typing import Any

import pytest
import requests
from filelock import FileLock

from mapapp import PROJECT_ROOT, coordinators, create_app
from mapapp.web.assets import declared_packages
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD, add_valid_event
from tests.servers import SECRET_KEY, server_env, wait_until_up

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 300  # seconds, for each build step (a generous cap, not a speed assertion)
HTTP_TIMEOUT = 30
# Every URL of our own that a page names in an attribute or in its JSON configuration.
ASSET_URL = re.compile(r"""["'(](/(?:vendor|static)/[^"'()\s\\]+)""")
PUBLIC_PAGES = ("/", "/embed", "/submit", "/admin/sign-in", "/map-setup.js")
API_PAGES = ("/api/map-data.json", "/api/events.geojson", "/api/openapi.json")
ADMIN_PAGES = ("/admin/", "/admin/events", "/admin/stats", "/admin/audit", "/admin/import")
CSRF_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without anything that would put the checkout on sys.path."""
    environ = {**os.environ, **extra}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        environ.pop(name, None)
    return environ


def run(command: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run a build or install step and return it; its output is in the failure message."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


def require_npm_packages() -> None:
    """Skip (fail in CI) when node_modules lacks a package the wheel must carry."""
    missing = [
        package
        for package in sorted(declared_packages())
        if not (PROJECT_ROOT / "node_modules" / package / "package.json").is_file()
    ]
    if missing:
        message = f"npm packages {missing} are not installed: run `make install` (npm ci)."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Return a venv with the wheel installed, built once for every xdist worker of the run."""
    require_npm_packages()
    if worker_id == "master":  # no xdist
        return build_and_install(tmp_path_factory.mktemp("wheel"))
    shared = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    with FileLock(shared / "wheel.lock"):
        if (shared / "wheel" / "installed").is_file():
            return shared / "wheel" / "venv"
        shutil.rmtree(shared / "wheel", ignore_errors=True)  # a worker's failed attempt
        target = build_and_install(shared / "wheel")
        (shared / "wheel" / "installed").touch()
        return target


def build_and_install(root: Path) -> Path:
    """Build the sdist, the wheel from it, and install that in a new venv; return the venv."""
    hook = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    sdist = run([sys.executable, "-c", hook, str(root / "sdist")], cwd=PROJECT_ROOT)
    assert sdist.returncode == 0, sdist.stderr
    with tarfile.open(root / "sdist" / sdist.stdout.split()[-1]) as archive:
        archive.extractall(root / "src", filter="data")
    (source,) = (root / "src").iterdir()
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", str(root / "wheels"), str(source)],
        cwd=root,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "wheels").glob("mapapp-*.whl")

    target = root / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root
    )
    deps = Path(purelib.stdout.strip()) / "project-dependencies.pth"
    deps.write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    install = run([*pip, "--no-index", str(wheel)], cwd=root)
    assert install.returncode == 0, install.stdout + install.stderr
    return target


def test_the_wheel_carries_the_templates_and_the_declared_npm_packages_only(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "import json, mapapp, flask; from mapapp.web import assets; print(json.dumps({"
        "'mapapp': mapapp.__file__, 'flask': flask.__file__, 'templates': str(mapapp.TEMPLATES_DIR),"
        "'node_modules': str(assets.NODE_MODULES), 'package_json': str(assets.PACKAGE_JSON)}))"
    )
    result = run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    where = {name: Path(path) for name, path in json.loads(result.stdout).items()}

    package = where["mapapp"].parent
    assert package.is_relative_to(installed)  # the wheel's copy, not the checkout
    assert where["flask"].is_relative_to(sysconfig.get_path("purelib"))  # the project's deps
    assert where["templates"] == package / "templates"
    assert files_under(where["templates"]) == files_under(PROJECT_ROOT / "templates")
    assert where["node_modules"] == package / "vendor" / "node_modules"
    assert json.loads(where["package_json"].read_text())["dependencies"]
    shipped = {
        path.relative_to(where["node_modules"]).as_posix()
        for path in where["node_modules"].glob("*/package.json")
    }
    shipped |= {
        path.relative_to(where["node_modules"]).as_posix()
        for path in where["node_modules"].glob("@*/*/package.json")
    }
    assert shipped == {f"{package}/package.json" for package in declared_packages()}


def files_under(directory: Path) -> set[str]:
    """Return the relative paths of the files under a directory."""
    return {
        path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()
    }


def test_the_installed_command_geocodes_with_the_gazetteer(installed: Path, tmp_path: Path) -> None:
    command = [str(installed / "bin" / "mapapp"), "geocode", "Firenze, Italia"]
    result = run(command, cwd=tmp_path, **server_env(tmp_path / "data"))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "Florence, Italy"


def test_the_installed_wheel_serves_every_page_from_a_directory_without_a_checkout(
    installed: Path, tmp_path: Path, server_port: int
) -> None:
    data_dir, workdir = tmp_path / "data", tmp_path / "elsewhere"
    workdir.mkdir()
    app = create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY, "ENV": "testing"})
    event = add_valid_event(app.extensions["mapapp.store"])
    with app.app_context():
        coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
    base_url = f"http://127.0.0.1:{server_port}"
    command = [str(installed / "bin" / "mapapp"), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(server_port), "--workers", "1"]
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            command,
            cwd=workdir,
            env=clean_env(**server_env(data_dir)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(base_url, server)
        answers = fetch_every_page(base_url, event)
    finally:
        server.terminate()
        server.wait(timeout=30)

    log_text = (tmp_path / "serve.log").read_text(errors="replace")
    failed = {url: status for url, status in answers.items() if status != 200}
    assert failed == {}, log_text[-4000:]
    assert "Traceback" not in log_text
    vendor = {url.split("?")[0] for url in answers if url.startswith("/vendor/")}
    assert {"/vendor/leaflet/dist/leaflet.js", "/vendor/leaflet/dist/leaflet.css"} <= vendor
    assert any(url.startswith("/static/") for url in answers)
    assert f"/events/{event['id']}" in answers
    assert "/admin/stats" in answers


def fetch_every_page(base_url: str, event: dict[str, str]) -> dict[str, int]:
    """Sign in, fetch every page and every asset the pages name; return each URL's status."""
    pages = [*PUBLIC_PAGES, f"/events/{event['id']}", *API_PAGES]
    pages += [*ADMIN_PAGES, f"/admin/events/{event['id']}/edit"]
    answers: dict[str, int] = {}
    assets: set[str] = set()
    with requests.Session() as http:
        signed_in = sign_in(http, base_url)
        assert signed_in.status_code == 200 and signed_in.url.endswith("/admin/"), signed_in.url
        for page in pages:
            response = http.get(base_url + page, timeout=HTTP_TIMEOUT)
            answers[page] = response.status_code
            text = response.text.replace("\\/", "/").replace("\\u0026", "&")
            assets |= {html.unescape(url) for url in ASSET_URL.findall(text)}
        missing = http.get(base_url + "/no-such-page", timeout=HTTP_TIMEOUT)
        assert missing.status_code == 404 and "<html" in missing.text  # the error template
        for asset in sorted(assets):
            answers[asset] = http.get(base_url + asset, timeout=HTTP_TIMEOUT).status_code
    return answers


def sign_in(http: requests.Session, base_url: str) -> Any:
    """Post the real sign-in form with its CSRF token; return the page it leads to."""
    page = http.get(base_url + "/admin/sign-in", timeout=HTTP_TIMEOUT).text
    token = CSRF_TOKEN.search(page)
    assert token, "the sign-in page has no CSRF token"
    form = {"csrf_token": token.group(1), "name": COORDINATOR_NAME}
    form["password"] = COORDINATOR_PASSWORD
    return http.post(base_url + "/admin/sign-in", data=form, timeout=HTTP_TIMEOUT)


def test_a_build_without_node_modules_says_to_run_npm(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    skip = shutil.ignore_patterns("__pycache__", "templates", "vendor")
    shutil.copytree(PROJECT_ROOT / "mapapp", source / "mapapp", ignore=skip)
    shutil.copytree(PROJECT_ROOT / "templates", source / "templates")
    for name in ("setup.py", "pyproject.toml", "README.md", "package.json"):
        shutil.copyfile(PROJECT_ROOT / name, source / name)
    hook = "from setuptools import build_meta as b; b.build_wheel('dist')"

    result = run([sys.executable, "-c", hook], cwd=source)

    assert result.returncode != 0
    first = sorted(declared_packages())[0]
    assert f"The npm package {first!r}, a dependency in package.json, is not installed" in (
        result.stdout + result.stderr
    )
    assert "Run `make install` (or `npm ci`) first: npm is needed to build mapapp." in (
        result.stdout + result.stderr
    )
    assert not (source / "dist").exists() or not list((source / "dist").glob("*.whl"))
