"""The offline gazetteer: what people really type, placed within 25 km of the truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from geopy.distance import distance
from geopy.location import Location

from mapapp.geocoding import Geocoder, Request, timezone_at
from mapapp.geocoding import gazetteer as gazetteer_module
from mapapp.geocoding.gazetteer import Gazetteer, fold, fold_many, get_gazetteer

TOLERANCE_KM = 25

# (free text, true latitude, true longitude, ISO country)
FREE_TEXT = [
    # Europe: accents optional, exonyms, endonyms, country names in the local language
    ("Genève, Suisse", 46.2044, 6.1432, "CH"),
    ("Geneve", 46.2044, 6.1432, "CH"),
    ("Koeln, DE", 50.9375, 6.9603, "DE"),
    ("Cologne, Germany", 50.9375, 6.9603, "DE"),
    ("Firenze, Italia", 43.7696, 11.2558, "IT"),
    ("Łódź", 51.7592, 19.4560, "PL"),
    ("Lodz, Poland", 51.7592, 19.4560, "PL"),
    ("Munchen", 48.1351, 11.5820, "DE"),
    ("Wien, Österreich", 48.2082, 16.3738, "AT"),
    ("Vienna, Austria", 48.2082, 16.3738, "AT"),
    ("Praha, Czech Republic", 50.0755, 14.4378, "CZ"),
    ("Lisboa, Portugal", 38.7223, -9.1393, "PT"),
    ("Sevilla, España", 37.3891, -5.9845, "ES"),
    ("Bruxelles, Belgique", 50.8503, 4.3517, "BE"),
    ("The Hague, Netherlands", 52.0705, 4.3007, "NL"),
    ("København, Danmark", 55.6761, 12.5683, "DK"),
    ("Reykjavík", 64.1466, -21.9426, "IS"),
    ("Krakow", 50.0647, 19.9450, "PL"),
    ("Bucuresti, Romania", 44.4268, 26.1025, "RO"),
    ("İstanbul, Türkiye", 41.0082, 28.9784, "TR"),
    ("Kyiv, Ukraine", 50.4501, 30.5234, "UA"),
    ("Lyon, FRA", 45.7640, 4.8357, "FR"),
    ("Zürich, Zurich, Switzerland", 47.3769, 8.5417, "CH"),
    ("London", 51.5074, -0.1278, "GB"),
    ("London UK", 51.5074, -0.1278, "GB"),
    ("Edinburgh, Scotland", 55.9533, -3.1883, "GB"),
    # Scripts other than Latin
    ("上海, 中国", 31.2304, 121.4737, "CN"),
    ("北京", 39.9042, 116.4074, "CN"),
    ("東京", 35.6762, 139.6503, "JP"),
    ("서울", 37.5665, 126.9780, "KR"),
    ("Москва", 55.7558, 37.6173, "RU"),
    ("Αθήνα", 37.9838, 23.7275, "GR"),
    ("القاهرة", 30.0444, 31.2357, "EG"),
    ("मुंबई", 19.0760, 72.8777, "IN"),
    ("ירושלים", 31.7683, 35.2137, "IL"),
    # Africa
    ("Lagos, Nigeria", 6.5244, 3.3792, "NG"),
    ("Nairobi, KE", -1.2921, 36.8219, "KE"),
    ("Addis Ababa, Ethiopia", 9.0054, 38.7636, "ET"),
    ("Johannesburg, South Africa", -26.2041, 28.0473, "ZA"),
    ("Banjul, The Gambia", 13.4549, -16.5790, "GM"),
    ("Dakar, Sénégal", 14.7167, -17.4677, "SN"),
    ("Casablanca, Maroc", 33.5731, -7.5898, "MA"),
    ("Abidjan, Ivory Coast", 5.3600, -4.0083, "CI"),
    # The Americas: US states and Canadian provinces by name or abbreviation, homonyms
    ("New York, NY", 40.7128, -74.0060, "US"),
    ("Springfield, Illinois", 39.7817, -89.6501, "US"),
    ("Springfield, MA", 42.1015, -72.5898, "US"),
    ("Springfield IL", 39.7817, -89.6501, "US"),
    ("London, Ontario", 42.9849, -81.2453, "CA"),
    ("Montréal, QC", 45.5017, -73.5673, "CA"),
    ("Vancouver, British Columbia, Canada", 49.2827, -123.1207, "CA"),
    ("Portland, Oregon", 45.5152, -122.6784, "US"),
    ("Portland, ME", 43.6591, -70.2568, "US"),
    ("Paris, Texas", 33.6609, -95.5555, "US"),
    ("Ciudad de México", 19.4326, -99.1332, "MX"),
    ("São Paulo, Brasil", -23.5505, -46.6333, "BR"),
    ("Sao Paulo", -23.5505, -46.6333, "BR"),
    ("Buenos Aires, Argentina", -34.6037, -58.3816, "AR"),
    ("Bogotá, Colombia", 4.7110, -74.0721, "CO"),
    ("Lima, Perú", -12.0464, -77.0428, "PE"),
    ("Santiago, Chile", -33.4489, -70.6693, "CL"),
    # Asia
    ("Bangkok, Thailand", 13.7563, 100.5018, "TH"),
    ("Hà Nội, Việt Nam", 21.0278, 105.8342, "VN"),
    ("Jakarta, Indonesia", -6.2088, 106.8456, "ID"),
    ("Manila, Philippines", 14.5995, 120.9842, "PH"),
    ("Tehran, Iran", 35.6892, 51.3890, "IR"),
    ("Dubai, UAE", 25.2048, 55.2708, "AE"),
    ("Karachi, Pakistan", 24.8607, 67.0011, "PK"),
    ("Dhaka, Bangladesh", 23.8103, 90.4125, "BD"),
    # Oceania
    ("Sydney, NSW, Australia", -33.8688, 151.2093, "AU"),
    ("Auckland, New Zealand", -36.8485, 174.7633, "NZ"),
    ("Wellington, NZ", -41.2866, 174.7756, "NZ"),
    ("Suva, Fiji", -18.1248, 178.4501, "FJ"),
    ("Perth, Western Australia", -31.9505, 115.8605, "AU"),
    # Street addresses: the gazetteer places the town
    ("10 Downing Street, London, UK", 51.5074, -0.1278, "GB"),
    ("Rue de Rivoli 1, 75001 Paris, France", 48.8566, 2.3522, "FR"),
    # Towns of 5,000 to 15,000 people
    ("Chamonix, France", 45.9237, 6.8694, "FR"),
    ("Zermatt", 46.0207, 7.7491, "CH"),
]

# (city, region, country, true latitude, true longitude): the submission form's fields
STRUCTURED = [
    ("Springfield", "Massachusetts", "US", 42.1015, -72.5898),
    ("Springfield", "", "US", 37.2090, -93.2923),  # the most populous Springfield, Missouri
    ("London", "", "CA", 42.9849, -81.2453),
    ("London", "", "GB", 51.5074, -0.1278),
    ("Zurich", "", "CH", 47.3769, 8.5417),
    ("Saint Petersburg", "", "RU", 59.9311, 30.3609),
    ("St. Petersburg", "FL", "US", 27.7676, -82.6403),
    ("Córdoba", "", "AR", -31.4201, -64.1888),
    ("Cordoba", "", "ES", 37.8882, -4.7794),
    ("Valencia", "", "VE", 10.1620, -68.0077),
    ("Valencia", "", "ES", 39.4699, -0.3763),
    ("Frankfurt", "", "DE", 50.1109, 8.6821),
]

# (country as typed, ISO code, the IANA zone its point falls in)
COUNTRIES = [
    ("The Gambia", "GM", "Africa/Banjul"),
    ("Deutschland", "DE", "Europe/Berlin"),
    ("Suisse", "CH", "Europe/Zurich"),
    ("日本", "JP", "Asia/Tokyo"),
    ("Netherlands", "NL", "Europe/Amsterdam"),
    ("the Netherlands", "NL", "Europe/Amsterdam"),
    ("FR", "FR", "Europe/Paris"),
    ("Россия", "RU", None),
    ("Brasil", "BR", None),
]


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder("offline")


@pytest.mark.parametrize(("text", "latitude", "longitude", "country"), FREE_TEXT)
def test_free_text_is_placed_near_the_truth(
    geocoder: Geocoder, text: str, latitude: float, longitude: float, country: str
) -> None:
    result = geocoder.locate(Request(text=text))
    assert result.status == "found", result.message
    place = result.best
    assert place is not None
    assert place.country == country
    assert place.precision == "city"
    assert place.source == "gazetteer"
    assert distance((place.latitude, place.longitude), (latitude, longitude)).km < TOLERANCE_KM


@pytest.mark.parametrize(("city", "region", "country", "latitude", "longitude"), STRUCTURED)
def test_structured_fields_pick_the_right_homonym(
    geocoder: Geocoder, city: str, region: str, country: str, latitude: float, longitude: float
) -> None:
    place = geocoder.locate(Request(city=city, region=region, country=country)).best
    assert place is not None
    assert place.country == country
    assert distance((place.latitude, place.longitude), (latitude, longitude)).km < TOLERANCE_KM


@pytest.mark.parametrize(("text", "country", "zone"), COUNTRIES)
def test_a_country_alone_gives_a_country_level_point(
    geocoder: Geocoder, text: str, country: str, zone: str | None
) -> None:
    place = geocoder.locate(Request(text=text)).best
    assert place is not None
    assert (place.country, place.precision, place.city) == (country, "country", "")
    assert place.timezone
    if zone:
        assert timezone_at(place.latitude, place.longitude) == zone


def test_the_country_field_alone_gives_a_country_level_point(geocoder: Geocoder) -> None:
    place = geocoder.locate(Request(country="GM")).best
    assert place is not None
    assert (place.name, place.precision) == ("Gambia", "country")


def test_an_ambiguous_name_lists_candidates_most_populous_first(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(text="Springfield"), limit=5)
    regions = [place.region for place in result.places]
    assert len(result.places) == 5
    assert {"Missouri", "Massachusetts", "Illinois"} <= set(regions)
    assert regions[0] == "Missouri"


def test_the_display_name_names_region_and_country(geocoder: Geocoder) -> None:
    place = geocoder.locate(Request(city="London", region="ON", country="CA")).best
    assert place is not None
    assert place.name == "London, Ontario, Canada"
    assert (place.city, place.region, place.timezone) == ("London", "Ontario", "America/Toronto")


def test_a_misspelt_town_gets_suggestions(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(city="Zurch", country="CH"))
    assert result.status == "not_found"
    assert result.places == ()
    assert result.message == "We could not find 'Zurch' in Switzerland. Did you mean Zürich?"
    assert result.suggestions == ("Zürich",)


SPAIN = "We could not find '{town}' in Spain."
CHECK = "Please check the spelling, or give a nearby larger town."


@pytest.mark.parametrize(
    ("town", "region", "country", "message"),
    [
        # The country's towns only, each named once.
        ("Pardes", "", "ES", SPAIN + " Did you mean Parres, Ares or Paradas?"),
        # With a region: only towns within 50 km of it. Paradas (Sevilla) is 800 km from
        # Catalonia, Parres (Asturias) and Ares (Galicia) further still.
        ("Pardes", "Catalonia", "ES", SPAIN + " " + CHECK),
        ("Pardes", "Cataluña", "ES", SPAIN + " " + CHECK),
        ("Pardes", "Andalusia", "ES", SPAIN + " Did you mean Paradas?"),
        ("Manresaa", "Catalunya", "ES", SPAIN + " Did you mean Manresa?"),
        # Lleida is in Catalonia, within 50 km of Aragon's towns: named with its neighbour.
        ("Lleyda", "Aragón", "ES", SPAIN + " Did you mean Lleida?"),
        # Two towns of one name are told apart by their regions, unless the region decides.
        (
            "Salamnca",
            "",
            "ES",
            SPAIN + " Did you mean Salamanca (Comunidad de Madrid) or Salamanca (Castilla y León)?",
        ),
        ("Salamnca", "Castile and León", "ES", SPAIN + " Did you mean Salamanca?"),
        ("Sarra", "", "ES", SPAIN + " Did you mean Sarrià (Catalunya) or Sarria (Galicia)?"),
        (
            "Springfeld",
            "",
            "US",
            "We could not find 'Springfeld' in the United States. Did you mean Springfield "
            "(Missouri), Springfield (Massachusetts) or Springfield (Illinois)?",
        ),
        (
            "Springfeld",
            "Illinois",
            "US",
            "We could not find 'Springfeld' in the United States. Did you mean Springfield?",
        ),
        # A region we do not know limits nothing.
        (
            "Springfeld",
            "Nowhere land",
            "US",
            "We could not find 'Springfeld' in the United States. Did you mean Springfield "
            "(Missouri), Springfield (Massachusetts) or Springfield (Illinois)?",
        ),
        ("Munchn", "Bavaria", "DE", "We could not find 'Munchn' in Germany. Did you mean Munich?"),
        ("Munchn", "Bayern", "DE", "We could not find 'Munchn' in Germany. Did you mean Munich?"),
    ],
)
def test_suggestions_are_once_each_in_the_country_and_near_the_region(
    geocoder: Geocoder, town: str, region: str, country: str, message: str
) -> None:
    result = geocoder.locate(Request(city=town, region=region, country=country))
    assert result.status == "not_found"
    assert result.message == message.format(town=town)


def test_a_misspelt_town_in_free_text_gets_suggestions(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(text="Zurch, Switzerland"))
    assert result.status == "not_found"
    assert "Did you mean Zürich?" in result.message


def test_a_town_in_the_wrong_country_is_not_found(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(city="Springfield", country="FR"))
    assert result.status == "not_found"
    assert result.message.startswith("We could not find 'Springfield' in France.")


def test_nonsense_is_not_found_without_suggestions(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(text="Qwxzvbnm"))
    assert (result.status, result.suggestions) == ("not_found", ())
    assert result.message == (
        "We could not find 'Qwxzvbnm'. Please check the spelling, or give a nearby larger town."
    )


def test_an_empty_query_asks_for_a_town(geocoder: Geocoder) -> None:
    result = geocoder.locate(Request(text="  "))
    assert (result.status, result.message) == ("not_found", "Please enter a town or an address.")


def test_the_gazetteer_answers_like_a_geopy_geocoder() -> None:
    gazetteer = get_gazetteer()
    location = gazetteer.geocode("Firenze, Italia")
    assert isinstance(location, Location)
    assert distance(location.point, (43.7696, 11.2558)).km < TOLERANCE_KM
    assert location.raw["country"] == "IT"
    several = gazetteer.geocode("Springfield", exactly_one=False, limit=3)
    assert isinstance(several, list) and len(several) == 3
    structured = gazetteer.geocode({"city": "Springfield", "state": "Illinois", "country": "US"})
    assert isinstance(structured, Location)
    assert structured.raw["region"] == "Illinois"
    assert gazetteer.geocode("Qwxzvbnm") is None


def test_the_gazetteer_is_loaded_once_per_process() -> None:
    assert get_gazetteer() is get_gazetteer()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Genève", "geneve"),
        ("ŁÓDŹ", "lodz"),
        ("Sankt-Peterburg", "sankt peterburg"),
        ("Straße", "strasse"),
        ("  São   Paulo ", "sao paulo"),
        ("上海", "上海"),
    ],
)
def test_fold_ignores_case_accents_and_punctuation(text: str, key: str) -> None:
    assert fold(text) == key
    assert fold_many([text, "x"]) == [key, "x"]


def test_timezone_at_a_point_is_found_offline() -> None:
    assert timezone_at(47.3769, 8.5417) == "Europe/Zurich"
    assert timezone_at(-33.8688, 151.2093) == "Australia/Sydney"
    assert timezone_at(200, 0) == ""


@pytest.mark.parametrize(
    ("text", "precision"),
    [("Singapore", "city"), ("Luxembourg", "city"), ("Mexico", "country"), ("Kuwait", "country")],
)
def test_a_city_state_means_its_city_and_a_large_country_itself(
    geocoder: Geocoder, text: str, precision: str
) -> None:
    place = geocoder.locate(Request(text=text)).best
    assert place is not None
    assert place.precision == precision


def test_the_prepared_index_is_reused_from_the_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = Gazetteer(15000, tmp_path)
    reused = Gazetteer(15000, tmp_path)
    (cached,) = tmp_path.glob("gazetteer-*-15000.marshal")
    cached.write_bytes(b"damaged")
    rebuilt = Gazetteer(15000, tmp_path)

    assert (built.loaded_from_cache, reused.loaded_from_cache) == (False, True)
    assert rebuilt.loaded_from_cache is False
    for gazetteer in (built, reused, rebuilt):
        place = gazetteer.places(gazetteer.lookup("Springfield, MA"))[0]
        assert (place["region"], place["country"]) == ("Massachusetts", "US")
    assert reused.keys == built.keys and reused.cities == built.cities

    # Threads racing for the process's first gazetteer all get the one instance.
    monkeypatch.setattr(gazetteer_module, "_instances", {})
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: get_gazetteer(15000, tmp_path), range(4)))
    assert all(gazetteer is loaded[0] for gazetteer in loaded)
    assert loaded[0].loaded_from_cache


@pytest.mark.parametrize(
    ("country", "phrase"),
    [("GB", "the United Kingdom"), ("NL", "the Netherlands"), ("GM", "the Gambia"),
     ("PH", "the Philippines"), ("FR", "France")],
)  # fmt: skip
def test_a_miss_names_the_country_as_a_sentence_would(
    geocoder: Geocoder, country: str, phrase: str
) -> None:
    result = geocoder.locate(Request(city="Qwxzvbnm", country=country))
    assert result.message.startswith(f"We could not find 'Qwxzvbnm' in {phrase}.")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Deutschland", "DE"),  # pycountry's translations
        ("Allemagne", "DE"),
        ("Niemcy", "DE"),
        ("Holland", "NL"),  # an alias people type
        ("Côte d'Ivoire", "CI"),
        ("Bolivia, Plurinational State of", "BO"),  # pycountry's English official-ish name
    ],
)
def test_the_gazetteer_and_the_search_read_a_country_by_the_same_names(
    name: str, code: str
) -> None:
    from mapapp.filters import countries_named

    assert get_gazetteer().country_code(name) == code
    assert code in countries_named(name.split(",")[0].split()[0])


@pytest.mark.parametrize(
    ("typed", "town"),
    [
        ("München", ("Munich", "DE")),
        ("Köln", ("Köln", "DE")),
        ("Cologne", ("Köln", "DE")),
        ("Genève", ("Geneva", "CH")),
        ("Bruxelles", ("Brussels", "BE")),
        ("Brussel", ("Brussels", "BE")),
        ("Milano", ("Milan", "IT")),
        ("Lisboa", ("Lisbon", "PT")),
        ("Warszawa", ("Warsaw", "PL")),
        ("Den Haag", ("The Hague", "NL")),
        ("北京", ("Beijing", "CN")),
    ],
)
def test_towns_are_known_by_their_alternate_names_most_populous_first(
    typed: str, town: tuple[str, str]
) -> None:
    gazetteer = get_gazetteer()
    first = gazetteer.cities[gazetteer.indices(fold(typed))[0]]

    assert (first.name, first.country) == town
