"""The geocode command: one query, a batch from stdin, and the stored events still to place."""

from __future__ import annotations

import json

from flask.testing import FlaskCliRunner

from mapapp.cli import cli
from mapapp.storage import EventStore
from tests.conftest import make_event


def test_a_query_prints_the_best_match_as_json(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, args=["geocode", "Firenze, Italia"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "name": "Florence, Italy",
        "country": "IT",
        "latitude": 43.77925,
        "longitude": 11.24626,
        "precision": "city",
        "source": "gazetteer",
        "timezone": "Europe/Rome",
    }


def test_a_miss_exits_non_zero_with_a_message(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, args=["geocode", "Zurch, Switzerland"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "We could not find 'Zurch' in Switzerland. Did you mean Zürich?" in result.stderr


def test_no_query_explains_the_usage(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, args=["geocode"])

    assert result.exit_code == 2
    assert 'Give a QUERY, "-" to read queries from stdin, or --pending.' in result.stderr


def test_a_dash_reads_one_query_a_line(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        cli, args=["geocode", "-"], input="Genève, Suisse\n\nQwxzvbnm\n上海, 中国\n"
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["Genève, Suisse", "Qwxzvbnm", "上海, 中国"]
    assert (lines[0]["country"], lines[2]["country"]) == ("CH", "CN")
    assert lines[1] == {
        "query": "Qwxzvbnm",
        "status": "not_found",
        "error": "We could not find 'Qwxzvbnm'. "
        "Please check the spelling, or give a nearby larger town.",
    }


def test_pending_places_the_events_missing_a_location(
    runner: FlaskCliRunner, store: EventStore
) -> None:
    unplaced = {"latitude": "", "longitude": "", "location_precision": "none", "timezone": ""}
    placed = store.add(make_event())
    lodz = store.add(make_event(**unplaced, city="Łódź", country="PL", title="Łódź walk"))
    missing = store.add(make_event(**unplaced, city="Zurch", country="CH", title="Zurch talk"))

    result = runner.invoke(cli, args=["geocode", "--pending"])

    assert result.exit_code == 0, result.output
    assert "Placed 1 of 2 events missing a location." in result.stdout
    assert f"Not placed: {missing['id']}: We could not find 'Zurch' in Switzerland." in (
        result.stderr
    )
    assert "Geocoding: 100%" in result.stderr  # the progress bar
    now = store.get(lodz["id"])
    assert now is not None
    assert (now["latitude"], now["longitude"]) == ("51.770580", "19.473950")
    assert (now["location_precision"], now["location_source"]) == ("city", "gazetteer")
    assert now["timezone"] == "Europe/Warsaw"
    assert store.get(missing["id"])["location_precision"] == "none"  # type: ignore[index]
    assert store.get(placed["id"]) == placed


def test_pending_leaves_online_events_alone(runner: FlaskCliRunner, store: EventStore) -> None:
    unplaced = {"latitude": "", "longitude": "", "location_precision": "none", "timezone": ""}
    webinar = store.add(
        make_event(**unplaced, format="online", venue="", city="", country="DE", title="Webinar")
    )
    lodz = store.add(make_event(**unplaced, city="Łódź", country="PL", title="Łódź walk"))

    result = runner.invoke(cli, args=["geocode", "--pending"])

    assert result.exit_code == 0, result.output
    assert "Placed 1 of 1 events missing a location." in result.stdout
    assert "Left 1 online event alone: online events have no place." in result.stdout
    assert store.get(webinar["id"]) == webinar  # no country-centre pin
    assert store.get(lodz["id"])["location_precision"] == "city"  # type: ignore[index]
