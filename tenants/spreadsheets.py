"""Cells of every CSV and XLSX file the platform writes, safe against formula injection.

A text that a spreadsheet would read as a formula (`=HYPERLINK("http://…")` as a kommune's name, a
note, anything a user typed) must stay text when finance opens the file. As OWASP's «CSV Injection»
advises, a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
`'`; numbers, dates and empty cells are written as they are (a negative amount stays a number). In
XLSX each text cell is also typed as a string (data type `s`), so it is never stored as a formula, and
loses the control characters a worksheet cannot hold (openpyxl would refuse the cell).

A CSV is read by a Norwegian Excel: `;` between cells, so numbers are written with a decimal comma
(«-12,50», which Excel with Norwegian settings reads as a number; «-12.50» it would keep as text) and
dates as «dd.mm.åååå» (times «dd.mm.åååå tt:mm»), the platform's one date format.

Every writer goes through here: `csv_row` for `csv.writer`, `xlsx_append` for an openpyxl sheet.
Lives in tenants, the lowest layer, so that any app may write a spreadsheet.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from tenants.norwegian import date_text, datetime_text, plain

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Values that are not text: written as themselves (a number stays a number, bool included).
VALUE_TYPES = (int, float, Decimal, datetime.date, datetime.time, datetime.timedelta)


def safe_text(value) -> str:
    """The text, with a leading «'» where a spreadsheet would start a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _is_value(value) -> bool:
    return value is None or isinstance(value, VALUE_TYPES)


def cell(value):
    """One cell: a number, date or None as it is, anything else as safe text."""
    return value if _is_value(value) else safe_text(value)


def csv_value(value):
    """One CSV cell as Norwegian Excel reads it: decimal comma, dd.mm.åååå; texts as `cell`."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (Decimal, int, float)):
        return plain(value)
    if isinstance(value, datetime.datetime):
        return datetime_text(value)
    if isinstance(value, datetime.date):
        return date_text(value)
    return cell(value)


def csv_row(values: Iterable) -> list:
    """A row for csv.writer.writerow (with `delimiter=";"`)."""
    return [csv_value(value) for value in values]


def xlsx_cell(value):
    """One XLSX cell as `cell`, a text without the control characters a worksheet cannot hold (a
    vertical tab pasted from Word in a name): openpyxl refuses such a cell, and the export with it."""
    value = cell(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def xlsx_append(sheet, values: Iterable) -> None:
    """sheet.append(values), every text cell safe and typed as a string."""
    values = list(values)
    sheet.append([xlsx_cell(value) for value in values])
    for written, value in zip(sheet[sheet.max_row], values, strict=False):
        if not _is_value(value):
            written.data_type = "s"
