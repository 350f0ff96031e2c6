"""The mapapp command and its subcommands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from mapapp import create_app

DEFAULT_WORKERS = 4


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def cli() -> None:
    """Run and manage the Rare Disease Day events map."""


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, help="Worker processes.")
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the app for production with gunicorn and several workers."""
    from gunicorn.app.base import BaseApplication

    class MapappServer(BaseApplication):  # type: ignore[misc]
        """Gunicorn running the mapapp app factory in each worker."""

        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")

        def load(self) -> Flask:
            return create_app()

    MapappServer().run()
