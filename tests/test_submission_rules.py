"""The submission rules: when an event has ended, in its own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mapapp import submission_rules

# 1 March 2027, 10:00 UTC: it is 23:00 in Auckland, 02:00 in Los Angeles, still 28 February
# 22:00 at UTC-12.
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "ended"),
    [
        # Ended by its end, in its zone: Auckland is UTC+13, so 22:00 there was 09:00 UTC.
        ({"starts_at": "2027-03-01T18:00", "ends_at": "2027-03-01T22:00",
          "timezone": "Pacific/Auckland"}, date(2027, 3, 1)),
        # The same local times in Paris have not come yet.
        ({"starts_at": "2027-03-01T18:00", "ends_at": "2027-03-01T22:00",
          "timezone": "Europe/Paris"}, None),
        # Started but not ended: still current.
        ({"starts_at": "2027-02-28T09:00", "ends_at": "2027-03-02T18:00",
          "timezone": "Europe/Paris"}, None),
        # No end: its start counts.
        ({"starts_at": "2027-02-28T18:00", "ends_at": "", "timezone": "Europe/Paris"},
         date(2027, 2, 28)),
        # No zone: UTC-12, where 28 February 21:00 is an hour ago, and 23:00 not yet.
        ({"starts_at": "2027-02-28T21:00", "ends_at": "", "timezone": ""}, date(2027, 2, 28)),
        ({"starts_at": "2027-02-28T23:00", "ends_at": "", "timezone": ""}, None),
        # An unknown zone is taken as no zone.
        ({"starts_at": "2027-02-28T23:00", "ends_at": "", "timezone": "Mars/Olympus"}, None),
        # Nine months ago.
        ({"starts_at": "2026-06-01T10:00", "ends_at": "2026-06-01T12:00",
          "timezone": "Europe/Madrid"}, date(2026, 6, 1)),
        # Not a date: not this rule's business.
        ({"starts_at": "soon", "ends_at": "", "timezone": ""}, None),
    ],
)  # fmt: skip
def test_an_event_has_ended_by_its_end_or_start_in_its_own_zone(
    event: dict[str, str], ended: date | None
) -> None:
    assert submission_rules.ended_on(event, NOW) == ended


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        (
            {"starts_at": "2026-03-03T10:00", "ends_at": "2026-03-03T12:00", "timezone": "UTC"},
            {
                "ends_at": "This event ended on 3 March 2026: the map shows coming and current "
                "events. If its dates are wrong, correct them and send it again."
            },
        ),
        (
            {"starts_at": "2026-03-03T10:00", "ends_at": "", "timezone": ""},
            {
                "starts_at": "This event ended on 3 March 2026: the map shows coming and current "
                "events. If its dates are wrong, correct them and send it again."
            },
        ),
        ({"starts_at": "2027-03-01T18:00", "ends_at": "", "timezone": "Europe/Paris"}, {}),
    ],
)
def test_the_ended_error_names_the_day_and_the_field(
    event: dict[str, str], errors: dict[str, str]
) -> None:
    assert submission_rules.ended_error(event, NOW) == errors


def test_a_coordinator_is_warned_about_an_ended_event() -> None:
    event = {"starts_at": "2027-02-27T10:00", "ends_at": "", "timezone": "Europe/Paris"}
    assert submission_rules.ended_warning(event, NOW) == (
        "This event ended on 27 February 2027: it is kept, as coordinators may add the past "
        "events of a recent edition."
    )
    assert submission_rules.ended_warning({**event, "starts_at": "2027-03-02T10:00"}, NOW) == ""
