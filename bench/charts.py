"""Chart rendering benchmark: the worklist's 300 sparklines and the patient page's trend charts.

    .venv/bin/python bench/charts.py

Pure rendering (no database): times the sparklines of a full worklist (300 rows of the last six
values, as `triage/rows.py` draws them) and the trend charts of a patient page with 90 days of SpO2,
pulse and blood pressure (four readings a day each) with their figures (`templates/charts/_chart.html`,
the table of numbers included), and prints the median and p95 of each.
"""

from __future__ import annotations

import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings_static")

RUNS = int(os.environ.get("BENCH_RUNS", "200"))
ROWS = 300


def _times(work, runs: int) -> tuple[float, float]:
    seen = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        seen.append((time.perf_counter() - began) * 1000)
    seen.sort()
    return statistics.median(seen), seen[int(len(seen) * 0.95) - 1]


def main() -> None:
    import django

    django.setup()
    from django.template.loader import get_template
    from django.utils import timezone

    from triage.trends import charts_for, sparkline_svg

    rng = random.Random(7)
    colours = ["green", "green", "green", "yellow", "red", ""]
    trends = [[{"value": rng.uniform(85, 99), "colour": rng.choice(colours)} for _ in range(6)] for _ in range(ROWS)]
    median, p95 = _times(lambda: [sparkline_svg(t) for t in trends], RUNS)
    print(f"worklist sparklines ({ROWS} rows × 6 values): median {median:.2f} ms, p95 {p95:.2f} ms")

    now = timezone.localtime()
    start = now - datetime.timedelta(days=90)
    readings = []
    for i in range(90 * 4):
        at = start + datetime.timedelta(hours=6 * i)
        readings.append(("spo2", rng.uniform(86, 99), None, None, rng.choice(colours[:5]), at))
        readings.append(("pulse", rng.uniform(55, 110), None, None, rng.choice(colours[:5]), at))
        readings.append(("blood_pressure", None, rng.uniform(110, 170), rng.uniform(60, 100), "green", at))
    median, p95 = _times(lambda: charts_for(readings, None, start, now), max(RUNS // 10, 10))
    print(f"patient page trend charts (90 days, {len(readings)} readings): median {median:.2f} ms, p95 {p95:.2f} ms")
    charts = charts_for(readings, None, start, now)
    figure = get_template("charts/_chart.html")  # loaded once, as the cached loader does in production
    median, p95 = _times(lambda: [figure.render({"chart": c}) for c in charts], max(RUNS // 10, 10))
    print(f"  and their figures with the tables of numbers: median {median:.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
