"""The forløp's rules as data and pure functions (no queries): when an evaluation falls due. The
services and selectors of patients, and triage's follow-up lists, all reckon by these."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

EVALUATION_NOTICE_DAYS = 14  # «evaluering forfaller» on the board: the date within two weeks
DEFAULT_EVALUATION_MONTHS = 3  # a kommune served by no centre (the centre's `evaluation_months`)


def evaluation_interval(months: int) -> datetime.timedelta:
    """`months` as days, the way the centre's «evaluering hver N. måned» is counted."""
    return datetime.timedelta(days=round(months * 30.44))


def evaluation_set_on(next_evaluation: datetime.date | None, vedtak_date: datetime.date | None):
    """The evaluation date set for the forløp: the one set at the last evaluation («fortsetter»),
    else the vedtak's."""
    return next_evaluation or vedtak_date


def evaluation_due(
    start: Sequence[Any] | None,
    approved_at: datetime.datetime | None,
    months: int,
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(due, settled from) of a patient's evaluation. `start` is the latest oppstart as (started_on,
    next_evaluation, the vedtak's evaluation date): due on the date set (`evaluation_set_on`), else
    `months` after the oppstart; an evaluation on or after the due date settles it. A forløp from
    before the status history (no oppstart row) counts `months` from the approval of the plan in force
    (`approved_at`, handed in by the caller: the plan is ebp's), and any evaluation since the approval
    settles it. Neither: None (nothing is due)."""
    after = evaluation_interval(months)
    if start is not None:
        started_on, next_evaluation, vedtak_date = start
        day = evaluation_set_on(next_evaluation, vedtak_date) or started_on + after
        due = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        return due, due
    if approved_at is not None:
        return approved_at + after, approved_at
    return None


def evaluation_soon(due_on: datetime.date | None, today: datetime.date) -> bool:
    """Whether the board lists the forløp under «Evaluering forfaller»: its date within the notice."""
    return due_on is not None and due_on <= today + datetime.timedelta(days=EVALUATION_NOTICE_DAYS)
