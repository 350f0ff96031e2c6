"""Measure the radius that limits "Did you mean" suggestions around the region an organiser named.

Each town of six letters or more is misspelt by dropping its middle letter and looked up with its
country and region. "own region" counts the towns found again when named with their own region;
"neighbour's region" the towns lying 15-40 km from a neighbouring region's nearest town, named
with that neighbour's region (the organiser chose the region across the border). The last row,
no limit, is the baseline: suggestions from the whole country, as before issue 11.

    .venv/bin/python benchmarks/bench_suggestions.py
    .venv/bin/python benchmarks/bench_suggestions.py --sample 50 --countries ES DE
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from mapapp.geocoding import gazetteer as gazetteer_module  # noqa: E402
from mapapp.geocoding import regions  # noqa: E402
from mapapp.geocoding.gazetteer import City, Gazetteer, get_gazetteer  # noqa: E402

RADII_KM = (0.0, 25.0, 50.0, 100.0, float("inf"))
BORDER_MIN_KM, BORDER_MAX_KM = 15.0, 40.0


def misspelt(name: str) -> str:
    """Return a name without its middle letter."""
    middle = len(name) // 2
    return name[:middle] + name[middle + 1 :]


def suggested(gazetteer: Gazetteer, town: City, region: str) -> tuple[bool, int]:
    """Return whether a misspelt town is suggested again with a region, and how many are."""
    names = gazetteer.suggest(misspelt(town.name), town.country, region=region)
    return town.name in [name.split(" (")[0] for name in names], len(names)


def border_towns(towns: list[City], count: int, rng: random.Random) -> list[tuple[City, str]]:
    """Return towns 15-40 km from another region's nearest town, with that region's code."""
    found: list[tuple[City, str]] = []
    for town in rng.sample(towns, len(towns)):
        others = [other for other in towns if other.admin1 != town.admin1]
        if regions.near_any(town, others, BORDER_MIN_KM):
            continue
        near = [o for o in others if regions.near_any(town, [o], BORDER_MAX_KM)]
        if near:
            found.append((town, near[0].admin1))
        if len(found) >= count:
            break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=150, help="towns per country")
    parser.add_argument("--countries", nargs="+", default=["ES", "FR", "IT", "DE"])
    args = parser.parse_args()
    gazetteer = get_gazetteer()
    rng = random.Random(11)
    started = time.perf_counter()
    print(
        "| country | radius km | own region: found | suggestions each | neighbour's region: found |"
    )
    print("|---|---:|---:|---:|---:|")
    for country in args.countries:
        names = gazetteer.iso_regions(country)[1]
        towns = [
            gazetteer.cities[index]
            for index in gazetteer._by_country.get(country, [])
            if gazetteer.cities[index].admin1 in names and len(gazetteer.cities[index].name) >= 6
        ]
        sample = rng.sample(towns, min(args.sample, len(towns)))
        border = border_towns(towns, max(1, args.sample // 4), rng)
        for radius in RADII_KM:
            gazetteer_module.SUGGESTION_REGION_KM = radius
            own = [suggested(gazetteer, town, names[town.admin1]) for town in sample]
            across = [suggested(gazetteer, town, names[code])[0] for town, code in border]
            label = "no limit" if radius == float("inf") else f"{radius:.0f}"
            print(
                f"| {country} | {label} | {sum(hit for hit, _ in own)}/{len(own)} "
                f"| {sum(n for _, n in own) / max(1, len(own)):.2f} "
                f"| {sum(across)}/{len(across)} |"
            )
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
