"""The nginx site in front of `mapapp serve`, written from the app so that it cannot drift from it.

nginx holds every client connection, reads whole requests (headers within seconds, bodies up to
the app's own limits) and buffers whole responses, so a gunicorn worker is only ever busy with a
complete request and never waits for a slow or idle client: the slowloris fix. It also serves
the static files and the allowlisted npm packages (`/vendor/<package>/...`, the dependencies of
package.json, never the rest of node_modules) itself, with the app's security headers on them and
on its own error pages. Proxied responses keep the headers the app set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from jinja2 import Environment, StrictUndefined

from mapapp import PROJECT_ROOT
from mapapp.web import assets
from mapapp.web.headers import HSTS, NOT_A_PAGE_POLICY, PERMISSIONS_POLICY, WORKER_SCRIPTS

DEFAULT_UPSTREAM = "127.0.0.1:8000"
DEFAULT_HTTPS_PORT = 443
DEFAULT_HTTP_PORT = 80
CERTIFICATE = "/etc/letsencrypt/live/{server_name}/fullchain.pem"
CERTIFICATE_KEY = "/etc/letsencrypt/live/{server_name}/privkey.pem"
ACME_ROOT = "/var/www/html"  # Debian's default site serves it: certbot --webroot works before ours
IMPORT_PATH = "/admin/import"
# gunicorn's request timeout (mapapp serve --timeout) plus a margin: the app answers first.
PROXY_READ_TIMEOUT_SECONDS = 130
# Mozilla's "intermediate" TLS configuration (TLS 1.2 ciphers; TLS 1.3 chooses its own).
TLS_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
    ]
)
# What nginx answers itself instead of its default pages (which name its version).
ERROR_PAGES: dict[int, str] = {
    400: "The request could not be understood.",
    403: "Nothing is served at this address.",
    404: "Nothing is served at this address.",
    405: "This address does not take that method.",
    413: "The request is larger than this site accepts.",
    414: "The address is too long.",
    494: "The request's headers are too large.",
    500: "Something went wrong on our side; please try again in a minute.",
    502: "The map is restarting; please try again in a minute.",
    503: "The map is busy; please try again in a minute.",
    504: "The map took too long to answer; please try again in a minute.",
}
# Every response nginx makes itself: nothing in it may run, be framed or be sniffed.
HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Strict-Transport-Security": HSTS,
    "Content-Security-Policy": NOT_A_PAGE_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
}
STATIC_CACHE = "no-cache"  # /static/ URLs carry no version: browsers revalidate (a 304)
VENDOR_CACHE = f"public, max-age={assets.CACHE_SECONDS}, immutable"  # the URL has the version

SITE_TEMPLATE = """\
# mapapp behind nginx: TLS, buffering, timeouts, static files and allowlisted npm packages.
# Written by: mapapp deploy nginx{{ arguments }}
# Write it again after an upgrade: the allowlist of npm packages follows package.json.
# See docs/deployment.md.

upstream mapapp {
{% for upstream in site.upstreams %}    server {{ upstream }} fail_timeout=0;
{% endfor %}}

# Security headers: the app's own on what it answers (it sends a CSP with everything), nginx's on
# what nginx answers itself (static and vendor files, its error pages, a 502 while restarting).
{% for name, variable, default in header_maps %}map $upstream_http_content_security_policy {{ variable }} {
    "" {{ quote(default) }};
    default $upstream_http_{{ name.lower().replace("-", "_") }};
}
{% endfor %}map "$upstream_http_content_security_policy|$uri" $mapapp_cache_control {
    "~^\\|/vendor/" {{ quote(vendor_cache) }};
    "~^\\|/static/" {{ quote(static_cache) }};
    "~^\\|" "no-store";
    default "";
}

server {
{{ listen(site.http_port, "") }}
    server_name {{ site.server_name }};
    server_tokens off;

    location ^~ /.well-known/acme-challenge/ {
        root {{ site.acme_root }};
    }

    location / {
        return 301 https://$host{{ https_suffix }}$request_uri;
    }
}

server {
{{ listen(site.https_port, " ssl http2") }}
    server_name {{ site.server_name }};
    server_tokens off;

    ssl_certificate {{ site.certificate }};
    ssl_certificate_key {{ site.certificate_key }};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {{ ciphers }};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:mapapp_tls:10m;
    ssl_session_tickets off;

    # A client has this long to send its request's headers, and between two reads of its body,
    # then is dropped: idle or trickling connections cost nginx a few KB, never a gunicorn worker.
    client_header_timeout 10s;
    client_body_timeout 10s;
    keepalive_timeout 15s;
    send_timeout 30s;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 8k;
    # The app's MAPAPP_MAX_CONTENT_LENGTH; the import has its own limit below.
    client_max_body_size {{ site.max_body_bytes }};
    client_body_buffer_size {{ site.max_body_bytes }};

    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 5;
    gzip_min_length 1024;
    gzip_types text/css text/javascript application/javascript application/json
               application/geo+json image/svg+xml text/csv text/calendar application/xml;

    # Whole requests to the app, whole responses from it (large exports spill to disk), so a
    # worker is free as soon as it has answered, however slowly the client reads.
    proxy_http_version 1.1;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_buffer_size 16k;
    proxy_buffers 64 32k;
    proxy_busy_buffers_size 64k;
    proxy_connect_timeout 5s;
    proxy_send_timeout 30s;
    proxy_read_timeout {{ read_timeout }}s;
    # The app trusts one proxy's X-Forwarded-* (MAPAPP_PROXY_COUNT=1) and pins the host to
    # MAPAPP_PUBLIC_URL's: the host is always sent with its port, the client's address as seen.
    proxy_set_header Host $host:$server_port;
    proxy_set_header X-Forwarded-Host $host:$server_port;
    proxy_set_header X-Forwarded-Port $server_port;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header Connection "";

{% for name, variable, _ in header_maps %}    proxy_hide_header {{ name }};
    add_header {{ name }} {{ variable }} always;
{% endfor %}    add_header Cache-Control $mapapp_cache_control always;

{% for code, _ in error_pages %}    error_page {{ code }} /_mapapp_nginx/{{ code }};
{% endfor %}
    # No compression of the app's pages: the forms and edit pages hold CSRF tokens and edit links
    # next to text a visitor chose (BREACH). Public data files are compressed (below); the API's
    # bodies come compressed from the app.
    location / {
        gzip off;
        proxy_pass http://mapapp;
    }

    location ~ /\\. {
        return 404;
    }

    location ~ \\.(csv|ics|json|geojson|js)$ {
        proxy_pass http://mapapp;
    }

    location = {{ import_path }} {
        # MAPAPP_IMPORT_MAX_BYTES: spreadsheets for the coordinators' import.
        client_max_body_size {{ site.import_max_bytes }};
        gzip off;
        proxy_pass http://mapapp;
    }

    location ^~ /admin/ {
        gzip off;
        proxy_pass http://mapapp;
    }

    location ^~ /static/ {
        alias {{ site.static_dir }}/;
    }

    # A Web Worker runs under its own script's CSP: the app sends the map's worker script with
    # one that lets it load Supercluster (web/headers.py), not the static files' "nothing runs".
{% for script in worker_scripts %}    location = /static/{{ script }} {
        proxy_pass http://mapapp;
    }
{% endfor %}
    # The npm packages the app serves: package.json's dependencies, nothing else of node_modules.
    location ^~ /vendor/ {
        return 404;
    }
{% for package, directory in site.vendor_dirs.items() %}    location ^~ /vendor/{{ package }}/ {
        alias {{ directory }}/;
    }
{% endfor %}
    location ^~ /node_modules/ {
        return 404;
    }

    # nginx's own error pages instead of its default ones (which name its version).
{% for code, message in error_pages %}    location = /_mapapp_nginx/{{ code }} {
        internal;
        default_type text/plain;
        return {{ code }} {{ quote(message) }};
    }
{% endfor %}}
"""


@dataclass(frozen=True)
class NginxSite:
    """What the nginx site needs to know: names, addresses, files and limits."""

    server_name: str
    static_dir: Path
    vendor_dirs: Mapping[str, Path] = field(default_factory=dict)
    # Every `mapapp serve` nginx spreads requests over (hosts sharing one database and Redis).
    upstreams: tuple[str, ...] = (DEFAULT_UPSTREAM,)
    https_port: int = DEFAULT_HTTPS_PORT
    http_port: int = DEFAULT_HTTP_PORT
    certificate: str = ""
    certificate_key: str = ""
    max_body_bytes: int = 64 * 1024
    import_max_bytes: int = 20 * 1024 * 1024
    acme_root: str = ACME_ROOT
    address: str = ""  # listen on this address only ("": every IPv4 and IPv6 address)


def site_for(
    app: Flask,
    *,
    server_name: str,
    upstreams: Sequence[str] = (DEFAULT_UPSTREAM,),
    https_port: int = DEFAULT_HTTPS_PORT,
    http_port: int = DEFAULT_HTTP_PORT,
    certificate: str = "",
    certificate_key: str = "",
    address: str = "",
    root: Path | None = None,
) -> NginxSite:
    """Return the site of this app: its static folder, its allowlisted packages and limits.

    root writes the paths as if the checkout were installed there (a site made elsewhere).
    """

    def placed(path: Path) -> Path:
        path = path.resolve()
        if root is None or not path.is_relative_to(PROJECT_ROOT):
            return path
        return root / path.relative_to(PROJECT_ROOT)

    max_body = int(app.config["MAX_CONTENT_LENGTH"])
    return NginxSite(
        server_name=server_name,
        static_dir=placed(Path(str(app.static_folder))),
        vendor_dirs={
            package: placed(assets.NODE_MODULES / package)
            for package in sorted(assets.declared_packages())
        },
        upstreams=tuple(upstreams),
        https_port=https_port,
        http_port=http_port,
        certificate=certificate or CERTIFICATE.format(server_name=server_name),
        certificate_key=certificate_key or CERTIFICATE_KEY.format(server_name=server_name),
        max_body_bytes=max_body,
        import_max_bytes=int(app.config.get("IMPORT_MAX_BYTES", max_body)),
        address=address,
    )


def render_nginx_site(site: NginxSite, arguments: str = "") -> str:
    """Return the nginx configuration of a site (an upstream and two server blocks)."""

    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def listen(port: int, options: str) -> str:
        if site.address:
            return f"    listen {site.address}:{port}{options};"
        return f"    listen {port}{options};\n    listen [::]:{port}{options};"

    environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    template = environment.from_string(SITE_TEMPLATE)
    https_suffix = "" if site.https_port == DEFAULT_HTTPS_PORT else f":{site.https_port}"
    return template.render(
        site=site,
        arguments=f" {arguments}" if arguments else "",
        https_suffix=https_suffix,
        ciphers=TLS_CIPHERS,
        read_timeout=PROXY_READ_TIMEOUT_SECONDS,
        import_path=IMPORT_PATH,
        error_pages=sorted(ERROR_PAGES.items()),
        header_maps=[
            (name, "$mapapp_" + name.lower().replace("-", "_"), value)
            for name, value in HEADERS.items()
        ],
        listen=listen,
        quote=quote,
        static_cache=STATIC_CACHE,
        worker_scripts=sorted(WORKER_SCRIPTS),
        vendor_cache=VENDOR_CACHE,
    )
