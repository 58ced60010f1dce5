"""One date and time format everywhere: dd.mm.åååå and tt:mm. Django's Norwegian locale would write
«6. desember 2026»; the project's format module (dho/formats/nb) says otherwise, and every template
that formats a date names one of the formats below."""

import datetime
import re
from pathlib import Path

from django.template import Context, Template
from django.utils import timezone

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The shown formats, a month's name («oktober 2026») and the machine-readable ones
# (an <input type=date> value, a <time datetime> attribute).
ALLOWED = {"d.m.Y", "d.m.Y H:i", "H:i", "l d.m.Y \\k\\l. H:i", "F Y", "Y-m-d", "c"}
FILTER = re.compile(r"\|(?:date|time):(?:\"([^\"]*)\"|'([^']*)')")


def test_every_template_formats_dates_one_way():
    found = {}
    for path in TEMPLATES.rglob("*.html"):
        for match in FILTER.finditer(path.read_text()):
            found.setdefault(match.group(1) or match.group(2), []).append(path.relative_to(TEMPLATES).as_posix())
    assert {fmt: where for fmt, where in found.items() if fmt not in ALLOWED} == {}


def test_a_date_without_a_format_is_written_dd_mm_yyyy():
    moment = timezone.make_aware(datetime.datetime(2026, 3, 4, 7, 5))
    rendered = Template("{{ d }}|{{ t }}|{{ t|date }}|{{ t|time }}|{{ d|date:'SHORT_DATE_FORMAT' }}").render(
        Context({"d": moment.date(), "t": moment})
    )
    assert rendered == "04.03.2026|04.03.2026 07:05|04.03.2026|07:05|04.03.2026"
