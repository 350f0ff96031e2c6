"""The mapapp command and its subcommands."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from flask import Flask
from flask.cli import FlaskGroup, run_command, with_appcontext

from mapapp import create_app

if TYPE_CHECKING:
    from mapapp.storage import Store

DEFAULT_WORKERS = 4
DEFAULT_TIMEOUT_SECONDS = 120
# gunicorn worker types mapapp serve offers, and the one measured best behind nginx (see
# docs/performance.md, "mapapp serve behind nginx").
WORKER_CLASSES = ("sync", "gthread")
DEFAULT_WORKER_CLASS = "gthread"
DEFAULT_THREADS = 4


PRODUCTION_HINT = (
    "`mapapp serve` is the production server, and MAPAPP_ENV is {env!r}. For production set "
    "MAPAPP_ENV=production, MAPAPP_SECRET_KEY, MAPAPP_PUBLIC_URL and MAPAPP_DATA_DIR (see "
    "docs/deployment.md); to try the multi-worker server on this machine as it is, pass --dev."
)


class MapappGroup(FlaskGroup):
    """The Flask command group, listing its commands without loading the app.

    FlaskGroup loads the app (and so reads the data directory) to list plugin commands; mapapp
    has none, so `mapapp --help` reads and writes nothing.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(click.Group.list_commands(self, ctx))


def _create_app_for_cli() -> Flask:
    """Create the app, turning a wrong setting into an error message rather than a traceback."""
    from mapapp.config import ConfigError
    from mapapp.storage import StoreError

    try:
        return create_app()
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(cls=MapappGroup, create_app=_create_app_for_cli, add_version_option=False)
def cli() -> None:
    """Run and manage the Rare Disease Day events map."""


def announce_data_directory(app: Flask) -> None:
    """Say on stderr which data directory and mode the server uses, before it serves."""
    from mapapp.storage import get_store_of

    store = get_store_of(app)
    store.create_missing()
    store.audit.create_missing()
    click.echo(
        f"mapapp: serving {len(store)} events from {store.location} ({app.config['ENV']} mode)",
        err=True,
    )


def _run_with_announcement(*args: object, **kwargs: object) -> object:
    """Run Flask's development server after naming the data directory."""
    from flask import current_app

    from mapapp import mail_sender

    if os.environ.get("WERKZEUG_RUN_MAIN") != "true":  # once, not again in the reloader's child
        announce_data_directory(current_app)
    with mail_sender.sender_running(current_app._get_current_object()):  # type: ignore[attr-defined]
        return _flask_run_callback(*args, **kwargs)


_flask_run_callback: Callable[..., object] = run_command.callback  # type: ignore[assignment]
cli.add_command(
    click.Command(
        "run",
        callback=with_appcontext(_run_with_announcement),
        params=run_command.params,
        help=run_command.help,
        short_help=run_command.short_help,
    )
)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, help="Worker processes.")
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds a request may take (large exports need more than gunicorn's 30).",
)
@click.option(
    "--worker-class",
    type=click.Choice(WORKER_CLASSES),
    metavar="TYPE",
    default=DEFAULT_WORKER_CLASS,
    show_default=True,
    help="gunicorn's workers: gthread or sync (measured: docs/performance.md).",
)
@click.option(
    "--threads", default=DEFAULT_THREADS, show_default=True, help="Threads per gthread worker."
)
@click.option(
    "--dev", is_flag=True, help="Allow development mode (no Secure cookies, a key on disk)."
)
def serve_command(
    host: str, port: int, workers: int, timeout: int, worker_class: str, threads: int, dev: bool
) -> None:
    """Serve the app for production with gunicorn and several workers."""
    from flask import current_app
    from gunicorn.app.base import BaseApplication

    env = current_app.config["ENV"]
    if env == "development" and not dev:
        raise click.ClickException(PRODUCTION_HINT.format(env=env))
    _refuse_a_damaged_store()
    announce_data_directory(current_app)

    class MapappServer(BaseApplication):  # type: ignore[misc]
        """Gunicorn running the mapapp app factory in each worker."""

        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("timeout", timeout)
            self.cfg.set("worker_class", worker_class)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            # gunicorn 25.1+ opens a control socket at one path per user ($HOME/.gunicorn): a
            # second server on the host (another instance, a test) would take it over or fail.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Flask:
            """Make a worker's app with its events read and the map's data built."""
            from mapapp import mail_sender
            from mapapp import map_data as public_data
            from mapapp.storage import get_store

            app = create_app()
            # Read the events and build the map's data before this worker takes a request, so
            # the first visitor after a restart does not wait for it (seconds at 200,000
            # events). Not in the arbiter before fork: the store's file locks refuse to cross it.
            with app.app_context():
                public_data.warm(get_store())
            # Each worker sends mail too; claims under the outbox's lock keep one copy each.
            mail_sender.start_sender(app)
            self.cfg.set("worker_exit", lambda _server, _worker: mail_sender.stop_sender(app))
            return app

    MapappServer().run()


def _refuse_a_damaged_store() -> None:
    """Stop with every problem named if a data file cannot be served as it is."""
    from mapapp.storage import StoreDamagedError, get_store

    problems: list[str] = []
    for table in get_store().tables():
        try:
            table.frame()
        except StoreDamagedError as exc:
            problems.extend(exc.problems)
    if problems:
        listed = "\n  ".join(problems)
        raise click.ClickException(
            f"The data files need attention before the app can start:\n  {listed}\n"
            "Nothing was changed. `mapapp check` lists every problem; `mapapp check --fix` "
            "corrects what is safely fixable."
        )


@cli.command("check")
@click.option("--fix", is_flag=True, help="Correct what is safely fixable, keeping a backup.")
def check_command(fix: bool) -> None:
    """Check every data file and list each problem with its line; exit 1 if any is damaged.

    Run it, and restart the app, after editing a data file by hand.
    """
    from mapapp.storage import file_tables, get_store

    store = get_store()
    if not store.keeps_files:
        click.echo(
            f"The tables are kept in PostgreSQL ({store.location}), which checks every row as "
            "it is written: there are no data files to check."
        )
        _list_events_without_zone(store)
        return
    tables = file_tables(store)
    damaged = False
    for table in tables:
        if not table.path.exists():
            continue
        problems = table.problems()
        if fix and any(problem.fixable for problem in problems):
            changes, problems, backup = table.fix()
            for change in changes:
                click.echo(f"{table.path.name}: fixed: {change}")
            if backup is not None:
                click.echo(f"{table.path.name}: the original is kept as {backup}")
        if not problems:
            click.echo(f"{table.path.name}: no problems.")
        for problem in problems:
            hint = " (mapapp check --fix corrects this)" if problem.fixable and not fix else ""
            click.echo(f"{problem}{hint}")
            damaged = damaged or problem.damage
    if not damaged:
        _list_events_without_zone(store)
    if damaged:
        raise SystemExit(1)


def _list_events_without_zone(store: Store) -> None:
    """Say which stored events have no known time zone (a warning: the exit status stays 0).

    Their times are shown and exported as UTC until a coordinator gives each one its zone.
    """
    from mapapp.timezones import events_without_zone

    missing = events_without_zone(store.frame().to_dict("records"))
    if not missing:
        return
    click.echo(
        f"{store.spec.file_name}: {len(missing)} events have no time zone, so their times are shown "
        "as UTC; give each one its zone on its edit page:"
    )
    for event in missing:
        country = event["country"] or "no country"
        click.echo(f"  {event['id']}: {event['title']} ({event['format']}, {country})")


@cli.command("backup")
@click.argument("destination", type=click.Path(file_okay=True, dir_okay=True))
def backup_command(destination: str) -> None:
    """Copy every data table into a .tar.gz (DESTINATION: a new file or a folder), under the locks.

    The secret key is not in it: keep the key's own copy apart (see docs/deployment.md).
    """
    from mapapp.storage import get_store
    from mapapp.storage.backup import BackupError, create_backup

    try:
        backup = create_backup(get_store(), destination)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    total = sum(file.size for file in backup.files)
    names = ", ".join(file.name for file in backup.files)
    click.echo(f"Backed up {len(backup.files)} tables ({names}; {total:,} bytes) to {backup.path}")


@cli.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Check the backup; restore nothing.")
def restore_command(source: str, check_only: bool) -> None:
    """Put back the tables of a backup made by `mapapp backup`, keeping the replaced files.

    Stop the service first (`systemctl stop mapapp`), and start it again afterwards.
    """
    from mapapp.storage import get_store
    from mapapp.storage.backup import BackupError, read_backup, restore_backup

    try:
        if check_only:
            backup = read_backup(source)
            count = len(backup.files)
            click.echo(f"{source}: a whole backup of {backup.created_at}, {count} tables.")
            return
        restored = restore_backup(get_store(), source)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    backup = restored.backup
    click.echo(f"Restored {len(backup.files)} tables from the backup of {backup.created_at}.")
    if restored.replaced_dir is not None:
        click.echo(f"The files it replaced are kept in {restored.replaced_dir}")
    for name in restored.removed:
        click.echo(f"{name} was not in the backup: it was moved there too.")
    click.echo("Run `mapapp check`, then start the service again.")


@cli.group("db")
def db_group() -> None:
    """Keep the tables in PostgreSQL (MAPAPP_DATABASE_URL): create them, move CSV files in and out."""


@db_group.command("init")
def db_init() -> None:
    """Create the tables in the database, or add the columns a newer mapapp needs."""
    from mapapp.storage import StoreError, get_store
    from mapapp.storage.transfer import init_database

    try:
        created = init_database(get_store())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"The database {get_store().location} has every table: {', '.join(created)}.")


@db_group.command("import-csv")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--replace", is_flag=True, help="Replace the rows the database holds already.")
def db_import_csv(directory: str, replace: bool) -> None:
    """Load every table file of a CSV data directory into the database, in one transaction."""
    from mapapp.storage import StoreError, get_store
    from mapapp.storage.transfer import import_csv, names

    try:
        moved = import_csv(get_store(), directory, replace=replace)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Imported {names(moved)} from {directory} into {get_store().location}.")


@db_group.command("export-csv")
@click.argument("directory", type=click.Path(file_okay=False))
def db_export_csv(directory: str) -> None:
    """Write every table of the database as the CSV store's files in DIRECTORY."""
    from mapapp.storage import StoreError, get_store
    from mapapp.storage.transfer import export_csv, names

    try:
        moved = export_csv(get_store(), directory)
    except (StoreError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Exported {names(moved)} to {directory}.")


@cli.group("deploy")
def deploy_group() -> None:
    """Write the configuration of the production setup (see docs/deployment.md)."""


@deploy_group.command("nginx")
@click.option("--server-name", default="", help="Host name [default: MAPAPP_PUBLIC_URL's].")
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    default=["127.0.0.1:8000"],
    show_default=True,
    help="Of mapapp serve; give it once per host to spread requests over several.",
)
@click.option("--https-port", type=int, default=None, help="[default: MAPAPP_PUBLIC_URL's, or 443]")
@click.option("--http-port", type=int, default=80, show_default=True, help="Redirected to HTTPS.")
@click.option("--address", default="", help="Listen on this address only [default: all].")
@click.option("--certificate", default="", help="[default: certbot's fullchain.pem for the name]")
@click.option("--certificate-key", default="", help="[default: certbot's privkey.pem for the name]")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Write paths as if this checkout were at ROOT [default: where it is].",
)
def deploy_nginx(
    server_name: str,
    upstreams: tuple[str, ...],
    https_port: int | None,
    http_port: int,
    address: str,
    certificate: str,
    certificate_key: str,
    root: str | None,
) -> None:
    """Print the nginx site for this installation: TLS, buffering, static and vendor files."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from flask import current_app

    from mapapp.deploy import DEFAULT_HTTPS_PORT, render_nginx_site, site_for

    public = urlsplit(str(current_app.config.get("PUBLIC_URL") or ""))
    server_name = server_name or (public.hostname or "")
    if not server_name:
        raise click.UsageError("Give --server-name, or set MAPAPP_PUBLIC_URL.")
    if https_port is None:
        https_port = public.port or DEFAULT_HTTPS_PORT
    site = site_for(
        current_app,
        server_name=server_name,
        upstreams=upstreams,
        https_port=https_port,
        http_port=http_port,
        certificate=certificate,
        certificate_key=certificate_key,
        address=address,
        root=Path(root) if root else None,
    )
    shown = f"--server-name {server_name}" + (f" --root {root}" if root else "")
    click.echo(render_nginx_site(site, shown), nl=False)


@cli.group("coordinator")
def coordinator_group() -> None:
    """Manage the accounts of the coordinators who moderate events."""


ROLE_OPTION = click.Choice(["admin", "national", "viewer"])


def _password_from(stdin: bool, prompt: str) -> str:
    """Return a password read from standard input's first line, or asked twice."""
    if stdin:
        import sys

        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


@coordinator_group.command("add")
@click.argument("name")
@click.option("--role", type=ROLE_OPTION, default="admin", show_default=True)
@click.option("--countries", default="", help="ISO codes for national coordinators: FR,BE.")
@click.option("--email", default="", help="The account's e-mail address (sign-in, resets).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input: no prompt."
)
def coordinator_add(name: str, role: str, countries: str, email: str, password_stdin: bool) -> None:
    """Create a coordinator account; the password is asked twice and stored only as a hash."""
    from mapapp import coordinators

    try:
        coordinators.check_name(name)
        password = _password_from(password_stdin, "Password")
        coordinator = coordinators.add_coordinator(
            name, password, role=role, countries=countries, email=email
        )
    except coordinators.CoordinatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Added coordinator {coordinator.name}. They can sign in at /admin/sign-in.")


@coordinator_group.command("list")
def coordinator_list() -> None:
    """List the coordinator accounts: name, added, role, countries, e-mail, active."""
    from mapapp import coordinators

    accounts = coordinators.list_coordinators()
    if not accounts:
        click.echo("No coordinators yet. Add one with `mapapp coordinator add NAME`.")
    for account in accounts:
        countries = ",".join(sorted(account.countries)) or "-"
        state = "active" if account.active else "inactive"
        click.echo(
            f"{account.name}\tadded {account.created_at}\t{account.role}\t{countries}\t"
            f"{account.email or '-'}\t{state}"
        )


@coordinator_group.command("password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input: no prompt."
)
def coordinator_password(name: str, password_stdin: bool) -> None:
    """Give a coordinator a new password, asked twice; every session of the account ends."""
    from mapapp import coordinators
    from mapapp.storage import StoreUnavailableError

    try:
        if coordinators.get_coordinator(name) is None:
            normalised = coordinators.normalise_name(name)
            raise coordinators.CoordinatorError(f"There is no coordinator called {normalised!r}.")
        password = _password_from(password_stdin, "New password")
        coordinator = coordinators.set_password(name, password)
    except (coordinators.CoordinatorError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Changed the password of {coordinator.name}; their sessions are signed out.")


@coordinator_group.command("set")
@click.argument("name")
@click.option("--role", type=ROLE_OPTION, default=None)
@click.option("--countries", default=None, help="ISO codes, replacing the account's: FR,BE.")
@click.option("--email", default=None, help="The account's e-mail address ('' for none).")
@click.option("--active/--inactive", default=None, help="Let the account sign in, or not.")
@click.option("--digest/--no-digest", default=None, help="Send the daily digest, or not.")
def coordinator_set(
    name: str,
    role: str | None,
    countries: str | None,
    email: str | None,
    active: bool | None,
    digest: bool | None,
) -> None:
    """Change an account's role, countries, e-mail, active or digest; the change is logged."""
    from mapapp import access, coordinators
    from mapapp.storage import StoreUnavailableError

    given = {"role": role, "countries": countries, "email": email, "active": active}
    changes = {
        key: value for key, value in {**given, "digest": digest}.items() if value is not None
    }
    if not changes:
        raise click.UsageError(
            "Say what to change: --role, --countries, --email, --active/--inactive or "
            "--digest/--no-digest."
        )
    try:
        coordinator = coordinators.update_account(
            name, changes, access.Scope.system("command line")
        )
    except (coordinators.CoordinatorError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from exc
    countries_text = ",".join(sorted(coordinator.countries)) or "-"
    click.echo(
        f"Changed {coordinator.name}: {coordinator.role}, countries {countries_text}, "
        f"e-mail {coordinator.email or '-'}, {'active' if coordinator.active else 'inactive'}, "
        f"digest {'on' if coordinator.digest else 'off'}."
    )


@coordinator_group.command("remove")
@click.argument("name")
def coordinator_remove(name: str) -> None:
    """Delete a coordinator account; their open sessions end at once."""
    from mapapp import coordinators

    try:
        coordinators.remove_coordinator(name)
    except coordinators.CoordinatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Removed coordinator {coordinators.normalise_name(name)}.")


@cli.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "json", "geojson", "ics"]),
    default="csv",
    show_default=True,
    help="File format.",
)
@click.option("--country", default="", help="Country codes, comma-separated (FR,DE).")
@click.option("--category", default="", help="Category codes, comma-separated.")
@click.option("--event-format", default="", help="in_person, online or hybrid, comma-separated.")
@click.option("--year", default="", help="Edition year, such as 2027.")
@click.option("--from", "date_from", default="", help="First start day, YYYY-MM-DD.")
@click.option("--to", "date_to", default="", help="Last start day, YYYY-MM-DD.")
@click.option("--q", "text", default="", help="Text to search for.")
@click.option("--status", default="", help="Statuses, comma-separated (default: approved).")
@click.option("--private", is_flag=True, help="Include contact e-mails and moderation notes.")
@click.option("--base-url", default="", help="Site address for the events' links (.ics).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-")
def export_command(
    fmt: str,
    country: str,
    category: str,
    event_format: str,
    year: str,
    date_from: str,
    date_to: str,
    text: str,
    status: str,
    private: bool,
    base_url: str,
    output: str,
) -> None:
    """Export events with the map's filters; approved events and public fields by default."""
    from mapapp.exports import render_export
    from mapapp.filters import apply_filter, parse_filter
    from mapapp.storage import get_store

    args = {
        "country": country,
        "category": category,
        "format": event_format,
        "year": year,
        "from": date_from,
        "to": date_to,
        "q": text,
        "status": status or "approved",
    }
    event_filter = parse_filter(args, allow_status=True)
    if event_filter.errors:
        raise click.UsageError(" ".join(event_filter.errors.values()))
    # The operator may export any status; the fields stay public unless --private (export_events
    # refuses other statuses with public fields, a guard meant for the web's public downloads).
    kept = apply_filter(get_store().frame(), event_filter)
    kept = kept.sort_values(["starts_at", "id"], kind="stable")
    body, _, _ = render_export(fmt, kept, private=private, base_url=base_url)
    with click.open_file(output, "wb") as handle:
        handle.write(body)
    if output != "-":
        click.echo(f"Wrote {len(body):,} bytes to {output}.", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--status",
    type=click.Choice(["pending", "approved"]),
    default="pending",
    show_default=True,
    help="Status of the imported events.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; add nothing.")
def import_command(file: str, status: str, dry_run: bool) -> None:
    """Import events from a CSV or Excel (.xlsx) file; the report lists every skipped row."""
    from pathlib import Path

    from flask import current_app
    from tqdm import tqdm

    from mapapp import access
    from mapapp.import_files import ImportFileError, check_size
    from mapapp.imports import import_events

    def progress(items, total, description):  # type: ignore[no-untyped-def]
        return tqdm(items, total=total, desc=description, unit="row", disable=None)

    path = Path(file)
    try:
        # The same limits as the upload form: the file's size first, then the workbook's parts.
        check_size(path.stat().st_size, int(current_app.config["IMPORT_MAX_BYTES"]))
        report = import_events(
            path.read_bytes(),
            path.name,
            access.events(),
            status=status,
            dry_run=dry_run,
            progress=progress,
        )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    for kind, notes in (
        ("Added", report.added_rows),
        ("Rejected", report.rejected),
        ("Skipped", report.duplicates),
        ("Warning", report.warnings),
    ):
        for note in notes:
            named = f" ({note.title})" if note.title else ""
            added = kind == "Added" and note.event_id
            said = f"{note.message} Event {note.event_id}." if added else note.message
            click.echo(f"{kind}: row {note.row}{named}: {said}")
    click.echo(report.summary())


@cli.command("geocode")
@click.argument("query", required=False)
@click.option(
    "--pending",
    is_flag=True,
    help="Place stored events missing a location (online ones have none).",
)
def geocode_command(query: str | None, pending: bool) -> None:
    """Geocode QUERY and print the best match as JSON; QUERY "-" reads one query a line."""
    import json
    import sys

    from tqdm import tqdm

    from mapapp import geocoding
    from mapapp.storage import VERSION_FIELD, Audit, get_store

    if pending:
        store = get_store()
        frame = store.frame()
        unplaced = frame[frame["location_precision"] == "none"]
        # Online events have no place: geocoding their country would pin its centre on the map.
        online = unplaced["format"] == "online"
        missing = unplaced[~online].to_dict("records")
        changes, notes = geocoding.place_pending(
            tqdm(missing, desc="Geocoding", unit="event", file=sys.stderr)
        )
        stale: dict[str, dict[str, str]] = {}
        if changes:
            # Each event is written only if nobody changed it while the geocoder worked.
            expected = {row["id"]: row[VERSION_FIELD] for row in missing if row["id"] in changes}
            updated = store.update_many(
                changes, expected=expected, audit=Audit("cli", "geocode"), skip_stale=True
            )
            stale = updated.stale
        for note in notes:
            click.echo(f"Not placed: {note}", err=True)
        for event_id in stale:
            click.echo(f"Not placed: event {event_id} changed meanwhile; run again.", err=True)
        placed = len(changes) - len(stale)
        click.echo(f"Placed {placed} of {len(missing)} events missing a location.")
        if skipped := int(online.sum()):
            noun = "event" if skipped == 1 else "events"
            click.echo(f"Left {skipped} online {noun} alone: online events have no place.")
        return
    if not query:
        raise click.UsageError('Give a QUERY, "-" to read queries from stdin, or --pending.')
    if query != "-":
        result = geocoding.locate(text=query)
        if result.best is None:
            raise click.ClickException(result.message)
        click.echo(json.dumps(geocoding.place_summary(result.best), ensure_ascii=False))
        return
    for line in sys.stdin:
        if not (text := line.strip()):
            continue
        result = geocoding.locate(text=text)
        if result.best is None:
            answer = {"query": text, "status": result.status, "error": result.message}
        else:
            answer = {"query": text, **geocoding.place_summary(result.best)}
        click.echo(json.dumps(answer, ensure_ascii=False))


@cli.command("erase")
@click.argument("event_id")
@click.option("--yes", is_flag=True, help="Erase without asking to confirm.")
def erase_command(event_id: str, yes: bool) -> None:
    """Erase an event and its personal data everywhere the app keeps them (cannot be undone)."""
    from flask import current_app

    from mapapp import access, erasure
    from mapapp.storage import RowNotFoundError, get_store
    from mapapp.web.api import body_cache
    from mapapp.web.exports import export_cache

    store = get_store()
    event = store.get(event_id)
    if event is None:
        raise click.ClickException(f"There is no event with the id {event_id!r}.")
    if not yes:
        click.confirm(
            f"Erase “{event['title']}” ({event_id}, {event['status']}) and its personal data "
            "for good?",
            abort=True,
        )
    try:
        erased = erasure.erase_event(
            access.events(),
            export_cache(current_app),
            event_id,
            "cli",
            bodies=body_cache(current_app).shared,
        )
    except RowNotFoundError as exc:
        raise click.ClickException(f"There is no event with the id {event_id!r}.") from exc
    click.echo(
        f"Erased “{erased.event['title']}” ({event_id}): the event, the values in its history, "
        f"{erased.messages} message(s) about it and {erased.exports} kept export file(s)."
    )
    for path in erased.copies:
        click.echo(f"Still holds the event (set aside by the store; delete by hand): {path}")


@cli.group("mail")
def mail_group() -> None:
    """Send the e-mail waiting in the outbox (data/outbox.csv)."""


@mail_group.command("send")
def mail_send() -> None:
    """Send the messages that are due, once, and remove those past their retention."""
    from flask import current_app

    from mapapp import mail_sender
    from mapapp.storage import StoreError

    try:
        counts = mail_sender.send_and_purge(current_app._get_current_object())  # type: ignore[attr-defined]
    except StoreError as exc:
        raise click.ClickException(
            f"The outbox cannot be used now, nothing was sent: {exc}"
        ) from exc
    click.echo(counts.sentence())


@mail_group.command("digest")
def mail_digest() -> None:
    """Queue today's digest for every coordinator who wants one; running it again adds none."""
    from flask import current_app

    from mapapp import digest
    from mapapp.storage import StoreError

    try:
        count = digest.run(current_app._get_current_object())  # type: ignore[attr-defined]
    except StoreError as exc:
        raise click.ClickException(f"The digest could not be queued now: {exc}") from exc
    click.echo(f"Queued {count} digest(s); `mapapp mail send` sends them.")


@mail_group.command("worker")
def mail_worker() -> None:
    """Send messages as they become due until stopped (SIGTERM or Ctrl-C)."""
    import signal
    import threading

    from flask import current_app

    from mapapp import mail, mail_sender

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def stop_after_this_message(_signal: int, _frame: object) -> None:
        stop.set()
        app.extensions[mail.EXTENSION]["wake"].set()

    signal.signal(signal.SIGTERM, stop_after_this_message)
    signal.signal(signal.SIGINT, stop_after_this_message)
    settings = mail.settings_of(app)
    where = "the SMTP server" if settings.server else f"{app.config['DATA_DIR']}/mail/*.eml"
    click.echo(f"mapapp: sending the outbox's messages to {where}; stop with SIGTERM.", err=True)
    mail_sender.run_sender(app, stop)
    click.echo("mapapp: the mail sender stopped.", err=True)


@mail_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Show sent messages too.")
def mail_list(show_all: bool) -> None:
    """List the messages waiting or failed: id, kind, recipient, status, attempts, last error."""
    from mapapp import mail

    rows = [row for row in mail.queued() if show_all or row["status"] != "sent"]
    if not rows:
        click.echo("No messages are waiting or failed.")
        return
    for row in rows:
        due = f" next {row['next_attempt_at']}" if row["next_attempt_at"] else ""
        error = f" ({row['last_error']})" if row["last_error"] else ""
        click.echo(
            f"{row['id']}  {row['kind']}  {row['to']}  {row['status']}  "
            f"attempts {row['attempts']}{due}{error}"
        )


@cli.group("key")
def key_group() -> None:
    """Manage the API keys partners' systems post events with."""


@key_group.command("create")
@click.argument("partner")
@click.option("--countries", required=True, help="Country codes it may post in, such as FR,BE.")
@click.option("--trusted", is_flag=True, help="Approve its events at once, without review.")
def key_create(partner: str, countries: str, trusted: bool) -> None:
    """Create a key for a partner and print its secret (shown only this once) on stdout."""
    from mapapp import access, api_keys

    try:
        key, secret = api_keys.create_key(
            access.Scope.system("cli"), partner, countries, trusted=trusted
        )
    except api_keys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    review = "approved at once" if key.trusted else "waiting for review"
    click.echo(
        f"Created the key {key.id} of {key.partner} for {key.describe_countries()}; its events "
        f"are {review}. Give the partner this secret safely: it is not shown again.",
        err=True,
    )
    click.echo(secret)


@key_group.command("list")
def key_list() -> None:
    """List the keys: id, partner, countries, trusted or not, created, revoked."""
    from mapapp import access, api_keys

    keys = api_keys.list_keys(access.Scope.system("cli"))
    if not keys:
        click.echo("No partner has a key yet. Create one with `mapapp key create PARTNER`.")
    for key in keys:
        state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
        trust = "trusted" if key.trusted else "reviewed"
        countries = ",".join(sorted(key.countries))
        click.echo(
            f"{key.id}\t{key.partner}\t{countries}\t{trust}\tcreated {key.created_at}\t{state}"
        )


@key_group.command("revoke")
@click.argument("key_id")
def key_revoke(key_id: str) -> None:
    """Revoke a key: its requests are refused from now on."""
    from mapapp import access, api_keys

    try:
        key = api_keys.revoke_key(access.Scope.system("cli"), key_id)
    except api_keys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Revoked the key {key.id} of {key.partner}.")


@deploy_group.command("published-site")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--server-name", default="_", show_default=True, help="Host name nginx answers.")
@click.option("--port", type=int, default=80, show_default=True, help="Port to listen on.")
@click.option("--address", default="", help="Listen on this address only [default: all].")
@click.option("--certificate", default="", help="TLS certificate (then HTTPS on --port).")
@click.option("--certificate-key", default="", help="The certificate's key.")
def deploy_published_site(
    directory: str,
    server_name: str,
    port: int,
    address: str,
    certificate: str,
    certificate_key: str,
) -> None:
    """Print the nginx site serving a published directory (mapapp publish) with no app."""
    from pathlib import Path

    from flask import current_app

    from mapapp.site_deploy import PublishedSite, render_published_site

    if bool(certificate) != bool(certificate_key):
        raise click.UsageError("Give both --certificate and --certificate-key, or neither.")
    site = PublishedSite(
        root=Path(directory).resolve(),
        server_name=server_name,
        port=port,
        address=address,
        certificate=certificate,
        certificate_key=certificate_key,
    )
    click.echo(render_published_site(site, current_app.config, directory), nl=False)


@cli.command("publish")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--site-url",
    default="",
    help="The published site's address, e.g. https://events.example.org/map/ "
    "[default: MAPAPP_PUBLIC_URL, or http://localhost/].",
)
@click.option("--quiet", is_flag=True, help="Print the summary only, not each step.")
def publish_command(directory: str, site_url: str, quiet: bool) -> None:
    """Write the public site as static files into DIRECTORY (only what changed)."""
    from pathlib import Path

    from flask import current_app

    from mapapp.geocoding.towns import current_gazetteer
    from mapapp.publish import publish
    from mapapp.storage import get_store
    from mapapp.storage.site import SiteDirectory
    from mapapp.web.site_pages import SitePages

    address = site_url or str(current_app.config.get("PUBLIC_URL") or "") or "http://localhost/"
    try:
        pages = SitePages(current_app._get_current_object(), address)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--site-url") from exc
    report = publish(
        SiteDirectory(Path(directory)),
        pages,
        get_store().frame(),
        current_gazetteer(),
        progress=None if quiet else (lambda step: click.echo(f"Publishing {step}…", err=True)),
    )
    rendered = report.events_rendered
    click.echo(
        f"Published {report.events} events to {report.directory} for {pages.site_url} in "
        f"{report.seconds:.1f} s: {len(report.written)} files written ({rendered} events' pages "
        f"rendered), {report.unchanged} unchanged, {len(report.removed)} removed; "
        f"{report.files} files, {report.total_bytes / 1e6:.1f} MB."
    )
