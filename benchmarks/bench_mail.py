"""Time the outbox: queueing a message and sending it (as an .eml file) beside an outbox's history.

An outbox keeps its sent rows for MAPAPP_MAIL_RETENTION_DAYS (90), so on campaign day it holds
thousands. Queueing is one durable append; sending claims a row and records its outcome, each a
rewrite of the table under its lock, so it grows with the rows kept. The baseline in the same run
is the store's durable append of one row to a table of the same size.

    .venv/bin/python benchmarks/bench_mail.py
    .venv/bin/python benchmarks/bench_mail.py --sizes 100 --messages 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mapapp import create_app, mail
from mapapp.storage import Table, get_store, get_table

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = PROJECT_ROOT / "benchmarks" / "out"
CONTEXT = {"reference": "abcd1234", "title": "Lights on the river", "event_url": "https://x/e"}
BATCH = 5000


def history(count: int) -> list[dict[str, str]]:
    """Return sent outbox rows, as 90 days of a campaign leave them."""
    return [
        {
            "id": f"sent{number:08d}",
            "created_at": "2026-02-27T10:00:00Z",
            "kind": "approved",
            "to": f"organiser{number}@example.org",
            "event_id": f"ev{number:06d}",
            "context": json.dumps(CONTEXT, sort_keys=True),
            "message_id": f"<sent{number:08d}@example.org>",
            "status": "sent",
            "attempts": "1",
            "next_attempt_at": "",
            "last_error": "",
            "sent_at": "2026-02-27T10:00:05Z",
        }
        for number in range(count)
    ]


def milliseconds(samples: list[float]) -> tuple[float, float]:
    """Return the median and the 95th percentile of samples in seconds, in ms."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def measure(size: int, messages: int) -> tuple[int, list[float], list[float], list[float]]:
    """Return the outbox's bytes and the seconds of each baseline append, queue and send."""
    OUT_DIR.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-mail-", dir=OUT_DIR))
    try:
        app = create_app(
            {
                "ENV": "testing",
                "DATA_DIR": str(folder),
                "SECRET_KEY": "bench",
                "MAIL_SENDER": "off",
            }
        )
        with app.app_context():
            outbox = get_table(mail.OUTBOX_FILE)
            rows = history(size)
            for start in range(0, len(rows), BATCH):
                outbox.append(rows[start : start + BATCH])
            baseline = baseline_table(size)
            appends, queues, sends = [], [], []
            for number in range(messages):
                started = time.perf_counter()
                baseline.append([{**rows[0], "id": f"base{number:06d}"}])
                appends.append(time.perf_counter() - started)
                started = time.perf_counter()
                mail.queue("approved", "someone@example.org", CONTEXT, event_id="abcd1234")
                queues.append(time.perf_counter() - started)
            for _ in range(messages):
                started = time.perf_counter()
                counts = mail.send_due(limit=1)
                sends.append(time.perf_counter() - started)
                assert counts.sent == 1, counts
            size_bytes = (folder / mail.OUTBOX_FILE).stat().st_size
        return size_bytes, appends, queues, sends
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def baseline_table(size: int) -> Table:
    """Return a table with the outbox's columns and rows, for the baseline append."""
    table = get_store().table("baseline.csv", mail.COLUMNS, key="id")
    rows = history(size)
    for start in range(0, len(rows), BATCH):
        table.append(rows[start : start + BATCH])
    return table


def main() -> None:
    """Print the table: per outbox size, the baseline append, queue and send, p50 and p95."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--messages", type=int, default=30, help="messages timed per size")
    arguments = parser.parse_args()
    print(
        f"Python {platform.python_version()}, {platform.machine()}, load average "
        f"{os.getloadavg()[0]:.2f}; {arguments.messages} messages per size, .eml delivery"
    )
    print()
    print(
        "| rows kept | outbox MB | baseline append p50 / p95 ms | queue p50 / p95 ms "
        "| send p50 / p95 ms |"
    )
    print("|---:|---:|---:|---:|---:|")
    for size in arguments.sizes:
        size_bytes, appends, queues, sends = measure(size, arguments.messages)
        cells = [
            f"{p50:.1f} / {p95:.1f}" for p50, p95 in map(milliseconds, (appends, queues, sends))
        ]
        print(f"| {size:,} | {size_bytes / 1e6:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
