"""Billing benchmark: one month's allocation for a large centre.

    make bench-billing
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/billing.py)

Seeds, in its own database (`<db>_bench_billing`, kept between runs), one centre with 30 kommuner
(one follows up its own patients), 100,000 patients with a year of status history (starts, pauses
and resumes, ends, moves between kommuner) and 150,000 device loans; then prints:

- the time to compute one month's allocation (billing.selectors.allocation_for), target < 5 s;
- the time to compute the next open month after a locked one that a back-dated change touched
  (the locked month is recomputed for its adjustment lines);
- the time to render the month's CSV and one kommune's PDF (billing.exports).
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _seed  # noqa: E402

KOMMUNER = 30
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))
LOANS = int(os.environ.get("BENCH_LOANS", "150000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TODAY = datetime.date.today()


def _setup() -> None:
    _seed.setup("bench_billing", secret="bench-billing-")


def seed():
    """Idempotent: a seeded database is reused, so a second run starts measuring at once."""
    import uuid

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from billing.models import PriceModel
    from patients.models import DeviceLoan, Patient, StatusChange
    from tenants.models import Agreement, Centre, Membership, Population

    user, _ = get_user_model().objects.get_or_create(username="bench-finance")
    if Patient.objects.count() >= PATIENTS:
        return Centre.objects.get(slug="bench"), user
    started, rng, now = time.perf_counter(), random.Random(7), timezone.now()
    kommuner, centre = _seed.centre_with_kommuner(KOMMUNER)
    Membership.objects.get_or_create(user=user, role="finance", centre=centre)
    for i, m in enumerate(kommuner[1:], 1):
        Agreement.objects.get_or_create(
            centre=centre,
            municipality=m,
            defaults={"follow_up_by": "municipality" if i == 1 else "centre", "valid_from": datetime.date(2020, 1, 1)},
        )
        Population.objects.get_or_create(
            municipality=m, year=TODAY.year, defaults={"inhabitants": rng.randint(900, 90000)}
        )
    PriceModel.objects.get_or_create(
        centre=centre,
        valid_from=datetime.date(2020, 1, 1),
        defaults={
            "base_ore": 50_000_000,
            "base_key": "mixed",
            "base_equal_percent": 30,
            "follow_up_ore": 121_200,
            "paused_percent": 50,
            "licence_ore": 59_600,
            "start_fee_ore": 150_000,
            "equipment_ore": {"pulsoksymeter": 10_000, "nettbrett": 20_000, "vekt": 15_000, "blodtrykk": 15_000},
        },
    )
    ids = [m.pk for m in kommuner]
    patients = [(uuid.UUID(int=rng.getrandbits(128)), rng.choice(ids)) for _ in range(PATIENTS)]
    _seed.copy_patients(patients, now, TODAY, rng, ids)
    types = ["pulsoksymeter", "nettbrett", "vekt", "blodtrykk"]
    _seed.copy(
        "patients_device",
        ["centre_id", "type", "model", "serial", "state", "note", "created_at"],
        ((centre.pk, types[i % 4], "", f"B-{i:07d}", "lent", "", now) for i in range(LOANS)),
    )
    device_ids = list(centre.devices.order_by("id").values_list("id", flat=True))
    loans = []
    for device_id in device_ids:
        pid, m = rng.choice(patients)
        lent = TODAY - datetime.timedelta(days=rng.randint(1, 400))
        returned = lent + datetime.timedelta(days=rng.randint(5, 200))
        loans.append((device_id, pid, m, lent, returned if returned < TODAY else None, user.pk, now, now))
    _seed.copy(
        "patients_deviceloan",
        [
            "device_id",
            "patient_id",
            "municipality_id",
            "lent_on",
            "returned_on",
            "lent_by_id",
            "created_at",
            "updated_at",
        ],
        loans,
    )
    _seed.analyze()
    print(
        f"Seeded {PATIENTS:,} patients, {StatusChange.objects.count():,} status rows, "
        f"{DeviceLoan.objects.count():,} loans in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return centre, user


def _time(fn, runs: int = RUNS) -> tuple[float, object]:
    timing = _seed.timed(fn, runs)
    return timing.wall, timing.result


def main() -> int:
    _setup()
    centre, user = seed()
    # the finance user's request: the app's role, under row-level security
    return _seed.measured_as(user, lambda user: measure(centre, user))


def measure(centre, user) -> int:
    from billing.calculation import Month
    from billing.models import LockedMonth
    from billing.selectors import allocation_for, finance_view_for, visible_allocation
    from billing.services import month_lock
    from patients.models import StatusChange

    month = Month.of(TODAY).previous()
    seconds, allocation = _time(lambda: allocation_for(centre, month))
    lines = len(allocation.lines)
    print(
        f"Month {month}: {len(allocation.municipalities)} kommuner, {lines} lines, "
        f"total {allocation.total_ore / 100:,.2f} kr",
        flush=True,
    )
    print(f"  compute one month's allocation: median {seconds:.2f} s of {RUNS} (target < 5 s)", flush=True)

    view = finance_view_for(user)
    earlier = month.previous()
    if not LockedMonth.objects.filter(centre=centre, month=earlier.first).exists():
        month_lock(view=view, month=earlier, user=user)
    changed = StatusChange.objects.filter(event="started", effective_date__lt=earlier.first).first()
    StatusChange.objects.create(
        patient_id=changed.patient_id,
        municipality_id=changed.municipality_id,
        event="evaluated",
        effective_date=earlier.last,
    )
    seconds, allocation = _time(lambda: allocation_for(centre, month))
    adjustments = sum(1 for line in allocation.lines if line.component == "adjustment")
    print(
        f"  the open month after a locked month with a back-dated change (recomputed, {adjustments} "
        f"adjustment lines): median {seconds:.2f} s",
        flush=True,
    )

    from billing import exports

    shown = visible_allocation(view, month)
    seconds, csv_text = _time(lambda: exports.allocation_csv(shown))
    print(f"  render the month's CSV ({len(csv_text):,} bytes): median {seconds * 1000:.0f} ms", flush=True)
    group = shown.municipalities[1]
    seconds, pdf = _time(lambda: exports.basis_pdf(shown, group))
    print(f"  render one kommune's PDF ({len(pdf):,} bytes): median {seconds * 1000:.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
