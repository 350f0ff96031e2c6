"""The nginx site that serves a published directory (`mapapp publish DIR`) with no app behind it.

nginx serves the files as they are: `index.html` for `/` and `/fr/`, `x.json.gz` for `x.json`
when the client takes gzip (`gzip_static`), an event's page at `/events/<id>.html` and also at
`/events/<id>` (the app's address, which the calendar files' URL names). Every answer carries the
app's security headers: pages the app's page policy (the embed may be framed anywhere, other
pages by this site only), everything else the policy of a body that is not a page. The
publisher's own files (its manifest and temporary folder, names starting with a dot) are never
served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from mapapp.deploy import TLS_CIPHERS
from mapapp.web import assets
from mapapp.web.headers import (
    HSTS,
    NOT_A_PAGE_POLICY,
    PERMISSIONS_POLICY,
    WORKER_SCRIPTS,
    content_security_policy,
    worker_policy,
)

PAGE_CACHE = "no-cache"  # pages and data change with each publish: browsers revalidate (a 304)
VENDOR_CACHE = f"public, max-age={assets.CACHE_SECONDS}, immutable"  # the URL has the version
# What nginx compresses on the fly: pages (the data files are gzipped once, by the publisher).
GZIP_TYPES = "text/css application/javascript application/json text/calendar image/svg+xml"

SITE_TEMPLATE = """\
# The published site of mapapp (static files, no app behind them).
# Written by: mapapp deploy published-site{{ arguments }}
# Publish into {{ site.root }} with `mapapp publish {{ site.root }}`; see docs/scaling.md.

map $uri $mapapp_site_csp {
{% for script in worker_scripts %}    "~(^|/)static/{{ script | replace(".", "\\\\.") }}$" {{ quote(worker_policy) }};
{% endfor %}    "~(^|/)embed/(index\\.html)?$" {{ quote(embed_policy) }};
    "~(/|\\.html)$" {{ quote(page_policy) }};
    "~^/events/[^/.]+$" {{ quote(page_policy) }};
    default {{ quote(not_a_page) }};
}
map $uri $mapapp_site_frame_options {
    "~(^|/)embed/(index\\.html)?$" "";
    "~(/|\\.html)$" "SAMEORIGIN";
    "~^/events/[^/.]+$" "SAMEORIGIN";
    default "DENY";
}
map $uri $mapapp_site_cache {
    "~^/vendor/" {{ quote(vendor_cache) }};
    default {{ quote(page_cache) }};
}

server {
{{ listen }}
    server_name {{ site.server_name }};
    server_tokens off;
{% if site.certificate %}
    ssl_certificate {{ site.certificate }};
    ssl_certificate_key {{ site.certificate_key }};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {{ ciphers }};
    ssl_prefer_server_ciphers off;
{% endif %}
    root {{ site.root }};
    index index.html;
    charset utf-8;
    charset_types text/css application/javascript application/json text/calendar;
    gzip_static on;
    gzip on;
    gzip_types {{ gzip_types }};
    gzip_vary on;
    etag on;

    add_header Content-Security-Policy $mapapp_site_csp always;
    add_header X-Frame-Options $mapapp_site_frame_options always;
    add_header X-Content-Type-Options "nosniff" always;
    add_header Referrer-Policy "strict-origin-when-cross-origin" always;
    add_header Permissions-Policy {{ quote(permissions) }} always;
    add_header Cross-Origin-Opener-Policy "same-origin" always;
    add_header Cache-Control $mapapp_site_cache always;
{% if site.certificate %}    add_header Strict-Transport-Security {{ quote(hsts) }} always;
{% endif %}
    # The publisher's manifest and temporary folder.
    location ~ /\\. {
        return 404;
    }
    location ~ \\.ics$ {
        types { }
        default_type "text/calendar; charset=utf-8";
    }
    location ~ \\.geojson$ {
        types { }
        default_type "application/geo+json";
    }
    location / {
        try_files $uri $uri.html $uri/ =404;
    }
}
"""


@dataclass(frozen=True)
class PublishedSite:
    """Where the published directory is and how nginx listens for it."""

    root: Path
    server_name: str = "_"
    port: int = 80
    address: str = ""
    certificate: str = ""
    certificate_key: str = ""


def render_published_site(
    site: PublishedSite, config: Mapping[str, Any], arguments: str = ""
) -> str:
    """Return the nginx server block serving a published directory with the app's headers."""

    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    options = " ssl" if site.certificate else ""
    if site.address:
        listen = f"    listen {site.address}:{site.port}{options};"
    else:
        listen = f"    listen {site.port}{options};\n    listen [::]:{site.port}{options};"
    environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(SITE_TEMPLATE).render(
        site=site,
        arguments=f" {arguments}" if arguments else "",
        listen=listen,
        quote=quote,
        ciphers=TLS_CIPHERS,
        page_policy=content_security_policy(config, frame_ancestors="'self'"),
        embed_policy=content_security_policy(config, frame_ancestors="*"),
        not_a_page=NOT_A_PAGE_POLICY,
        worker_scripts=sorted(WORKER_SCRIPTS),
        worker_policy=worker_policy(config),
        permissions=PERMISSIONS_POLICY,
        hsts=HSTS,
        page_cache=PAGE_CACHE,
        vendor_cache=VENDOR_CACHE,
        gzip_types=GZIP_TYPES,
    )
