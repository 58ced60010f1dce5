"""A month's allocation as files for finance: the CSV and XLSX of every line (one row per kommune ×
component, amounts as numbers, never a patient), and per kommune the PDF «Grunnlag for fakturering»
(Norwegian numbers, every line with its quantity × rate = amount and its explanation).

A locked month's files are the same bytes every time they are made: the lines are the stored ones,
and every date a file format would stamp with «now» (the PDF's and the workbook's metadata, the
zip entries inside the XLSX) is the moment the month was locked. A draft's files carry the time
they were made and say «UTKAST».

The CSV is UTF-8 with a byte order mark and semicolons between the fields, as Norwegian Excel opens
it; the amounts are numbers with a decimal comma («1212,00», no thousands gap), which that Excel reads
as numbers. Every cell of
both goes through tenants.spreadsheets: a text that would start a formula (a kommune named
`=HYPERLINK(…)`) gets a leading «'», numbers stay numbers."""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

from billing.presentation import HEADER, STATUS, allocation_rows, basis_context, made_at, plain_quantity
from billing.selectors import Allocation, MunicipalityAllocation
from tenants.norwegian import kroner
from tenants.pdf import pdf_from_html
from tenants.spreadsheets import csv_row, xlsx_append

# --- CSV and XLSX: one row per kommune × component ------------------------------------------------


def allocation_csv(allocation: Allocation) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_row(HEADER))
    for row in allocation_rows(allocation):
        *head, quantity, unit, rate, divisor, amount, explanation = row
        # Numbers as numbers (Decimal), so a negative adjustment is not mistaken for a formula.
        amounts = (_kroner_decimal(rate), divisor, _kroner_decimal(amount))
        writer.writerow(csv_row([*head, plain_quantity(quantity), unit, *amounts, explanation]))
    return out.getvalue().encode("utf-8-sig")


def _kroner_decimal(ore: int) -> Decimal:
    return Decimal(kroner(ore))


def allocation_xlsx(allocation: Allocation) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Fordeling"
    xlsx_append(sheet, HEADER)
    for row in allocation_rows(allocation):
        *head, quantity, unit, rate, divisor, amount, explanation = row
        xlsx_append(
            sheet, [*head, quantity, unit, _kroner_decimal(rate), divisor, _kroner_decimal(amount), explanation]
        )
    _money_columns(sheet, ("K", "M"))
    totals = workbook.create_sheet("Sum per kommune")
    xlsx_append(totals, ("Måned", "Status", "Kommunenummer", "Kommune", "Beløp"))
    for group in allocation.municipalities:
        xlsx_append(
            totals,
            (
                str(allocation.month),
                STATUS[allocation.status],
                group.municipality.number,
                group.municipality.name,
                _kroner_decimal(group.total_ore),
            ),
        )
    xlsx_append(totals, ("", "", "", "Sum", _kroner_decimal(allocation.total_ore)))
    _money_columns(totals, ("E",))
    for ws in (sheet, totals):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    return _stable_workbook(workbook, made_at(allocation))


def _money_columns(sheet, columns) -> None:
    for column in columns:
        for cell in sheet[column][1:]:
            cell.number_format = "0.00"
        sheet.column_dimensions[column].width = 14
    sheet.column_dimensions["D"].width = 18
    sheet.column_dimensions["E"].width = 16


def zip_time(at: datetime.datetime) -> tuple:
    """A zip entry's date: local time, in the two-second steps the format stores."""
    year, month, day, hour, minute, second = timezone.localtime(at).timetuple()[:6]
    return (year, month, day, hour, minute, second - second % 2)


def _stable_workbook(workbook: Workbook, at: datetime.datetime) -> bytes:
    """The workbook's bytes with every date fixed to `at`: openpyxl's save_workbook stamps the
    properties with now() and zipfile stamps each entry with the local time, so the writer is
    driven here and the archive is written once more with the entries' dates set."""
    utc = at.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
    workbook.properties.created = workbook.properties.modified = utc
    workbook.properties.creator = workbook.properties.lastModifiedBy = "DHO"
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).write_data()
    local = zip_time(at)
    stable = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(stable, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=local)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, source.read(entry.filename))
    return stable.getvalue()


# --- the PDF per kommune ----------------------------------------------------------------------------


def basis_pdf(allocation: Allocation, group: MunicipalityAllocation) -> bytes:
    """«Grunnlag for fakturering» for one kommune and month. weasyprint writes no date of its own;
    the document's dates are the ones the template names (the lock time for a locked month)."""
    html = render_to_string("billing/basis_pdf.html", basis_context(allocation, group))
    return pdf_from_html(html)


def filename(allocation: Allocation, suffix: str) -> str:
    """«fordeling-ovre-2026-10.csv», «grunnlag-ovre-2026-10-3230.pdf»."""
    return f"{allocation.centre.slug}-{allocation.month}{suffix}"
