"""The evaluation's due date, one rule (patients.forlop) for the follow-up list, the evaluation page
and the forløp board: the date set at the last evaluation, else the vedtak's, else the centre's
months after the oppstart; without an oppstart row, the months from the plan's approval."""

import datetime

from django.utils import timezone

from patients.forlop import (
    EVALUATION_NOTICE_DAYS,
    evaluation_due,
    evaluation_interval,
    evaluation_set_on,
    evaluation_soon,
)

JAN_1 = datetime.date(2025, 1, 1)


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def test_months_are_counted_as_days_of_an_average_month():
    assert evaluation_interval(3) == datetime.timedelta(days=91)
    assert evaluation_interval(6) == datetime.timedelta(days=183)


def test_the_date_set_at_an_evaluation_wins_over_the_vedtaks():
    assert evaluation_set_on(datetime.date(2025, 5, 1), datetime.date(2025, 4, 1)) == datetime.date(2025, 5, 1)
    assert evaluation_set_on(None, datetime.date(2025, 4, 1)) == datetime.date(2025, 4, 1)
    assert evaluation_set_on(None, None) is None


def test_a_started_forlop_is_due_on_the_date_set_else_months_after_the_oppstart():
    set_at_evaluation = evaluation_due((JAN_1, datetime.date(2025, 6, 1), datetime.date(2025, 4, 1)), None, 3)
    assert set_at_evaluation == (_midnight(datetime.date(2025, 6, 1)), _midnight(datetime.date(2025, 6, 1)))
    vedtak = evaluation_due((JAN_1, None, datetime.date(2025, 4, 1)), None, 3)
    assert vedtak == (_midnight(datetime.date(2025, 4, 1)), _midnight(datetime.date(2025, 4, 1)))
    months = evaluation_due([JAN_1, None, None], None, 3)  # a list, as a values_list row's rest
    assert months == (_midnight(JAN_1 + datetime.timedelta(days=91)),) * 2


def test_the_oppstart_wins_over_the_plans_approval():
    approved = _midnight(datetime.date(2024, 1, 1))
    assert evaluation_due((JAN_1, None, None), approved, 3)[0] == _midnight(JAN_1 + datetime.timedelta(days=91))


def test_a_forlop_from_before_the_history_counts_from_the_approval_and_is_settled_since_it():
    approved = _midnight(JAN_1) + datetime.timedelta(hours=10)
    assert evaluation_due(None, approved, 6) == (approved + datetime.timedelta(days=183), approved)
    assert evaluation_due(None, None, 3) is None


def test_months_from_an_approval_keep_the_norwegian_clocks_day_across_summer_time():
    """Approved at 00:30 on 1 August (summer time): 91 days later is 31 October by the Norwegian
    clock, winter time by then; counted in UTC it was 23:30 on the 30th."""
    approved = timezone.make_aware(datetime.datetime(2026, 8, 1, 0, 30))
    due, settled_from = evaluation_due(None, approved.astimezone(datetime.UTC), 3)
    local = timezone.localtime(due)
    assert (local.date(), local.time()) == (datetime.date(2026, 10, 31), datetime.time(0, 30))
    assert settled_from == approved


def test_the_board_gives_notice_two_weeks_ahead():
    today = datetime.date(2025, 3, 1)
    assert evaluation_soon(today + datetime.timedelta(days=EVALUATION_NOTICE_DAYS), today)
    assert evaluation_soon(today - datetime.timedelta(days=30), today)  # overdue stays listed
    assert not evaluation_soon(today + datetime.timedelta(days=EVALUATION_NOTICE_DAYS + 1), today)
    assert not evaluation_soon(None, today)
