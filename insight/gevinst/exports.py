"""The gevinstrapport as files: the PDF (weasyprint, the page's tables and charts) and the XLSX (every
figure as a row: its section, group, figure, value, and why it is hidden). Both are built from the same
figures as the page, after the small-cell rule: a hidden figure is an empty cell with its reason, never
its value. Every XLSX cell goes through tenants.spreadsheets."""

from __future__ import annotations

import io

from django.template.loader import render_to_string
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font

from insight.gevinst.presentation import figure_rows
from insight.gevinst.selectors import GevinstReport
from tenants.norwegian import date_text, datetime_text
from tenants.pdf import pdf_from_html
from tenants.spreadsheets import xlsx_append

HEADER = ("Del", "Gruppe", "Mål", "Verdi", "Skjult fordi")


def _place(report: GevinstReport) -> str:
    chosen = report.selection.municipality
    return f"{chosen.name} ({chosen.number})" if chosen else f"{report.view.centre.name}, alle kommuner"


def report_pdf(context: dict) -> bytes:
    """The report as the page shows it, on A4 (`context`: insight.gevinst.views.report_context)."""
    report = context["report"]
    html = render_to_string(
        "insight/gevinst/report_pdf.html",
        {
            **context,
            "place": _place(report),
            "made_at": datetime_text(timezone.localtime()),
            "period_text": f"{date_text(report.period.first)}–{date_text(report.period.last)}",
        },
    )
    return pdf_from_html(html)


def report_xlsx(report: GevinstReport) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Gevinst"
    xlsx_append(sheet, ("Gevinstrapport", _place(report)))
    xlsx_append(sheet, ("Periode", f"{date_text(report.period.first)}–{date_text(report.period.last)}"))
    xlsx_append(sheet, ("Kommuner", ", ".join(m.name for m in report.municipalities)))
    xlsx_append(sheet, ())
    xlsx_append(sheet, HEADER)
    header_row = sheet.max_row
    for section, group, figure, value, reason in figure_rows(report.figures):
        xlsx_append(sheet, (section, group, figure, value, reason))
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for column, width in (("A", 22), ("B", 36), ("C", 48), ("D", 12), ("E", 40)):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
