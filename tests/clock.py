"""Moments a test sends as «a minute ago» that stay on today's date.

A reading measured a minute before the test runs lands on yesterday when the test runs in the first
minute after midnight (Norway's time), while a device lent, a plan approved or a forløp started by the
same test is dated today: the product is right to refuse the reading (the device was not lent that
day), and the test would fail one minute a night. So a test's «a moment ago» stops at today's midnight.
"""

from __future__ import annotations

import datetime

from django.utils import timezone


def earlier_today(delta: datetime.timedelta) -> datetime.datetime:
    """`delta` (minutes, a moment) before now in Norway's time, or today's midnight if that is later.
    Not for «hours ago»: any time before midnight becomes midnight."""
    now = timezone.localtime()
    return max(now - delta, now.replace(hour=0, minute=0, second=0, microsecond=0))
