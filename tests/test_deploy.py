"""The production setup as shipped: real nginx with TLS in front of `mapapp serve` in production.

nginx (Debian's package) and a self-signed certificate made by openssl at test time run as in
docs/deployment.md, from the site `mapapp deploy nginx` writes; the app runs with
MAPAPP_ENV=production, so its session cookie is Secure and only works over the TLS nginx ends.
Outside CI a missing nginx, openssl or systemd-analyze skips these tests; in CI it fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from mapapp import PROJECT_ROOT, coordinators, create_app
from mapapp.deploy import HEADERS
from mapapp.web import assets
from mapapp.web.headers import PERMISSIONS_POLICY
from tests.conftest import COORDINATOR_NAME, COORDINATOR_PASSWORD
from tests.servers import MAPAPP, held_port, self_signed_certificate, serving, stop

NGINX = Path("/usr/sbin/nginx")
OPENSSL = Path("/usr/bin/openssl")
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
SHIPPED_SITE = PROJECT_ROOT / "deploy" / "nginx" / "mapapp.conf"
SHIPPED_UNIT = PROJECT_ROOT / "deploy" / "mapapp.service"
SHIPPED_ROOT = "/opt/mapapp"  # where docs/deployment.md installs the checkout
SECRET_KEY = "deploy-test-secret-key"
WORKERS = 2  # far fewer than the idle connections held
IDLE_CONNECTIONS = 50
# A liveness check, not a speed assertion: without the proxy the answer never came within 120 s.
LIVENESS_TIMEOUT_SECONDS = 10
STARTUP_SECONDS = 30
# The exposure score `systemd-analyze security` may give the unit (0 best, 10 worst), times ten.
EXPOSURE_THRESHOLD = 20
SECURITY_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security")


def require(*binaries: Path) -> None:
    """Skip the test if a program is missing, or fail it in CI."""
    for binary in binaries:
        if not binary.exists():
            message = f"{binary} is missing (apt-get install nginx openssl systemd)."
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)


def nginx_conf(folder: Path, site: Path) -> Path:
    """Write a main nginx.conf holding the site, every path in the folder (Debian's layout)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'};\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        "    sendfile on;\n"
        f"    access_log {folder / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )
    return conf


def start_nginx(folder: Path, site: Path, log: Path, error_log: Path) -> subprocess.Popen[bytes]:
    """Start nginx in the foreground on a site, with its prefix and logs in a folder."""
    conf = nginx_conf(folder, site)
    with open(log, "wb") as output:
        return subprocess.Popen(
            [str(NGINX), "-p", str(folder), "-c", str(conf), "-e", str(error_log)]
            + ["-g", "daemon off;"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a process listens on a loopback port."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}: {log.read_text()[-2000:]}")


@dataclass(frozen=True)
class Production:
    """nginx with TLS in front of `mapapp serve` in production mode."""

    url: str  # https://127.0.0.1:<nginx port>, MAPAPP_PUBLIC_URL
    http_url: str  # nginx's plain-HTTP port, which redirects
    app_url: str  # gunicorn itself
    certificate: Path
    data_dir: Path


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """Run nginx (TLS) in front of `mapapp serve` in production mode for the module's tests."""
    require(NGINX, OPENSSL)
    folder = tmp_path_factory.mktemp("production")
    data_dir = folder / "data"
    data_dir.mkdir()
    certificate, key = self_signed_certificate(folder)
    with ExitStack() as stack:
        app_port, https_port, http_port = (stack.enter_context(held_port()) for _ in range(3))
        url = f"https://127.0.0.1:{https_port}"
        env = {
            **os.environ,
            "MAPAPP_ENV": "production",
            "MAPAPP_SECRET_KEY": SECRET_KEY,
            "MAPAPP_PUBLIC_URL": url,
            "MAPAPP_PROXY_COUNT": "1",
            "MAPAPP_DATA_DIR": str(data_dir),
            "MAPAPP_GEOCODER": "offline",
        }
        site = folder / "mapapp.conf"
        written = subprocess.run(
            [str(MAPAPP), "deploy", "nginx", "--upstream", f"127.0.0.1:{app_port}"]
            + ["--http-port", str(http_port), "--address", "127.0.0.1"]
            + ["--certificate", str(certificate), "--certificate-key", str(key)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        site.write_text(written.stdout)
        app = create_app({"ENV": "testing", "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY})
        with app.app_context():
            coordinators.add_coordinator(COORDINATOR_NAME, COORDINATOR_PASSWORD)
        app.extensions["mapapp.store"].close()

        stack.enter_context(serving(data_dir, folder / "serve.log", app_port, WORKERS, env))

        nginx_log = folder / "nginx.log"
        nginx = start_nginx(folder, site, nginx_log, folder / "error.log")
        stack.callback(stop, nginx)
        wait_for_port(https_port, nginx, nginx_log)
        yield Production(
            url=url,
            http_url=f"http://127.0.0.1:{http_port}",
            app_url=f"http://127.0.0.1:{app_port}",
            certificate=certificate,
            data_dir=data_dir,
        )


@pytest.fixture
def https(production: Production) -> Iterator[requests.Session]:
    """Return an HTTP client trusting the test's certificate."""
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(production.certificate)
        yield session


# The shipped files


def test_shipped_site_is_what_the_app_writes(tmp_path: Path) -> None:
    written = subprocess.run(
        [str(MAPAPP), "deploy", "nginx", "--server-name", "events.example.org"]
        + ["--root", SHIPPED_ROOT],
        env={**os.environ, "MAPAPP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert written.stdout == SHIPPED_SITE.read_text(), (
        "deploy/nginx/mapapp.conf is out of date: write it again with "
        f"`mapapp deploy nginx --server-name events.example.org --root {SHIPPED_ROOT}`"
    )


def test_several_upstreams_are_one_upstream_block(tmp_path: Path) -> None:
    written = subprocess.run(
        [str(MAPAPP), "deploy", "nginx", "--server-name", "events.example.org"]
        + ["--upstream", "10.0.0.1:8000", "--upstream", "10.0.0.2:8000"],
        env={**os.environ, "MAPAPP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    block = re.search(r"\nupstream mapapp \{\n(.*?)\n\}\n", written.stdout, re.DOTALL)
    assert block is not None, written.stdout[:2000]
    assert block.group(1).splitlines() == [
        "    server 10.0.0.1:8000 fail_timeout=0;",
        "    server 10.0.0.2:8000 fail_timeout=0;",
    ]
    assert set(re.findall(r"proxy_pass (\S+);", written.stdout)) == {"http://mapapp"}


def test_the_site_serves_exactly_the_declared_npm_packages() -> None:
    site = SHIPPED_SITE.read_text()
    served = set(re.findall(r"location \^~ /vendor/(.+)/ \{", site))
    assert served == set(assets.declared_packages())
    for package in served:
        assert f"alias {SHIPPED_ROOT}/node_modules/{package}/;" in site
    installed = {path.name for path in assets.NODE_MODULES.iterdir() if path.is_dir()}
    assert installed - served, "node_modules should hold a package that is not served"
    assert "location ^~ /vendor/ {\n        return 404;" in site
    assert f"alias {SHIPPED_ROOT}/mapapp/static/;" in site
    # The clusters' worker script comes from the app, with the policy that lets it run.
    assert "location = /static/js/map-worker.js {\n        proxy_pass http://mapapp;" in site


def test_the_site_limits_bodies_as_the_app_does(tmp_path: Path) -> None:
    app = create_app({"ENV": "testing", "SECRET_KEY": "x", "DATA_DIR": str(tmp_path)})
    site = SHIPPED_SITE.read_text()
    general = re.findall(r"client_max_body_size (\d+);", site)
    assert general == [str(app.config["MAX_CONTENT_LENGTH"]), str(app.config["IMPORT_MAX_BYTES"])]
    assert "location = /admin/import {\n" in site


def test_shipped_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    require(SYSTEMD_ANALYZE)
    unit = SHIPPED_UNIT.read_text()
    for line in [
        "User=mapapp",
        "Environment=MAPAPP_ENV=production",
        "Environment=MAPAPP_DATA_DIR=/var/lib/mapapp",
        "Environment=MAPAPP_PROXY_COUNT=1",
        "EnvironmentFile=/etc/mapapp/mapapp.env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ]:
        assert f"\n{line}\n" in unit, line
    assert re.search(r"\nEnvironment=MAPAPP_PUBLIC_URL=https://\S+\n", unit)
    assert "MAPAPP_SECRET_KEY" not in unit.replace("MAPAPP_SECRET_KEY=<", "")  # only in the file
    # verify checks that ExecStart's program exists: point it at this checkout's.
    local = tmp_path / "mapapp.service"
    local.write_text(unit.replace(f"{SHIPPED_ROOT}/.venv/bin/mapapp", str(MAPAPP)))
    verify = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run(
        [str(SYSTEMD_ANALYZE), "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}"]
        + [str(local)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr


# Through nginx


def csrf_token(page: str) -> str:
    """Return the CSRF token of a form page."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page[:2000]
    return match.group(1)


def test_a_coordinator_signs_in_through_nginx_and_sees_the_queue(
    production: Production, https: requests.Session
) -> None:
    sign_in = https.get(production.url + "/admin/sign-in", timeout=30)
    assert sign_in.status_code == 200
    form = {
        "csrf_token": csrf_token(sign_in.text),
        "name": COORDINATOR_NAME,
        "password": COORDINATOR_PASSWORD,
    }
    signed_in = https.post(
        production.url + "/admin/sign-in", data=form, timeout=30, allow_redirects=False
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    cookie = signed_in.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    queue = https.get(production.url + "/admin/", timeout=30)
    assert queue.status_code == 200
    assert queue.url == production.url + "/admin/"
    assert "Sign out" in queue.text
    # The app's own headers come through nginx unchanged: the queue is never framed or cached.
    assert "frame-ancestors 'none'" in queue.headers["Content-Security-Policy"]
    assert queue.headers["Cache-Control"] == "no-store"
    assert queue.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_embed_stays_framable_through_nginx(
    production: Production, https: requests.Session
) -> None:
    embed = https.get(production.url + "/embed", timeout=30)
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]


def test_plain_http_redirects_to_https(production: Production) -> None:
    answer = requests.get(production.http_url + "/admin/?x=1", timeout=30, allow_redirects=False)
    assert answer.status_code == 301
    assert answer.headers["Location"] == production.url + "/admin/?x=1"


def test_a_request_for_another_host_is_refused(
    production: Production, https: requests.Session
) -> None:
    answer = https.get(production.url + "/", headers={"Host": "evil.example"}, timeout=30)
    assert answer.status_code == 400
    assert "evil.example" not in answer.headers.get("Location", "")


def open_idle_connection(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    """Open a TLS connection that sends part of a request's headers, then nothing."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection = context.wrap_socket(raw, server_hostname="127.0.0.1")
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return connection


def test_healthz_answers_while_idle_connections_are_held(
    production: Production, https: requests.Session
) -> None:
    context = ssl.create_default_context(cafile=str(production.certificate))
    port = int(production.url.rsplit(":", 1)[1])
    with ExitStack() as stack:
        for _ in range(IDLE_CONNECTIONS):
            stack.enter_context(open_idle_connection(port, context))
        answer = https.get(production.url + "/healthz", timeout=LIVENESS_TIMEOUT_SECONDS)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        page = https.get(production.url + "/", timeout=LIVENESS_TIMEOUT_SECONDS)
        assert page.status_code == 200


# What nginx answers itself


@pytest.mark.parametrize(
    ("path", "status", "cache_control"),
    [
        ("/static/css/site.css", 200, "no-cache"),
        ("/vendor/leaflet/dist/leaflet.js", 200, "public, max-age=31536000, immutable"),
        ("/vendor/kdbush/package.json", 404, "no-store"),  # installed, but not a dependency
        ("/vendor/leaflet/", 403, "no-store"),  # no listings
        ("/node_modules/leaflet/package.json", 404, "no-store"),
        ("/.git/config", 404, "no-store"),
    ],
)
def test_responses_nginx_serves_itself_carry_the_headers(
    production: Production,
    https: requests.Session,
    path: str,
    status: int,
    cache_control: str | None,
) -> None:
    answer = https.get(production.url + path, timeout=30)
    assert answer.status_code == status, answer.text[:500]
    for name in SECURITY_HEADERS:
        assert answer.headers.get(name) == HEADERS[name], name
    assert answer.headers["Permissions-Policy"] == PERMISSIONS_POLICY
    assert "Server" not in answer.headers or answer.headers["Server"] == "nginx"
    if cache_control is not None:
        assert answer.headers["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == cache_control
    if status == 200:
        local = path.replace("/static/", str(PROJECT_ROOT / "mapapp" / "static") + "/")
        local = local.replace("/vendor/", str(assets.NODE_MODULES) + "/")
        assert answer.content == Path(local).read_bytes()
    else:
        assert "nginx" not in answer.text


def test_a_body_over_the_limit_gets_nginx_413_with_the_headers(
    production: Production, https: requests.Session
) -> None:
    answer = https.post(
        production.url + "/api/events",
        data=b"x" * (64 * 1024 + 1),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.text == "The request is larger than this site accepts."
    for name in SECURITY_HEADERS:
        assert answer.headers.get(name) == HEADERS[name], name
    assert answer.headers["Content-Security-Policy"] == HEADERS["Content-Security-Policy"]


def test_nginx_without_the_app_answers_its_own_502_with_the_headers(
    production: Production, https: requests.Session, tmp_path: Path
) -> None:
    require(NGINX)
    site = tmp_path / "down.conf"
    with held_port() as dead, held_port() as https_port, held_port() as http_port:
        shipped = (production.certificate.parent / "mapapp.conf").read_text()
        old_https = production.url.rsplit(":", 1)[1]
        old_http = production.http_url.rsplit(":", 1)[1]
        upstream = re.search(r"server (127\.0\.0\.1:\d+) fail_timeout", shipped)
        assert upstream
        site.write_text(
            shipped.replace(upstream.group(1), f"127.0.0.1:{dead}")
            .replace(f"127.0.0.1:{old_https} ssl", f"127.0.0.1:{https_port} ssl")
            .replace(f"listen 127.0.0.1:{old_http};", f"listen 127.0.0.1:{http_port};")
        )
        log = tmp_path / "nginx.log"
        nginx = start_nginx(tmp_path, site, log, tmp_path / "e.log")
        try:
            wait_for_port(https_port, nginx, log)
            answer = https.get(
                f"https://127.0.0.1:{https_port}/", headers={"Host": "127.0.0.1"}, timeout=30
            )
        finally:
            stop(nginx)
    assert answer.status_code == 502
    assert answer.text == "The map is restarting; please try again in a minute."
    for name in SECURITY_HEADERS:
        assert answer.headers.get(name) == HEADERS[name], name
    assert answer.headers["Cache-Control"] == "no-store"


def test_nginx_accepts_the_shipped_site(tmp_path: Path) -> None:
    require(NGINX, OPENSSL)
    certificate, key = self_signed_certificate(tmp_path)
    site = SHIPPED_SITE.read_text()
    site = site.replace("/etc/letsencrypt/live/events.example.org/fullchain.pem", str(certificate))
    site = site.replace("/etc/letsencrypt/live/events.example.org/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    conf = nginx_conf(tmp_path, tmp_path / "site.conf")
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr
    shutil.rmtree(tmp_path / "client_body", ignore_errors=True)


def test_mapapp_admin_runs_commands_with_the_units_settings(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\n"
        '[ "$*" = "show --property=Environment --value mapapp" ] || exit 2\n'
        "echo MAPAPP_ENV=production MAPAPP_DATA_DIR=/var/lib/mapapp MAPAPP_PROXY_COUNT=1\n"
    )
    command = bin_dir / "mapapp"
    command.write_text('#!/bin/sh\necho "$* $MAPAPP_ENV $MAPAPP_DATA_DIR $MAPAPP_SECRET_KEY"\n')
    for stub in (systemctl, command):
        stub.chmod(0o755)
    env_file = tmp_path / "mapapp.env"
    env_file.write_text("MAPAPP_SECRET_KEY=from-the-file\n")
    result = subprocess.run(
        [str(PROJECT_ROOT / "deploy" / "mapapp-admin"), "backup", "/var/backups/mapapp/"],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "MAPAPP_BIN": str(command),
            "MAPAPP_ENV_FILE": str(env_file),
            "MAPAPP_USER": subprocess.run(
                ["id", "-un"], capture_output=True, text=True, check=True
            ).stdout.strip(),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "backup /var/backups/mapapp/ production /var/lib/mapapp from-the-file\n"


@pytest.mark.parametrize(
    ("path", "compressed"),
    [
        ("/static/css/map.css", True),
        ("/vendor/leaflet/dist/leaflet.js", True),
        ("/", False),  # pages hold CSRF tokens and edit links next to visitors' text: BREACH
        ("/admin/sign-in", False),
        ("/submit", False),
    ],
)
def test_nginx_compresses_files_but_never_pages(
    production: Production, https: requests.Session, path: str, compressed: bool
) -> None:
    answer = https.get(production.url + path, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert answer.status_code == 200
    assert (answer.headers.get("Content-Encoding") == "gzip") is compressed
