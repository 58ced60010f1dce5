"""Norwegian numbers, money, percentages, dates and times are written in one module, tenants.norwegian:
its outputs, the names other apps import it under, Django's formats agreeing with it, and no second
copy of its logic in the apps' code."""

import datetime
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import formats, timezone, translation

from tenants import norwegian

ROOT = Path(__file__).resolve().parents[2]
APPS = ["tenants", "patients", "measurements", "ebp", "triage", "billing", "dho"]
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("ore", "shown", "plain"),
    [
        (121_200, f"1{NBSP}212,00{NBSP}kr", "1212.00"),
        (-4550, f"−45,50{NBSP}kr", "-45.50"),
        (5, f"0,05{NBSP}kr", "0.05"),
    ],
)
def test_it_writes_money_from_ore(ore, shown, plain):
    assert norwegian.kr(ore) == shown
    assert norwegian.kr(ore, unit=False) == shown.removesuffix(f"{NBSP}kr")
    assert norwegian.kroner(ore) == plain
    assert norwegian.parse_kroner(shown.replace("−", "")) == abs(ore)


def test_it_writes_numbers_percentages_and_quantities():
    assert norwegian.number(38.5) == "38,5"
    assert norwegian.number(87.6, 0, against=88) == "87,6"  # rounding never crosses the bound
    assert norwegian.grouped(4_500_000) == f"4{NBSP}500{NBSP}000"
    assert norwegian.plain(Decimal("12.500")) == "12,500" and norwegian.plain(0.1) == "0,1"
    assert norwegian.quantity(Decimal("1212.50")) == f"1{NBSP}212,5"
    assert norwegian.quantity(Decimal("465.000")) == "465"
    assert norwegian.percent(168, 1000) == f"16,8{NBSP}%"
    assert norwegian.percent(-5, 1000) == f"−0,5{NBSP}%"
    assert norwegian.percent(1, 0) == "–"
    assert norwegian.fixed(1.25 * 1024 * 1024 / (1024 * 1024), 1) == "1,2"


def test_it_writes_dates_and_times_as_django_does_with_the_projects_formats():
    moment = datetime.datetime(2026, 3, 4, 7, 5)
    assert norwegian.date_text(moment.date()) == "04.03.2026"
    assert norwegian.time_text(moment) == "07:05"
    assert norwegian.datetime_text(moment) == "04.03.2026 07:05"
    assert norwegian.datetime_text(moment, kl=True) == "04.03.2026 kl. 07:05"
    assert norwegian.day_text(moment) == "04.03."
    aware = timezone.make_aware(moment)
    with translation.override("nb"):
        assert formats.date_format(moment.date()) == norwegian.date_text(moment)
        assert formats.date_format(aware, "DATETIME_FORMAT") == norwegian.datetime_text(moment)
        assert formats.time_format(moment.time()) == norwegian.time_text(moment)
        # What a person types is read the way it is written first.
        assert formats.get_format("DATE_INPUT_FORMATS")[0] == norwegian.DATE
        assert formats.get_format("DATETIME_INPUT_FORMATS")[0] == norwegian.DATETIME
        assert formats.get_format("TIME_INPUT_FORMATS")[0] == norwegian.TIME


@pytest.mark.parametrize(
    ("utc", "date", "clock"),
    [
        (datetime.datetime(2026, 7, 1, 19, 20, tzinfo=datetime.UTC), "01.07.2026", "21:20"),  # summer: +2
        (datetime.datetime(2026, 12, 6, 23, 30, tzinfo=datetime.UTC), "07.12.2026", "00:30"),  # after midnight
        (datetime.datetime(2026, 10, 25, 0, 30, tzinfo=datetime.UTC), "25.10.2026", "02:30"),  # before the change
        (datetime.datetime(2026, 10, 25, 1, 30, tzinfo=datetime.UTC), "25.10.2026", "02:30"),  # the hour again
    ],
)
def test_a_moment_from_the_database_is_written_by_the_norwegian_clock(utc, date, clock):
    """PostgreSQL gives timestamps in UTC; a date or time written from one in Python (an error
    message, a page heading, a file name) is the clock in Norway, as Django's |date filter shows it."""
    assert norwegian.date_text(utc) == date
    assert norwegian.time_text(utc) == clock
    assert norwegian.datetime_text(utc) == f"{date} {clock}"
    assert norwegian.datetime_text(utc, kl=True) == f"{date} kl. {clock}"
    assert norwegian.day_text(utc) == date[:6]
    with translation.override("nb"):
        assert formats.date_format(timezone.localtime(utc), "DATETIME_FORMAT") == norwegian.datetime_text(utc)


def test_many_moments_are_written_as_one_at_a_time():
    """datetime_texts (a chart's table: the zone looked up once for hundreds of moments) writes each
    moment as datetime_text does: aware ones by the Norwegian clock, naive ones and dates as they are."""
    moments = [
        datetime.datetime(2026, 7, 1, 19, 20, tzinfo=datetime.UTC),
        datetime.datetime(2026, 10, 25, 1, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 6, 23, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 6, 23, 30),  # naive: as it is
        timezone.localtime(datetime.datetime(2026, 3, 4, 6, 5, tzinfo=datetime.UTC)),
    ]
    assert norwegian.datetime_texts(moments) == [norwegian.datetime_text(m) for m in moments]
    assert norwegian.datetime_texts(moments)[:3] == ["01.07.2026 21:20", "25.10.2026 02:30", "07.12.2026 00:30"]
    assert norwegian.datetime_texts([]) == []


def test_a_whole_number_is_read_with_its_thousands_grouped_as_norwegians_write_them():
    for text in ("7512", "7 512", f"7{NBSP}512", "7\u202f512", " 7.512 ", "7512 "):
        assert norwegian.parse_whole(text) == 7_512, text
    assert norwegian.parse_whole("1.234.567") == 1_234_567
    for text in ("7,5", "7.51", "-5", "", "sju", "７５"):
        with pytest.raises(norwegian.WholeNumberError, match="er ikke et helt tall"):
            norwegian.parse_whole(text)


def test_the_apps_import_the_formatting_from_the_one_module():
    """No app keeps a second name for it: every import of a formatting function names tenants.norwegian."""
    names = {"kr", "kroner", "parse_kroner", "AmountError", "number", "plain", "quantity", "percent", "fixed",
             "grouped", "date_text", "day_text", "time_text", "datetime_text", "datetime_texts", "NBSP"}  # fmt: skip
    assert {name for name in names if not hasattr(norwegian, name)} == set()
    pattern = re.compile(r"^from (\S+) import (.+)$", re.M)
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for module, imported in pattern.findall(path.read_text()):
                if module == "tenants.norwegian" or module.startswith((".", "__")):
                    continue
                clash = {n.split(" as ")[0].strip() for n in imported.strip("()").split(",")} & names
                if clash and module.split(".")[0] in APPS:
                    found.append(f"{path.relative_to(ROOT)}: {module} {sorted(clash)}")
    assert found == []


# A second copy of the logic: a decimal point made a comma, a hand-written no-break space, a Norwegian
# date or time format (in strftime or an f-string; ISO «%Y-%m-%d %H:%M» in a model's log name is not
# one). Allowed only in tenants/norwegian.py.
COPIES = [
    re.compile(r"""\.replace\(\s*["']\.["']\s*,\s*["'],["']\s*\)"""),
    re.compile(r"\\u00a0|\\xa0"),
    re.compile(r"%d\.%m\.%Y|%d\.%m\.(?=[\"'}\s])"),
    re.compile(r"(?<!%d )(?<!%dT)%H:%M"),
]


def test_no_app_writes_norwegian_numbers_or_dates_itself():
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if path == ROOT / "tenants" / "norwegian.py" or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(copy.search(line) for copy in COPIES):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
