"""The Innsikt figures as files: a section as CSV (UTF-8 with a byte order mark, semicolons, Norwegian
numbers and dates, for a Norwegian Excel) and every section as one XLSX (a sheet each). Both are the rows of
insight.presentation.file_rows, after the small-cell rule: a hidden figure has an empty value and
its reason beside it, never its value. Every cell goes through tenants.spreadsheets."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from insight.figures import SECTIONS
from insight.presentation import FILE_HEADER, SECTION_TITLES, file_rows, period_text
from insight.selectors import Report
from tenants.spreadsheets import csv_row, xlsx_append

SHEETS = {"capacity": "Kapasitet", "alarm_burden": "Varselbyrde", "adherence": "Etterlevelse", "funnel": "Forløp"}


def _place(report: Report) -> str:
    chosen = report.selection.municipality
    return f"{chosen.name} ({chosen.number})" if chosen else f"{report.view.centre.name}, alle kommuner"


def section_csv(report: Report, name: str) -> bytes:
    """UTF-8 with a byte order mark, as the billing CSV: without it Excel reads the file as Windows-1252
    and every æ, ø and å (a kommune, «Mål», «Forløp») comes out garbled."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_row(FILE_HEADER))
    for row in file_rows(report, name):
        writer.writerow(csv_row(row))
    return out.getvalue().encode("utf-8-sig")


def report_xlsx(report: Report) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in SECTIONS:
        if name not in report.figures.total:
            continue  # finance: capacity and alarm burden only
        sheet = workbook.create_sheet(SHEETS[name])
        xlsx_append(sheet, (f"Innsikt: {SECTION_TITLES[name]}", _place(report)))
        xlsx_append(sheet, ("Periode", period_text(report.period.first, report.period.last)))
        xlsx_append(sheet, ())
        xlsx_append(sheet, FILE_HEADER)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        for row in file_rows(report, name):
            xlsx_append(sheet, row)
        for column, width in (("A", 22), ("B", 16), ("C", 12), ("D", 12), ("E", 40), ("F", 48), ("G", 12), ("H", 50)):
            sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
