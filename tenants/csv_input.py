"""What every CSV import reads a file through: its text, its lines and its rows.

The importers (the device register's, the gevinst's from an EPJ extract, the innbyggertall's from SSB)
read a file a user uploaded or an API client sent. `read_upload` makes its text (UTF-16 with its BOM,
UTF-8 with or without one, else Windows-1252; `read_uploaded_file` the same of a form's file, at most
DATA_UPLOAD_MAX_MEMORY_SIZE as the API's body), `csv_lines` its lines, `delimiter_of` what separates
their cells and `csv_rows` the cells of each line. A file that cannot be read to its end (a field
longer than the csv module's limit, as a stray opening quote makes of the rest of the file), that
holds what PostgreSQL cannot store (a NUL character, half a surrogate pair) or that is an Excel
workbook, no CSV at all, raises `UnreadableCSV`, in Norwegian naming the line; each importer raises
it as its own refusal (a 400 in the API, the form's error on the page), so nothing of such a file is
stored.

In tenants, the lowest layer, so that every app's importer reads files the same way.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

from django.conf import settings

from tenants.norwegian import fixed, grouped

# PostgreSQL stores neither NUL nor half a UTF-16 surrogate pair ("\ud800" alone is valid JSON; a
# whole pair has become one character by the time it is parsed). tenants.api_input checks API bodies by it.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# How an Excel workbook begins, read as Windows-1252 text: .xlsx is a zip archive, .xls an OLE2 file.
WORKBOOKS = (b"PK\x03\x04".decode("cp1252"), b"\xd0\xcf\x11\xe0".decode("cp1252"))


class UnreadableCSV(ValueError):
    """The file cannot be read as CSV, or holds a character that cannot be stored: the message says
    what and on which line (Norwegian, safe to show)."""


def read_upload(raw: bytes) -> str:
    """The text of an uploaded file: UTF-16 when it begins with its byte order mark (Excel's «Unicode-tekst»),
    else UTF-8 (with or without a BOM), else Windows-1252, which older Excel and SSB's «ISO-8859-1»
    exports use."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all (an odd number of bytes, half a pair): read on as below
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_uploaded_file(upload) -> str:
    """The text of a file chosen in a form, as `read_upload` reads it, at most DATA_UPLOAD_MAX_MEMORY_SIZE
    as the API's CSV body: Django caps a form's fields, never its files. A larger file raises
    UnreadableCSV before it is read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and upload.size > limit:
        raise UnreadableCSV(
            f"Filen er for stor ({_megabytes(upload.size)} MB): høyst {_megabytes(limit)} MB. Del den i flere filer."
        )
    return read_upload(upload.read())


def _megabytes(size: int) -> str:
    return fixed(size / (1024 * 1024), 1)


def _unstorable(number: int, line: str) -> UnreadableCSV:
    if "\x00" in line:
        return UnreadableCSV(f"Linje {number} inneholder et NUL-tegn (\\u0000), som ikke kan lagres.")
    return UnreadableCSV(
        f"Linje {number} inneholder et halvt tegn (\\ud800–\\udfff uten sin andre halvdel), som ikke kan lagres."
    )


def csv_lines(text: str) -> list[str]:
    """The lines of the file, a BOM left out; the first line with a character that cannot be stored
    is refused by its number."""
    if (text or "").startswith(WORKBOOKS):
        raise UnreadableCSV(
            "Filen er en Excel-arbeidsbok, ikke en CSV-fil. Åpne den i Excel, velg Lagre som → «CSV UTF-8 "
            "(kommadelt)», og last opp den nye filen."
        )
    lines = (text or "").lstrip("\ufeff").splitlines()
    if UNSTORABLE.search(text or ""):
        for number, line in enumerate(lines, start=1):
            if UNSTORABLE.search(line):
                raise _unstorable(number, line)
    return lines


def delimiter_of(first: str, delimiters: str) -> str:
    """The one of `delimiters` the first line holds most of, the first of them on a tie. A tab among
    them: lines copied from Excel's cells and pasted, and Excel's «Unicode-tekst», are tab-separated."""
    return max(delimiters, key=first.count)  # max keeps the first of equals


def csv_rows(lines: list[str], *, delimiter: str) -> list[list[str]]:
    """The cells of each row of `lines` (from `csv_lines`). A row the csv module cannot read is refused
    by the line it begins on."""
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    rows: list[list[str]] = []
    read = 0  # the lines the rows so far took up (a quoted cell may hold a line break)
    try:
        for row in reader:
            rows.append(row)
            read = reader.line_num
    except csv.Error as exc:
        raise UnreadableCSV(f"Filen kunne ikke leses som CSV (linje {read + 1}): {_reason(exc)}") from None
    return rows


def _reason(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f'et felt er lengre enn {grouped(csv.field_size_limit())} tegn. Står det et anførselstegn (") '
            "som ikke er lukket?"
        )
    return str(exc)
