"""Every CSV and XLSX cell the platform writes goes through tenants.spreadsheets: a text a spreadsheet
would read as a formula gets a leading «'» (OWASP), an XLSX text cell is typed as a string, and
numbers stay numbers. (The billing exports' own test: tests/billing/test_exports.py.)"""

import csv
import datetime
import io
from decimal import Decimal

import openpyxl

from tenants.spreadsheets import csv_row, xlsx_append

TEXTS = ['=HYPERLINK("http://x")', "+47 900 00 000", "-1", "@SUM(A1)", "\tx", "\rx", "Gjerdrum", ""]
SAFE = ['\'=HYPERLINK("http://x")', "'+47 900 00 000", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "Gjerdrum", ""]
NUMBERS = [Decimal("-12.50"), -3, 1.5, None]


def test_it_prefixes_a_csv_text_that_would_start_a_formula_and_writes_numbers_with_a_decimal_comma():
    assert csv_row([*TEXTS, *NUMBERS]) == [*SAFE, "-12,50", "-3", "1,5", None]
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerow(csv_row([TEXTS[0], *NUMBERS]))
    assert out.getvalue().startswith('"\'=HYPERLINK(""http://x"")";-12,50;-3;1,5;')


def test_it_writes_csv_dates_as_norwegian_excel_reads_them():
    at = datetime.datetime(2026, 3, 4, 7, 5)
    assert csv_row([at.date(), at, Decimal("1E+2"), True]) == ["04.03.2026", "04.03.2026 07:05", "100", True]


def test_it_types_every_xlsx_text_cell_as_a_string_that_stays_one_in_the_file():
    workbook = openpyxl.Workbook()
    xlsx_append(workbook.active, [*TEXTS, *NUMBERS])
    assert [c.value for c in workbook.active[1]] == [*SAFE, *NUMBERS]
    saved = io.BytesIO()
    workbook.save(saved)
    [row] = openpyxl.load_workbook(io.BytesIO(saved.getvalue())).active.iter_rows()
    assert row[0].value == SAFE[0]
    assert [c.data_type for c in row[:7]] == ["s"] * 7  # the empty text (row[7]) is an empty cell
    assert [c.data_type for c in row[8:11]] == ["n"] * 3 and row[8].value == -12.5


def test_it_leaves_out_of_an_xlsx_text_the_control_characters_a_worksheet_cannot_hold():
    """A name pasted with a vertical tab (Word's line break) or another control character: openpyxl
    refuses the cell (IllegalCharacterError), so the whole export would fail."""
    workbook = openpyxl.Workbook()
    xlsx_append(workbook.active, ["Gjer\x0bdrum", "=A\x01", "Øvre\x1f senter", "\tx"])
    assert [c.value for c in workbook.active[1]] == ["Gjerdrum", "'=A", "Øvre senter", "'\tx"]
    workbook.save(io.BytesIO())
