"""Two hosts, one truth: two `mapapp serve` behind one nginx upstream share one store and Redis.

Each host is `mapapp serve` with 2 workers in production mode (Secure session cookies, the public
address pinned to nginx's), and nginx (Debian's, TLS with a certificate made at test time) spreads
requests over both from the site `mapapp deploy nginx --upstream A --upstream B` writes. Both hosts
have the same MAPAPP_SECRET_KEY, MAPAPP_PUBLIC_URL and MAPAPP_REDIS_URL, and one store:

- postgresql: MAPAPP_DATABASE_URL, each host with a data directory of its own (nothing of the
  store's in it: what both hosts must see is in PostgreSQL, staged imports included);
- csv-shared: both on one CSV data directory, held together by the CSV store's file locks (two
  hosts with one network disk, or two servers on one machine).

8 client processes (tests/serve_clients.py, as tests/test_serve_writes.py runs them, here through
nginx) submit, edit (as coordinators and through edit links), approve one and many, reject,
place, import, withdraw, review organisers' changes and erase for a bounded time while
`mapapp import` adds events beside them. Meanwhile a witness writes through one host's own port
and reads through the other's right after the answer: the change is there at once. Then a place
search limited to N a minute is asked 2N times, alternately of each host, for one client address:
exactly N answers, then 429s. Afterwards every acknowledged change is in the store exactly once
with its audit entry, the outbox holds each notice once, and the hosts' senders (all delivering
to one SMTP server the test runs) deliver each message once.
"""

from __future__ import annotations

import html
import multiprocessing
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pandas as pd
import pytest

from tests.conftest import missing
from tests.serve_clients import (
    DAY,
    Client,
    Tally,
    admin_path,
    check_erased,
    check_messages,
    check_messages_once,
    check_store,
    errors_in_log,
    find_form,
    import_with_cli,
    read_store,
    run_client,
    seed,
)
from tests.servers import (
    MAPAPP,
    SECRET_KEY,
    STARTUP_SECONDS,
    held_port,
    self_signed_certificate,
    server_env,
    serving,
    stop,
)
from tests.smtp_server import smtp_server
from tests.test_deploy import NGINX, OPENSSL, start_nginx, wait_for_port

pytestmark = pytest.mark.slow

HOSTS = ("A", "B")
WORKERS = 2  # per host
CLIENTS = 8
SEED_STATUSES = ("pending", "approved", "rejected", "pending", "approved")  # per client
MIX_SECONDS = 60  # each client stops its schedule after this long, done or not
MIN_OPS = 5  # acknowledged operations per client, at the least, for the checks to mean much
# Each round: a submission, an approval and an edit through one host, each read on the other.
WITNESS_ROUNDS = 6
# The place search's limit, counted for one client address in Redis by both hosts. The window
# starts at the first search and the 2N searches take well under a minute: exactly N pass.
PLACE_LIMIT = 5
LIMITED_ADDRESS = "198.51.100.7"  # a documentation address: no client of the mix has it
BACKENDS = ("postgresql", "csv-shared")
# gunicorn's access log lines; less the witness's and the searches' own (each host's own port),
# they are what nginx forwarded, which round robin spreads about half and half.
ACCESS_LINE = re.compile(r'"(?:GET|POST) /[^"]*" \d+ \S+ "')
MIN_SHARE = 0.3


@dataclass
class Hosts:
    """Two hosts behind nginx: the public URL, each host's own port, data and log."""

    url: str  # https://127.0.0.1:<nginx port>, MAPAPP_PUBLIC_URL
    certificate: Path
    direct: list[str]  # http://127.0.0.1:<port> of each host
    data_dirs: list[Path]
    logs: list[Path]
    envs: list[dict[str, str]]
    settings: dict[str, str]  # the store's settings as the app takes them (DATABASE_URL)

    @property
    def public_host(self) -> str:
        """Return the public host and port, as nginx sends them to the hosts."""
        return self.url.split("://", 1)[1]


def host_env(
    data_dir: Path, url: str, database_url: str, redis_url: str, smtp_port: int
) -> dict[str, str]:
    """Return a host's environment: production, the public address, the store, Redis, SMTP."""
    env = {
        **server_env(data_dir),
        "MAPAPP_ENV": "production",  # Secure cookies: fine, every client comes in through TLS
        "MAPAPP_SECRET_KEY": SECRET_KEY,
        "MAPAPP_PUBLIC_URL": url,
        "MAPAPP_PROXY_COUNT": "1",
        "MAPAPP_REDIS_URL": redis_url,
        "MAPAPP_PLACE_SEARCH_RATE_LIMIT": f"{PLACE_LIMIT} per minute",
        # Every host's senders deliver to one server, as in production (not .eml files, which
        # each host would write, and erase, in its own data directory).
        "MAPAPP_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    if database_url:
        env["MAPAPP_DATABASE_URL"] = database_url
    return env


@contextmanager
def two_hosts(
    folder: Path, database_url: str, redis_url: str, smtp_port: int, seeded: Any
) -> Iterator[tuple[Hosts, list[str]]]:
    """Run two hosts on one store behind one nginx; yield them and the seeded event ids.

    Without a database_url both hosts share one CSV data directory. seeded(data_dir, settings)
    stores what the test starts from, before the hosts start.
    """
    certificate, key = self_signed_certificate(folder)
    shared = folder / "data"
    data_dirs = [folder / f"data-{name}" for name in HOSTS] if database_url else [shared] * 2
    for data_dir in data_dirs:
        data_dir.mkdir(exist_ok=True)
    settings = {"DATABASE_URL": database_url} if database_url else {}
    ids = seeded(data_dirs[0], settings)
    with ExitStack() as stack:
        ports = [stack.enter_context(held_port()) for _ in HOSTS]
        https_port, http_port = (stack.enter_context(held_port()) for _ in range(2))
        url = f"https://127.0.0.1:{https_port}"
        envs = [
            host_env(data_dir, url, database_url, redis_url, smtp_port) for data_dir in data_dirs
        ]
        upstreams = [option for port in ports for option in ("--upstream", f"127.0.0.1:{port}")]
        written = subprocess.run(
            [str(MAPAPP), "deploy", "nginx", *upstreams, "--http-port", str(http_port)]
            + ["--address", "127.0.0.1", "--certificate", str(certificate)]
            + ["--certificate-key", str(key)],
            env=envs[0],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        site = folder / "mapapp.conf"
        site.write_text(written.stdout)
        logs = [folder / f"serve-{name}.log" for name in HOSTS]
        direct = []
        for port, log, env, data_dir in zip(ports, logs, envs, data_dirs, strict=True):
            base_url, _process = stack.enter_context(serving(data_dir, log, port, WORKERS, env))
            direct.append(base_url)
        nginx_log = folder / "nginx.log"
        nginx = start_nginx(folder, site, nginx_log, folder / "error.log")
        stack.callback(stop, nginx)
        wait_for_port(https_port, nginx, nginx_log)
        yield Hosts(url, certificate, direct, data_dirs, logs, envs, settings), ids


def direct_client(hosts: Hosts, index: int, name: str, cookies: str = "") -> Client:
    """Return a client of one host's own port, its requests addressed as nginx forwards them.

    cookies (a Cookie header) carries a session signed in through nginx: the session cookie is
    Secure, so a client never sends it over plain http by itself.
    """
    client = Client(hosts.direct[index], name, certificate=str(hosts.certificate))
    client.http.headers.update(
        {
            "Host": hosts.public_host,
            "X-Forwarded-Host": hosts.public_host,
            "X-Forwarded-Port": hosts.public_host.rsplit(":", 1)[1],
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "127.0.0.1",  # and the same agent: sessions are bound to both
        }
    )
    if cookies:
        client.http.headers["Cookie"] = cookies
    return client


@dataclass
class Witness:
    """Writes through one host's own port and reads right after on the other's."""

    hosts: Hosts
    rounds: int = WITNESS_ROUNDS
    unseen: list[str] = field(default_factory=list)  # what a host did not show at once
    checked: int = 0
    clients: list[Client] = field(default_factory=list)  # one of each host's own port
    links: list[tuple[str, str]] = field(default_factory=list)  # (event id, edit path)
    error: str = ""

    def run(self) -> None:
        """Sign in through nginx, then do every round, alternating the writing host."""
        try:
            signed_in = Client(self.hosts.url, "witness", certificate=str(self.hosts.certificate))
            with signed_in.http:
                signed_in.sign_in()
                cookies = "; ".join(f"{c.name}={c.value}" for c in signed_in.http.cookies)
            self.clients = [
                direct_client(self.hosts, index, "witness", cookies) for index in range(2)
            ]
            for number in range(self.rounds):
                self.round(number, self.clients[number % 2], self.clients[1 - number % 2])
        except Exception as exc:  # reported by the test, which runs this in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            for client in self.clients:
                client.http.close()

    def report(self) -> dict[str, Any]:
        """Return the witness's changes as a client of the mix reports its own."""
        clients = self.clients
        # Each event's changes are made through one host: the order within a client is enough.
        changes = [change for client in clients for change in client.changes]
        return {
            "statuses": dict(sum((Counter(client.statuses) for client in clients), Counter())),
            "cut_offs": sum(client.cut_offs for client in clients),
            "cut_posts": sum(client.cut_posts for client in clients),
            "conflicts": sum(client.conflicts for client in clients),
            "anomalies": [anomaly for client in clients for anomaly in client.anomalies],
            "changes": changes,
            "created": [event_id for client in clients for event_id in client.created],
            "imported": [],
            "erased": [],
            "links": self.links,
            "ops": dict(Counter(f"witness {change[1]}" for change in changes)),
            "done_before": {},
        }

    def seen(self, reader: Client, path: str, text: str, what: str) -> None:
        """Note it if the reader's host does not answer path with text in it at once."""
        self.checked += 1
        response = reader.request("GET", path)
        if response is None or response.status_code != 200 or text not in response.text:
            status = None if response is None else response.status_code
            self.unseen.append(f"{what}: GET {path} on {reader.base_url} gave {status}")

    def round(self, number: int, writer: Client, reader: Client) -> None:
        """Submit, approve and edit an event through the writer; read each change on the reader."""
        title = f"Witness round {number} through {writer.base_url}"
        body = {
            "title": title,
            "category": "online",
            "format": "online",
            "country": "KE",
            "starts_at": f"{DAY}T11:00",
            "organiser": "Witness",
            "contact_email": "witness@example.org",
            "language": "en",
            "consent": True,
        }
        created = writer.request("POST", "/api/events", json=body)
        assert created is not None and created.status_code == 201, created
        event_id = created.json()["id"]
        writer.created.append(event_id)
        self.links.append((event_id, urlsplit(created.json()["edit_url"]).path))
        writer.note("ack", "submit", "organiser", [(event_id, "title", title)])
        self.seen(
            reader,
            "/admin/?" + urlencode({"q": title}),
            html.escape(title),
            f"submission {event_id}",
        )
        self.seen(reader, admin_path(event_id), html.escape(title), f"submission {event_id}")

        form = find_form(writer.page(admin_path(event_id)) or "")
        assert form is not None, writer.anomalies
        seen = form.values()
        data = {"csrf_token": seen["csrf_token"], "version": seen["version"]}
        approved = writer.request("POST", f"/admin/events/{event_id}/approve", data=data)
        assert approved is not None and approved.status_code == 303, approved
        writer.note("ack", "approve", "witness", [(event_id, "status", "approved")])
        self.seen(reader, f"/events/{event_id}", html.escape(title), f"approval of {event_id}")
        self.seen(reader, f"/api/events/{event_id}.json", title, f"approval of {event_id}")

        edited_title = f"{title}, edited"
        form = find_form(writer.page(admin_path(event_id)) or "")
        assert form is not None, writer.anomalies
        edited = writer.request(
            "POST", admin_path(event_id), data={**form.values(), "title": edited_title}
        )
        assert edited is not None and edited.status_code == 303, edited
        writer.note("ack", "edit", "witness", [(event_id, "title", edited_title)])
        escaped = html.escape(edited_title)
        self.seen(reader, f"/events/{event_id}", escaped, f"edit of {event_id}")
        self.seen(reader, f"/api/events/{event_id}.json", edited_title, f"edit of {event_id}")
        self.seen(reader, "/api/map-labels.json", edited_title, f"edit of {event_id}")


def limited_searches(hosts: Hosts) -> list[tuple[str, int]]:
    """Ask the place search 2N times for one client address, alternately of each host."""
    clients = [direct_client(hosts, index, "searcher") for index in range(2)]
    answers = []
    try:
        for number in range(2 * PLACE_LIMIT):
            client = clients[number % 2]
            client.http.headers["X-Forwarded-For"] = LIMITED_ADDRESS
            response = client.request("GET", "/places/search?q=Nairobi&country=KE")
            answers.append((HOSTS[number % 2], -1 if response is None else response.status_code))
    finally:
        for client in clients:
            client.http.close()
    return answers


def check_deliveries(outbox: list[dict[str, str]], delivered: list[EmailMessage]) -> list[str]:
    """Return the messages the SMTP server got twice, and sent rows it never got.

    A message of an erased event may have been delivered before the erase forgot its row.
    """
    received = Counter(str(message["Message-ID"]) for message in delivered)
    problems = [
        f"{found} delivered {count} times" for found, count in received.items() if count > 1
    ]
    problems += [
        f"message {row['id']} ({row['kind']}) sent, never delivered"
        for row in outbox
        if row["status"] == "sent" and row["message_id"] not in received
    ]
    return problems


def stored_tables(hosts: Hosts, folder: Path) -> Path:
    """Return a data directory holding the store's tables as CSV (PostgreSQL's exported)."""
    if not hosts.settings:
        return hosts.data_dirs[0]
    exported = folder / "exported"
    done = subprocess.run(
        [str(MAPAPP), "db", "export-csv", str(exported)],
        env=hosts.envs[0],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return exported


def database_url_for(backend: str, request: pytest.FixtureRequest) -> str:
    """Return the URL of a PostgreSQL schema of the test's own, or "" for the CSV store."""
    if backend != "postgresql":
        return ""
    from mapapp.cli import cli

    if "db" not in cli.commands:  # type: ignore[attr-defined]
        pytest.skip("The PostgreSQL store (issue 14, part 1) is not on this branch yet.")
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_hosts_behind_one_nginx_keep_one_truth(
    backend: str, tmp_path: Path, redis_url: str, request: pytest.FixtureRequest
) -> None:
    for program in (NGINX, OPENSSL):
        if not program.exists():
            missing(f"{program} is missing: install Debian's nginx and openssl.")
    database_url = database_url_for(backend, request)
    started = time.monotonic()
    names = [f"coordinator-{number}" for number in range(CLIENTS)] + ["witness"]
    statuses = [SEED_STATUSES[n // CLIENTS] for n in range(CLIENTS * len(SEED_STATUSES))]
    owned = [
        [(n, statuses[n]) for n in range(number, len(statuses), CLIENTS)]
        for number in range(CLIENTS)
    ]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.serve_clients"])
    start = context.Barrier(CLIENTS + 1)
    results = context.Queue()
    reports: list[dict[str, Any]] = []
    processes = []

    def seeded(data_dir: Path, settings: dict[str, str]) -> list[str]:
        return seed(data_dir, statuses, names, settings)

    with (
        smtp_server() as (recorder, smtp_port),
        two_hosts(tmp_path, database_url, redis_url, smtp_port, seeded) as (hosts, ids),
    ):
        witness = Witness(hosts)
        watcher = threading.Thread(target=witness.run)
        try:
            for number in range(CLIENTS):
                mine = [(ids[n], status) for n, status in owned[number]]
                arguments = (hosts.url, number, mine, start, results)
                process = context.Process(
                    target=run_client,
                    args=arguments,
                    kwargs={"seconds": MIX_SECONDS, "certificate": str(hosts.certificate)},
                )
                process.start()
                processes.append(process)
            try:
                start.wait(timeout=STARTUP_SECONDS)
            except threading.BrokenBarrierError:
                pass  # a client failed to start: its report says why
            watcher.start()
            cli_titles = import_with_cli(hosts.data_dirs[1], tmp_path, hosts.envs[1])
            for _ in range(CLIENTS):
                reports.append(results.get(timeout=MIX_SECONDS + 240))
            watcher.join(timeout=120)
            searches = limited_searches(hosts)
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=10)
            results.close()
            results.join_thread()
        tables = stored_tables(hosts, tmp_path)
    load_seconds = time.monotonic() - started

    failed = [report["error"] for report in reports if "error" in report]
    assert not failed, "\n".join(failed)
    assert witness.error == ""
    events, entries = read_store(tables)
    tally = Tally([*reports, witness.report()], cli_titles)
    logged = [len(ACCESS_LINE.findall(log.read_text(errors="replace"))) for log in hosts.logs]
    direct = [sum(client.statuses.values()) + PLACE_LIMIT for client in witness.clients]
    served = [count - own for count, own in zip(logged, direct, strict=True)]
    print(
        f"\n{backend}: {tally.summary()}\nand a CLI import of {len(cli_titles)} events through "
        f"host B; the witness read {witness.checked} changes on the other host; {len(events)} "
        f"events stored, {len(entries)} audit entries; {len(recorder.messages)} messages "
        f"delivered; requests nginx sent to A and B: {served}; "
        f"place searches: {searches}; {load_seconds:.1f} s until the hosts stopped"
    )

    assert min(served) >= MIN_SHARE * sum(served), f"nginx did not spread the load: {served}"
    assert witness.unseen == []
    assert witness.checked == WITNESS_ROUNDS * 7
    assert [code for _host, code in searches] == [200] * PLACE_LIMIT + [429] * PLACE_LIMIT
    assert check_store(tally, events, entries) == []
    assert [line for log in hosts.logs for line in errors_in_log(log)] == []
    folders = sorted({tables, *hosts.data_dirs})
    erased = [check_erased(folder, tally.erased, tally.erased_values) for folder in folders]
    assert [found for problems in erased for found in problems] == []
    outbox = pd.read_csv(
        tables / "outbox.csv", dtype=str, keep_default_na=False, na_filter=False
    ).to_dict("records")
    assert check_messages(tally.changes, outbox) == []
    assert check_messages_once(tally.changes, outbox) == []
    assert check_deliveries(outbox, recorder.messages) == []
    assert recorder.messages, "no message was delivered: the check above meant nothing"
    assert sum(tally.ops.values()) >= CLIENTS * MIN_OPS, "the clients did too little to tell"
