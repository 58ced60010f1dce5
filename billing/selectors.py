"""Reads of the tjenesteprismodell: who sees which centre's and kommune's figures, the price model in
effect, and a month's allocation — a locked month from its stored lines, an open month computed
from the rows (status history, loans, agreements, populations) plus the adjustment lines for
locked months whose rows have changed since they were locked.

Finance sees counts and amounts, never a patient. The one patient-level read here (the koordinator's
basis of their own kommune's lines) goes through patients.selectors.visible_patients."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from psycopg.types.string import TextLoader

from billing.calculation import (
    COMPONENT_ORDER,
    STATE_AFTER,
    Basis,
    Breakdown,
    Cover,
    Line,
    Month,
    PatientFigures,
    Span,
    StatusRow,
    breakdown,
    day_counts,
    month_lines,
    segments,
)
from billing.models import Component, LockedLine, LockedMonth, PriceModel
from patients.models import DeviceLoan, DeviceType, Patient, Start, StatusChange
from patients.selectors import visible_patients
from tenants.models import Agreement, Centre, FollowUpBy, Municipality, Role
from tenants.norwegian import kr
from tenants.selectors import admin_centres, chosen_memberships, populations_changed_since, populations_for

# --- who sees what --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinanceView:
    """One centre's allocation as one user may see it: every kommune (the centre's finance) or only
    their own (a kommune's finance)."""

    centre: Centre
    municipality_ids: frozenset[int] | None = None  # None: every kommune of the centre
    can_lock: bool = False

    def shows(self, municipality_id: int) -> bool:
        return self.municipality_ids is None or municipality_id in self.municipality_ids


def finance_views(user) -> list[FinanceView]:
    """The centres whose allocation the user may read, as finance (in a session acting for one
    organisation, as that one's finance). Empty for everyone else."""
    if not getattr(user, "is_authenticated", False):
        return []
    views: dict[int, FinanceView] = {}
    for m in chosen_memberships(user).filter(role=Role.FINANCE).select_related("centre", "municipality"):
        if m.centre is not None:
            views[m.centre.pk] = FinanceView(m.centre, None, can_lock=True)
            continue
        assert m.municipality_id is not None  # a membership is at a centre or a kommune (its check constraint)
        partner = Q(agreements__municipality_id=m.municipality_id) | Q(host=m.municipality_id)
        for centre in Centre.objects.filter(partner).distinct():
            if centre.pk not in views:
                views[centre.pk] = FinanceView(centre, frozenset({m.municipality_id}))
    return sorted(views.values(), key=lambda v: v.centre.name)


def finance_view_for(user, centre_slug: str = "") -> FinanceView:
    """The user's view of one centre (the only one, or the one named); a 404 otherwise."""
    views = finance_views(user)
    if centre_slug:
        views = [v for v in views if v.centre.slug == centre_slug]
    if not views:
        raise Http404
    return views[0]


def price_model_centres(user):
    """Centres whose price model the user may read (finance) or edit (the centre admin)."""
    editable = admin_centres(user)
    readable = {v.centre.pk for v in finance_views(user)} | set(editable.values_list("pk", flat=True))
    return Centre.objects.filter(pk__in=readable), set(editable.values_list("pk", flat=True))


def coordinator_municipalities(user) -> set[int]:
    """The kommuner the user is koordinator of (in a session acting for one organisation, that one)."""
    coordinator = chosen_memberships(user).filter(role=Role.COORDINATOR, municipality__isnull=False)
    return set(coordinator.values_list("municipality_id", flat=True))


# --- the rows a month is computed from ------------------------------------------------------------


def price_model_for(centre: Centre, month: Month) -> PriceModel | None:
    return PriceModel.objects.filter(centre=centre, valid_from__lte=month.first).order_by("-valid_from").first()


def cover_for(centre: Centre) -> Cover:
    """The centre's agreements as day ranges; the host is followed up by its own centre throughout
    unless an agreement row of its own says otherwise."""
    cover = Cover()
    for a in Agreement.objects.filter(centre=centre).order_by("valid_from"):
        end = a.valid_to + datetime.timedelta(days=1) if a.valid_to else datetime.date.max
        cover.periods.setdefault(a.municipality_id, []).append((a.valid_from, end, a.follow_up_by))
    cover.periods.setdefault(centre.host_id, [(datetime.date.min, datetime.date.max, FollowUpBy.CENTRE)])
    return cover


def status_rows(municipality_ids, month: Span, patient_ids=None) -> list[StatusRow]:
    """The state-bearing rows the month (or any span of days: insight's weeks) needs, in effective
    order per patient: each patient's last one before the month (the state it starts in, one
    DISTINCT ON over the (patient, effective date) index) and the month's own. Days come as
    ordinals: no date object per row (bench/billing.py)."""
    table = StatusChange._meta.db_table
    patients = "AND patient_id = ANY(%(patients)s)" if patient_ids is not None else ""
    where = f"""patient_id IS NOT NULL AND municipality_id = ANY(%(municipalities)s) AND event = ANY(%(events)s)
                {patients}"""
    sql = f"""
        SELECT patient_id, day, event, municipality_id FROM (
            SELECT * FROM (
                SELECT DISTINCT ON (patient_id) patient_id, effective_date - DATE '0001-01-01' + 1 AS day, event,
                       municipality_id, at, id
                  FROM {table} WHERE {where} AND effective_date < %(first)s
                 ORDER BY patient_id, effective_date DESC, at DESC, id DESC) before
            UNION ALL
            SELECT patient_id, effective_date - DATE '0001-01-01' + 1, event, municipality_id, at, id
              FROM {table} WHERE {where} AND effective_date >= %(first)s AND effective_date < %(end)s
        ) rows ORDER BY patient_id, day, at, id"""  # noqa: S608 – the table from the model, values as parameters
    params: dict[str, Any] = {"municipalities": list(municipality_ids), "events": list(STATE_AFTER),
                              "first": month.first, "end": month.end, "patients": list(patient_ids or [])}  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        # The month's sort fits in memory (at 100,000 patients the default 4 MB spills to disk), and
        # patient ids come as text: only compared, so no uuid.UUID object per row.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.cursor.adapters.register_loader("uuid", TextLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()  # plain tuples in StatusRow's field order


# A loan's first and last day in the month (both loan days counted) and the loans of the centre's
# devices the month bills a kommune for: one expression for the month's lines and the koordinator's
# basis alike. Only the days the kommune's agreement covers are billed (`Cover.covered`, as the
# patient-days): a kommune covered the whole month is summed in SQL, the others loan by loan.
LOAN_FIRST = "GREATEST(l.lent_on, %(first)s)"
LOAN_LAST = "LEAST(COALESCE(l.returned_on, %(last)s), %(last)s)"
LOANS = f"""
          FROM {DeviceLoan._meta.db_table} l JOIN {DeviceLoan._meta.get_field("device").related_model._meta.db_table} d
            ON d.id = l.device_id
         WHERE d.centre_id = %(centre)s AND l.municipality_id = ANY(%(municipalities)s)
           AND l.lent_on <= %(last)s AND (l.returned_on IS NULL OR l.returned_on >= %(first)s)"""


def device_days(centre: Centre, municipality_ids, month: Month, cover: Cover) -> dict[tuple[int, str], int]:
    """Device-days per (kommune, device type) of the centre's loans in the month on the days the
    kommune's agreement covers: one aggregate for the kommuner covered all month."""
    whole = cover.whole_month(month)
    sql = f"SELECT l.municipality_id, d.type, SUM({LOAN_LAST} - {LOAN_FIRST} + 1) {LOANS} GROUP BY 1, 2"
    with connection.cursor() as cursor:
        cursor.execute(sql, _loan_params(centre, [m for m in municipality_ids if m in whole], month))
        out: dict[tuple[int, str], int] = {(m, t): int(days) for m, t, days in cursor.fetchall()}
    partly = [m for m in municipality_ids if m not in whole]
    for m, t, _patient, _serial, days in loan_days(centre, partly, month, cover):
        out[(m, t)] = out.get((m, t), 0) + days
    return out


def loan_days(centre: Centre, municipality_ids, month: Month, cover: Cover) -> list[tuple[int, str, str, str, int]]:
    """The same loans one by one: (kommune, device type, patient id as text, serial, covered days);
    a loan on no covered day is left out."""
    columns = f"l.municipality_id, d.type, l.patient_id::text, d.serial, {LOAN_FIRST}, {LOAN_LAST}"
    sql = f"SELECT {columns} {LOANS} ORDER BY d.serial"
    with connection.cursor() as cursor:
        cursor.execute(sql, _loan_params(centre, municipality_ids, month))
        rows = cursor.fetchall()
    out = []
    for m, t, patient, serial, first, last in rows:
        days = cover.covered(m, first, last)
        if days:
            out.append((m, t, patient, serial, days))
    return out


def _loan_params(centre: Centre, municipality_ids, month: Month) -> dict[str, Any]:
    return {
        "centre": centre.pk,
        "municipalities": list(municipality_ids),
        "first": month.first,
        "last": month.last,
    }


def start_rows(municipality_ids, month: Month, cover: Cover) -> list[tuple[int, str]]:
    """(kommune, patient id as text) of each oppstart in the month on a day the kommune's agreement
    covers: the `patients.Start` rows, as insight's funnel counts oppstarter. A move writes a
    `started` status row in the new kommune for the forløp it carries on (patients.services.moves),
    which is no new oppstart: it has no Start row, and a merged record's own Start keeps its day."""
    rows = Start.objects.filter(
        municipality_id__in=municipality_ids, started_on__gte=month.first, started_on__lt=month.end,
    ).values_list("municipality_id", "started_on", "patient_id")  # fmt: skip
    return [(m, str(patient)) for m, day, patient in rows if cover.follow_up_on(m, day)]


def starts_in(municipality_ids, month: Month, cover: Cover) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for municipality_id, _patient in start_rows(municipality_ids, month, cover):
        out[municipality_id] += 1
    return dict(out)


def centre_municipalities(centre: Centre, month: Month, cover: Cover) -> list[int]:
    """The kommuner the centre bills for the month: those with an agreement on any day of it, and the host."""
    return sorted(m for m in cover.periods if cover.covers_month(m, month))


def month_basis(centre: Centre, month: Month, model: PriceModel, cover: Cover | None = None) -> Basis:
    cover = cover or cover_for(centre)
    municipalities = centre_municipalities(centre, month, cover)
    members = [m for m in municipalities if _in_base(model, centre, cover, m, month)]
    return Basis(
        month=month,
        counts=day_counts(segments(status_rows(municipalities, month), month), cover, month),
        device_days=device_days(centre, municipalities, month, cover),
        starts=starts_in(municipalities, month, cover),
        base_members=members,
        populations=populations_for(members, month.first.year),
        device_labels=dict(DeviceType.choices),
    )


def _in_base(model: PriceModel, centre: Centre, cover: Cover, municipality_id: int, month: Month) -> bool:
    if municipality_id == centre.host_id and not model.host_in_base:
        return False
    own = cover.days(municipality_id, month.first, month.end).get(FollowUpBy.CENTRE, 0) == 0
    return model.own_follow_up_in_base or not own


def computed_lines(centre: Centre, month: Month, model: PriceModel) -> list[Line]:
    return month_lines(model, month_basis(centre, month, model), kr)


# --- a month's allocation ---------------------------------------------------------------------------


@dataclass
class MunicipalityAllocation:
    municipality: Municipality
    lines: list[Line]

    @property
    def total_ore(self) -> int:
        return sum(line.amount_ore for line in self.lines)


@dataclass
class Allocation:
    centre: Centre
    month: Month
    status: str  # "draft" | "locked"
    price_model: PriceModel | None
    municipalities: list[MunicipalityAllocation] = field(default_factory=list)
    locked: LockedMonth | None = None

    @property
    def total_ore(self) -> int:
        return sum(m.total_ore for m in self.municipalities)

    @property
    def lines(self) -> list[Line]:
        return [line for m in self.municipalities for line in m.lines]


def allocation_for(centre: Centre, month: Month) -> Allocation:
    """The whole month for the centre: stored if locked, else computed with its adjustments."""
    locked = (
        LockedMonth.objects.filter(centre=centre, month=month.first).select_related("price_model", "locked_by").first()
    )
    if locked:
        lines = [_line(row) for row in LockedLine.objects.filter(locked_month=locked).order_by("position")]
        return _grouped(centre, month, "locked", locked.price_model, lines, locked)
    model = price_model_for(centre, month)
    lines = computed_lines(centre, month, model) if model else []
    lines += adjustment_lines(centre, month)
    return _grouped(centre, month, "draft", model, lines)


def visible_allocation(view: FinanceView, month: Month) -> Allocation:
    """The month as the viewer may see it: a kommune's finance gets their own kommune's lines only
    (and its total, never the others')."""
    allocation = allocation_for(view.centre, month)
    allocation.municipalities = [m for m in allocation.municipalities if view.shows(m.municipality.pk)]
    return allocation


def _grouped(centre, month, status, model, lines, locked=None) -> Allocation:
    by_municipality: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        by_municipality[line.municipality_id].append(line)
    names = Municipality.objects.in_bulk(list(by_municipality))
    groups = [
        MunicipalityAllocation(names[mid], sorted(rows, key=_order))
        for mid, rows in sorted(by_municipality.items(), key=lambda kv: names[kv[0]].name)
    ]
    return Allocation(centre, month, status, model, groups, locked)


def _order(line: Line):
    return (COMPONENT_ORDER.index(line.component), line.item, line.reference_month or datetime.date.min, line.corrects)


def _line(row: LockedLine) -> Line:
    return Line(
        row.municipality_id, row.component, row.quantity, row.unit, row.rate_ore, row.amount_ore,
        row.explanation, row.divisor, row.item, row.corrects, row.reference_month,
    )  # fmt: skip


# --- adjustments: a locked month never changes; its corrections follow ----------------------------


def locked_run_before(centre: Centre, month: Month) -> list[LockedMonth]:
    """The locked months whose next open month is `month`: the unbroken run of locked months just
    before it (adjustments for a locked month go to the first open month after it)."""
    locked = {
        lm.month: lm
        for lm in LockedMonth.objects.filter(centre=centre, month__lt=month.first).select_related("price_model")
    }
    run, cursor = [], month.previous()
    while cursor.first in locked:
        run.append(locked[cursor.first])
        cursor = cursor.previous()
    return run


def changed_since_locked(centre: Centre, locked: LockedMonth) -> bool:
    """Whether any row the locked month was computed from has changed since it was locked: a
    status row registered later for a day up to the month's end (back-dated), a loan, agreement
    or population changed later. Cheap EXISTS queries, so only changed months are recomputed."""
    month = Month(locked.month)
    cover = cover_for(centre)
    municipalities = centre_municipalities(centre, month, cover)
    after = locked.locked_at
    return (
        StatusChange.objects.filter(
            municipality_id__in=municipalities, at__gt=after, effective_date__lte=month.last
        ).exists()
        or DeviceLoan.objects.filter(device__centre=centre, updated_at__gt=after, lent_on__lte=month.last).exists()
        or Agreement.objects.filter(centre=centre, updated_at__gt=after).exists()
        or populations_changed_since(municipalities, after)
    )


def adjustment_lines(centre: Centre, month: Month) -> list[Line]:
    out: list[Line] = []
    for locked in locked_run_before(centre, month):
        if changed_since_locked(centre, locked):
            out += _differences(centre, locked)
    return out


def _differences(centre: Centre, locked: LockedMonth) -> list[Line]:
    """Now minus what was sent (the month's own lines and the adjustments already locked for it),
    per kommune, component and device type: one adjustment line for each that differs."""
    month = Month(locked.month)
    now = _totals(computed_lines(centre, month, locked.price_model))
    own = Q(locked_month=locked, reference_month__isnull=True)
    sent_rows = LockedLine.objects.filter(own | Q(locked_month__centre=centre, reference_month=month.first))
    sent = _totals(_line(row) for row in sent_rows)
    out = []
    for key in sorted(set(now) | set(sent), key=str):
        municipality_id, component, item = key
        (q_now, a_now, unit, rate, divisor), (q_sent, a_sent, *_rest) = (
            now.get(key, (0, 0, "", 0, 1)), sent.get(key, (0, 0, "", 0, 1))
        )  # fmt: skip
        if a_now != a_sent:
            unit = unit or sent[key][2]
            label = Component(component).label + (f" ({item})" if item else "")
            out.append(Line(
                municipality_id, Component.ADJUSTMENT, q_now - q_sent, unit, rate or sent[key][3], a_now - a_sent,
                f"Korrigering for {month}: {label}. Sendt {kr(a_sent)}, riktig nå {kr(a_now)}.",
                divisor or 1, item, component, month.first,
            ))  # fmt: skip
    return out


def _totals(lines) -> dict[tuple, tuple]:
    """(kommune, component, item) → (quantity, amount, unit, rate, divisor), adjustments folded into
    the component they correct."""
    out: dict[tuple, tuple] = {}
    for line in lines:
        component = line.corrects or line.component
        key = (line.municipality_id, component, line.item)
        q, a, unit, rate, divisor = out.get(key, (0, 0, line.unit, line.rate_ore, line.divisor))
        out[key] = (q + line.quantity, a + line.amount_ore, unit, rate, divisor)
    return out


# --- the months a viewer sees ---------------------------------------------------------------------


def months_of(view: FinanceView, *, count: int = 12, until: Month | None = None) -> list[Allocation]:
    """The last `count` months up to `until` (default: this month), newest first."""
    month = until or Month.of(timezone.localdate())
    out = []
    for _ in range(count):
        out.append(visible_allocation(view, month))
        month = month.previous()
    return out


# --- the koordinator's patient-level basis of their own kommune's lines ---------------------------


@dataclass
class PatientBasis:
    """One patient's row of the basis (or, with `patient` None, the patients the viewer may not name,
    as one row of counts): their days, oppstart, loans and their part of the lines' amounts."""

    patient: Patient | None
    active_days: int = 0
    paused_days: int = 0
    started: bool = False
    devices: list[tuple[str, str, int]] = field(default_factory=list)  # (type label, serial, days)
    amount_ore: int = 0
    count: int = 1  # how many patients the row stands for


@dataclass
class KommuneBasis:
    """The koordinator's basis of one kommune's month: a breakdown by patient of the very lines the
    kommune is billed (billing.calculation.breakdown over the same rows and the same walk as
    month_basis), so the patients add up to the lines. A locked month's lines are the ones stored at
    the lock (`sent`), and what the basis adds up to is those plus the adjustment lines of later months
    naming it (`adjustments`, each with the month it is in and whether that month is locked): today's
    rows are what the adjustments were computed from. Iterating gives the named patients."""

    month: Month
    status: str  # of the month: "draft" | "locked"
    sent: list[Line]  # the kommune's own lines of the month (locked: as stored)
    adjustments: list[tuple[Line, Month, str]]
    breakdown: Breakdown
    patients: list[PatientBasis]
    others: PatientBasis | None = None
    locked: LockedMonth | None = None

    def __iter__(self):
        return iter(self.patients)

    def __len__(self) -> int:
        return len(self.patients)

    @property
    def adds_up(self) -> bool:
        return all(self.breakdown.adds_up(line) for line in self.breakdown.lines)


def patient_figures(centre: Centre, municipality: Municipality, month: Month, cover: Cover):
    """Per patient (id as text) what they add to the kommune's month — the same status walk, loans and
    oppstarter as month_basis, kept apart by patient — and their loans one by one."""
    municipalities = centre_municipalities(centre, month, cover)
    ids = StatusChange.objects.filter(
        patient__isnull=False, municipality_id=municipality.pk, effective_date__lt=month.end
    ).values_list("patient_id", flat=True).distinct()  # fmt: skip
    # All the centre's kommuner, as month_basis reads them, for just these patients: a patient's days
    # depend on their own rows only, so a move inside the month cuts the same way here.
    rows = status_rows(municipalities, month, patient_ids=[str(pid) for pid in ids])
    counts = day_counts(segments(rows, month), cover, month, by_patient=True)
    figures: dict[str, PatientFigures] = defaultdict(PatientFigures)
    for (municipality_id, patient_id), count in counts.items():
        if municipality_id == municipality.pk:
            figures[patient_id].counts = count
    loans: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for _m, device_type, patient_id, serial, days in loan_days(centre, [municipality.pk], month, cover):
        entry = figures[patient_id]
        entry.device_days[device_type] = entry.device_days.get(device_type, 0) + days
        loans[patient_id].append((device_type, serial, days))
    for _m, patient_id in start_rows([municipality.pk], month, cover):
        figures[patient_id].starts += 1
    return dict(figures), loans


def coordinator_basis(user, centre: Centre, municipality: Municipality, month: Month) -> KommuneBasis:
    """Which patients of the koordinator's own kommune the month's lines count, how many days, which
    devices and their part of each line. Patients are named only through the scope selector: one the
    user may not see is counted in an unnamed row (and a kommune that is not the koordinator's own is
    a 404 in the view)."""
    cover = cover_for(centre)
    figures, loans = patient_figures(centre, municipality, month, cover)
    locked = (
        LockedMonth.objects.filter(centre=centre, month=month.first).select_related("price_model", "locked_by").first()
    )
    model: PriceModel | None
    if locked:
        rows = LockedLine.objects.filter(locked_month=locked, municipality=municipality, reference_month__isnull=True)
        sent = [_line(row) for row in rows.order_by("position")]
        adjustments = adjustments_naming(centre, municipality, month)
        lines, model = _folded(sent + [line for line, _m, _s in adjustments]), locked.price_model
    else:
        model = price_model_for(centre, month)
        sent = [line for line in allocation_for(centre, month).lines if line.municipality_id == municipality.pk]
        sent = [line for line in sent if line.reference_month is None]
        lines, adjustments = sent, []
    split = breakdown(lines, figures, model.paused_percent if model else 0)
    named = {str(pk): p for pk, p in visible_patients(user).in_bulk(list(figures)).items()}
    labels = dict(DeviceType.choices)
    patients: list[PatientBasis] = []
    others: PatientBasis | None = None
    for pid, figure in figures.items():
        row = PatientBasis(
            named.get(pid), figure.counts.active_any, figure.counts.paused_any,
            figure.starts > 0, [(str(labels.get(t, t)), serial, days) for t, serial, days in loans.get(pid, [])],
            split.patient_amount_ore(pid),
        )  # fmt: skip
        if row.patient is not None:
            patients.append(row)
        else:
            others = _fold_other(others, row)
    patients.sort(key=lambda b: b.patient.name if b.patient is not None else "")
    return KommuneBasis(month, "locked" if locked else "draft", sent, adjustments, split, patients, others, locked)


def _fold_other(others: PatientBasis | None, row: PatientBasis) -> PatientBasis:
    if others is None:
        return PatientBasis(None, row.active_days, row.paused_days, row.started, [], row.amount_ore)
    others.active_days += row.active_days
    others.paused_days += row.paused_days
    others.started = others.started or row.started
    others.amount_ore += row.amount_ore
    others.count += 1
    return others


def adjustments_naming(centre: Centre, municipality: Municipality, month: Month) -> list[tuple[Line, Month, str]]:
    """The adjustment lines of later months that correct the kommune's lines of a locked month: those
    locked since, then the ones the first open month after it carries now."""
    stored = LockedLine.objects.filter(
        locked_month__centre=centre, municipality=municipality, reference_month=month.first
    ).select_related("locked_month").order_by("locked_month__month", "position")  # fmt: skip
    out = [(_line(row), Month(row.locked_month.month), "locked") for row in stored]
    open_month = month.next()
    while LockedMonth.objects.filter(centre=centre, month=open_month.first).exists():
        open_month = open_month.next()
    for line in adjustment_lines(centre, open_month):
        if line.municipality_id == municipality.pk and line.reference_month == month.first:
            out.append((line, open_month, "draft"))
    return out


def _folded(lines: list[Line]) -> list[Line]:
    """Lines and their adjustments as one line per component and device type: what the month's lines
    are now, to break down (quantities and amounts summed; the adjustment's component is the one it corrects)."""
    out: dict[tuple, Line] = {}
    for line in lines:
        component = line.corrects or line.component
        key = (line.municipality_id, component, line.item)
        before = out.get(key)
        if before is None:
            out[key] = Line(line.municipality_id, component, line.quantity, line.unit, line.rate_ore, line.amount_ore,
                            line.explanation, line.divisor, line.item)  # fmt: skip
        else:
            out[key] = replace(before, quantity=before.quantity + line.quantity,
                               amount_ore=before.amount_ore + line.amount_ore)  # fmt: skip
    return sorted(out.values(), key=_order)


def draft_price_model(centre: Centre, month: Month, values: dict) -> PriceModel:
    """A draft of the price model from a form's figures (billing.forms.PriceModelForm.values), to
    simulate with: an object in memory, never saved. Finance simulates; only the centre's admin
    writes the price table (billing.services.price_model_save)."""
    return PriceModel(centre=centre, valid_from=month.first, **values)


def simulate(centre: Centre, month: Month, draft: PriceModel) -> list[dict]:
    """Each kommune's amount for a past month under the model in effect and under a draft, side by
    side. Reads only: the draft is the unsaved one of draft_price_model."""
    current = price_model_for(centre, month)
    cover = cover_for(centre)
    totals: dict[int, dict[str, int]] = {}
    for name, model in (("current", current), ("draft", draft)):
        lines = month_lines(model, month_basis(centre, month, model, cover), kr) if model else []
        for line in lines:
            totals.setdefault(line.municipality_id, {"current": 0, "draft": 0})[name] += line.amount_ore
    names = Municipality.objects.in_bulk(list(totals))
    return [
        {"municipality": names[mid], **t, "difference": t["draft"] - t["current"]}
        for mid, t in sorted(totals.items(), key=lambda kv: names[kv[0]].name)
    ]
