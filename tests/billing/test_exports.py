"""The month's files: CSV and XLSX with one row per kommune × component in plain decimals and never a
patient, the PDF «Grunnlag for fakturering» per kommune, all audited; and a locked month's files
are the same bytes after a back-dated change (which becomes an adjustment in the next open month)."""

import csv
import datetime
import io
import time
import zipfile
from decimal import Decimal

import openpyxl
import pypdf
import pytest
from django.utils import timezone

from tenants.models import AuditEvent
from tests.billing import test_pages as pages

# The pages' world: Øvre's price model, Rune and Jens, the two finance users, today pinned.
OCT, start = pages.OCT, pages.start
priced, okonomi_gjerdrum, finance_agder, today = pages.priced, pages.okonomi_gjerdrum, pages.finance_agder, pages.today

RUNE = {"follow_up": 121_200, "licence": 89_600, "equipment": 10_000}  # his full October
JENS = {"follow_up": round(121_200 * 16 / 31), "licence": round(89_600 * 16 / 31)}  # from 16 October


def rows_of_csv(content: bytes) -> list[dict]:
    assert content.startswith("\ufeff".encode())  # Norwegian Excel reads UTF-8 by its byte order mark
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def rows_of_xlsx(content: bytes, sheet: str = "Fordeling") -> list[dict]:
    ws = openpyxl.load_workbook(io.BytesIO(content))[sheet]
    header, *rows = ws.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


def pdf_text(content: bytes) -> str:
    """The text of every page, with its line breaks and non-breaking spaces as plain spaces."""
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.replace("\u00a0", " ").split())


def no_patient_in(world, content: str) -> None:
    for patient in vars(world.p).values():
        for mark in (patient.name, patient.national_id, str(patient.pk)):
            assert mark not in content, f"{mark} in an export"


def xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist())


def test_the_csv_has_one_row_per_kommune_and_component_in_plain_decimals(priced, login):
    response = login(priced.u.finance).get(f"/billing/{OCT}/allocation.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="fordeling-ovre-2026-10.csv"' in response["Content-Disposition"]
    rows = rows_of_csv(response.content)
    got = {(r["Kommunenummer"], r["Komponent"], r["Gjelder"]): r for r in rows}
    assert set(got) == {
        ("3230", "Oppfølging", ""), ("3230", "Lisens", ""), ("3230", "Utstyr", "Pulsoksymeter"),
        ("3238", "Oppfølging", ""), ("3238", "Lisens", ""),
    }  # fmt: skip
    follow_up = got[("3230", "Oppfølging", "")]
    assert {k: follow_up[k] for k in ("Måned", "Status", "Kommune", "Antall", "Enhet", "Sats", "Divisor", "Beløp")} == {
        "Måned": "2026-10", "Status": "Utkast", "Kommune": "Gjerdrum", "Antall": "31", "Enhet": "pasientdøgn",
        "Sats": "1212,00", "Divisor": "31", "Beløp": "1212,00",
    }  # fmt: skip
    assert got[("3238", "Lisens", "")]["Beløp"] == f"{JENS['licence'] // 100},{JENS['licence'] % 100:02d}"
    assert got[("3238", "Lisens", "")]["Antall"] == "16"
    no_patient_in(priced, response.content.decode("utf-8-sig"))


def test_the_xlsx_holds_the_same_rows_as_numbers_and_a_sum_per_kommune(priced, login):
    client = login(priced.u.finance)
    response = client.get(f"/billing/{OCT}/allocation.xlsx")
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = rows_of_xlsx(response.content)
    csv_rows = rows_of_csv(client.get(f"/billing/{OCT}/allocation.csv").content)
    assert len(rows) == len(csv_rows) == 5
    for row, line in zip(rows, csv_rows, strict=True):
        assert Decimal(str(row["Beløp"])).quantize(Decimal("0.01")) == Decimal(line["Beløp"].replace(",", "."))
        assert (row["Kommunenummer"], row["Komponent"]) == (line["Kommunenummer"], line["Komponent"])
    totals = {r["Kommune"]: r["Beløp"] for r in rows_of_xlsx(response.content, "Sum per kommune")}
    assert totals["Gjerdrum"] == pytest.approx(sum(RUNE.values()) / 100)
    assert totals["Sum"] == pytest.approx((sum(RUNE.values()) + sum(JENS.values())) / 100)
    no_patient_in(priced, xlsx_text(response.content))


def test_a_kommunes_finance_exports_only_their_own_kommune(priced, login, okonomi_gjerdrum):
    client = login(okonomi_gjerdrum)
    csv_rows = rows_of_csv(client.get(f"/billing/{OCT}/allocation.csv").content)
    xlsx_rows = rows_of_xlsx(client.get(f"/billing/{OCT}/allocation.xlsx").content)
    assert {r["Kommunenummer"] for r in csv_rows} == {r["Kommunenummer"] for r in xlsx_rows} == {"3230"}
    assert "Nannestad" not in xlsx_text(client.get(f"/billing/{OCT}/allocation.xlsx").content)
    assert client.get(f"/billing/{OCT}/3230.pdf").status_code == 200
    assert client.get(f"/billing/{OCT}/3238.pdf").status_code == 404


def test_the_pdf_holds_the_kommune_the_month_each_line_and_the_total(priced, login):
    response = login(priced.u.finance).get(f"/billing/{OCT}/3230.pdf")
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in ("Grunnlag for fakturering", "Øvre", "Gjerdrum (3230)", "oktober 2026", "UTKAST",
                     "versjon gjeldende fra januar 2026", "Oppfølging", "Lisens", "Utstyr: Pulsoksymeter",
                     "31 pasientdøgn × 1 212,00 kr ÷ 31 = 1 212,00 kr", "31 pasientdøgn × 896,00 kr ÷ 31 = 896,00 kr",
                     "31 enhetsdøgn × 100,00 kr ÷ 31 = 100,00 kr", "Sum Gjerdrum", "2 208,00 kr",
                     "Øvre – grunnlag for fakturering Gjerdrum oktober 2026 – side 1 av 1"):  # fmt: skip
        assert expected in text, expected
    no_patient_in(priced, text)


def test_a_kommune_without_lines_gets_a_pdf_that_says_so_and_others_a_404(priced, login):
    client = login(priced.u.finance)
    text = pdf_text(client.get(f"/billing/{OCT}/3207.pdf").content)  # Nordre Follo: an agreement, no patient
    assert "Ingen linjer for Nordre Follo i oktober 2026" in text and "0,00 kr" in text
    assert client.get(f"/billing/{OCT}/4202.pdf").status_code == 404  # Grimstad is Agder's
    assert client.get(f"/billing/{OCT}/0000.pdf").status_code == 404


def test_every_export_is_audited(priced, login):
    client = login(priced.u.finance)
    for suffix in ("allocation.csv", "allocation.xlsx", "3230.pdf"):
        client.get(f"/billing/{OCT}/{suffix}")
    events = AuditEvent.objects.filter(object_type="billing_export").order_by("pk")
    assert [(e.action, e.object_id, e.username) for e in events] == [
        ("export", "ovre/2026-10/allocation.csv", "finance"),
        ("export", "ovre/2026-10/allocation.xlsx", "finance"),
        ("export", "ovre/2026-10/3230.pdf", "finance"),
    ]
    assert not events.filter(patient_id__isnull=False).exists()


def test_a_locked_months_files_are_the_same_bytes_after_a_back_dated_change(priced, login):
    client = login(priced.u.finance)
    client.post(f"/billing/{OCT}/las/")
    urls = [f"/billing/{OCT}/allocation.csv", f"/billing/{OCT}/allocation.xlsx", f"/billing/{OCT}/3230.pdf",
            f"/billing/{OCT}/3238.pdf"]  # fmt: skip
    before = {url: client.get(url).content for url in urls}
    time.sleep(2.1)  # past the zip format's two-second step: a file stamped with «now» would differ
    # Registered now, effective in the locked October: Jens ended on the 20th, after all.
    start(priced, priced.p.nannestad, datetime.date(2026, 10, 20), event="ended")
    after = {url: client.get(url).content for url in urls}
    for url in urls:
        assert after[url] == before[url], url
    assert "Låst av" in pdf_text(before[urls[2]]) and "UTKAST" not in pdf_text(before[urls[2]])
    # The difference goes to November, the next open month, as an adjustment naming October.
    november = rows_of_csv(client.get("/billing/2026-11/allocation.csv").content)
    adjustments = [r for r in november if r["Komponent"] == "Korrigering"]
    assert {(r["Kommune"], r["Korrigerer"], r["Referansemåned"]) for r in adjustments} == {
        ("Nannestad", "Oppfølging", "2026-10"), ("Nannestad", "Lisens", "2026-10"),
    }  # fmt: skip
    assert all(r["Beløp"].startswith("-") for r in adjustments)


def test_the_workbooks_dates_are_the_lock_time(priced, login):
    client = login(priced.u.finance)
    client.post(f"/billing/{OCT}/las/")
    content = client.get(f"/billing/{OCT}/allocation.xlsx").content
    from billing.models import LockedMonth

    locked_at = LockedMonth.objects.get().locked_at
    properties = openpyxl.load_workbook(io.BytesIO(content)).properties
    expected = locked_at.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
    assert properties.created == properties.modified == expected
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        local = timezone.localtime(locked_at)
        two_seconds = (local.year, local.month, local.day, local.hour, local.minute, local.second // 2 * 2)
        assert {info.date_time for info in archive.infolist()} == {two_seconds}
    metadata = pypdf.PdfReader(io.BytesIO(client.get(f"/billing/{OCT}/3230.pdf").content)).metadata
    assert metadata.creation_date.replace(microsecond=0) == locked_at.replace(microsecond=0)


@pytest.mark.parametrize("role", ["nurse", "gp", "coordinator", "admin"])
def test_the_exports_are_404_for_who_is_not_finance(priced, login, role):
    client = login(getattr(priced.u, role))
    for suffix in ("allocation.csv", "allocation.xlsx", "3230.pdf"):
        assert client.get(f"/billing/{OCT}/{suffix}").status_code == 404
    assert not AuditEvent.objects.filter(object_type="billing_export").exists()


def test_the_exports_are_404_for_another_centres_finance(priced, login, finance_agder):
    client = login(finance_agder)
    for suffix in ("allocation.csv", "allocation.xlsx", "3230.pdf"):
        assert client.get(f"/billing/{OCT}/{suffix}?centre=ovre").status_code == 404
    assert "Sum Grimstad 0,00 kr" in pdf_text(client.get(f"/billing/{OCT}/4202.pdf").content)  # their own, empty


FORMULA = '=HYPERLINK("http://x")'


def test_it_writes_a_kommune_named_like_a_formula_as_text_in_the_csv_and_the_xlsx(priced, login):
    priced.m.gjerdrum.name = FORMULA
    priced.m.gjerdrum.save(update_fields=["name"])
    client = login(priced.u.finance)
    csv_rows = rows_of_csv(client.get(f"/billing/{OCT}/allocation.csv").content)
    assert {r["Kommune"] for r in csv_rows if r["Kommunenummer"] == "3230"} == {"'" + FORMULA}
    assert all(r["Beløp"][0].isdigit() and r["Antall"][0].isdigit() for r in csv_rows)  # numbers stay numbers
    content = client.get(f"/billing/{OCT}/allocation.xlsx").content
    cells = [c for sheet in openpyxl.load_workbook(io.BytesIO(content)) for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f" or str(c.value or "").startswith("=")]
    names = [c for c in cells if c.value == "'" + FORMULA]
    assert len(names) == 4 and {c.data_type for c in names} == {"s"}  # three lines and the kommune's sum
    assert "<f>" not in xlsx_text(content)
    assert all(isinstance(r["Beløp"], int | float) for r in rows_of_xlsx(content))


def test_a_kommune_name_with_a_pasted_control_character_does_not_stop_the_xlsx(priced, login):
    priced.m.gjerdrum.name = "Gjer\x0bdrum"  # a vertical tab, as Word's line break pastes
    priced.m.gjerdrum.save(update_fields=["name"])
    response = login(priced.u.finance).get(f"/billing/{OCT}/allocation.xlsx")
    assert response.status_code == 200
    assert {r["Kommune"] for r in rows_of_xlsx(response.content) if r["Kommunenummer"] == "3230"} == {"Gjerdrum"}
