"""Find stored events that look like a new one, for the "maybe a duplicate" warning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np
import pandas as pd

from mapapp.filters import fold
from mapapp.i18n import N_, _

# Duplicates: same start date, similar title, and nearby (in person) or same organiser (online).
DUPLICATE_DISTANCE_KM = 25.0
DUPLICATE_TITLE_RATIO = 0.75
DUPLICATE_TOKEN_OVERLAP = 0.6
DUPLICATE_STATUSES = ("pending", "approved")
MAX_DUPLICATES = 5
EARTH_RADIUS_KM = 6371.0
# Published events may be named to anyone; a pending one is only said to exist.
PUBLISHED_STATUS = "approved"
# Marked for the catalog; DuplicateWarning translates them.
WAITING_MESSAGE = N_("A similar event is waiting for review.")
PUBLISHED_ANYWAY_MESSAGE = N_(
    "This looks like an event already on the map: if it is a different event, tick the box to "
    "submit it anyway."
)
WAITING_ANYWAY_MESSAGE = N_(
    "A similar event is waiting for review: if it is a different event, tick the box to submit "
    "it anyway."
)


@dataclass(frozen=True)
class DuplicateWarning:
    """What anyone may be told about likely duplicates: published ones by name, others not."""

    published: list[dict[str, str]] = field(default_factory=list)
    waiting: bool = False  # a similar event, not yet published, waits for review

    @property
    def waiting_message(self) -> str:
        """Return the one sentence said about similar events waiting for review, or ""."""
        return _(WAITING_MESSAGE) if self.waiting else ""

    @property
    def submit_anyway_message(self) -> str:
        """Return the error asking to tick "submit it anyway"."""
        return _(PUBLISHED_ANYWAY_MESSAGE if self.published else WAITING_ANYWAY_MESSAGE)


def public_warning(duplicates: Sequence[Mapping[str, str]]) -> DuplicateWarning:
    """Return the duplicate warning that names approved events only."""
    published = [dict(event) for event in duplicates if event["status"] == PUBLISHED_STATUS]
    waiting = any(event["status"] != PUBLISHED_STATUS for event in duplicates)
    return DuplicateWarning(published=published, waiting=waiting)


def find_duplicates(frame: pd.DataFrame, event: Mapping[str, str]) -> list[dict[str, str]]:
    """Return stored events that look like this one: same day, similar title, nearby or same host."""
    day = event["starts_at"][:10]
    same_day = frame[
        frame["starts_at"].str.startswith(day) & frame["status"].isin(DUPLICATE_STATUSES)
    ]
    if event.get("id"):
        same_day = same_day[same_day["id"] != event["id"]]
    if same_day.empty:
        return []
    # Places and hosts are compared for all rows at once; titles only for the few that remain.
    nearby = same_day[_near_or_same_host(same_day, event)]
    title = fold(event["title"])
    found: list[dict[str, str]] = []
    for row in nearby.to_dict("records"):
        record = {str(key): str(value) for key, value in row.items()}
        if similar_titles(title, fold(record["title"])):
            found.append(record)
            if len(found) >= MAX_DUPLICATES:
                break
    return found


def similar_titles(first: str, second: str) -> bool:
    """Return whether two folded titles are alike by character ratio or shared words."""
    if SequenceMatcher(None, first, second).ratio() >= DUPLICATE_TITLE_RATIO:
        return True
    words_a, words_b = set(first.split()), set(second.split())
    if not words_a or not words_b:
        return False
    return len(words_a & words_b) / min(len(words_a), len(words_b)) >= DUPLICATE_TOKEN_OVERLAP


def _near_or_same_host(rows: pd.DataFrame, event: Mapping[str, str]) -> pd.Series:
    """Return which rows lie within the duplicate distance, or are online from one organiser.

    Where either event has no coordinates, the same city and country count as nearby.
    """
    mask = pd.Series(False, index=rows.index)
    online = rows["format"].eq("online") | (event["format"] == "online")
    if event["organiser"] and online.any():
        host = fold(event["organiser"])
        mask[online] = rows.loc[online, "organiser"].map(fold).eq(host)
    if event["format"] == "online":
        return mask
    in_person = rows[~online]
    latitudes = pd.to_numeric(in_person["latitude"], errors="coerce")
    longitudes = pd.to_numeric(in_person["longitude"], errors="coerce")
    placed = latitudes.notna() & longitudes.notna()
    if event["latitude"] and event["longitude"]:
        distances = distances_km(
            float(event["latitude"]),
            float(event["longitude"]),
            latitudes[placed].to_numpy(),
            longitudes[placed].to_numpy(),
        )
        mask[placed[placed].index] = distances < DUPLICATE_DISTANCE_KM
        unplaced = in_person[~placed]
    else:
        unplaced = in_person
    if not unplaced.empty:
        city = fold(event["city"])
        same_city = unplaced["country"].eq(event["country"])
        same_city[same_city] = unplaced.loc[same_city, "city"].map(fold).eq(city)
        mask[same_city[same_city].index] = True
    return mask


def distances_km(
    latitude: float, longitude: float, latitudes: np.ndarray, longitudes: np.ndarray
) -> np.ndarray:
    """Return the great-circle distances from one point to many."""
    phi1, phi2 = np.radians(latitude), np.radians(latitudes)
    d_phi, d_lambda = phi2 - phi1, np.radians(longitudes - longitude)
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
