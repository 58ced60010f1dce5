"""Finance's pages: the months of their scope, one month with its lines, downloads and the lock, the
year, the price model with its simulation, and the koordinator's patient-level basis of their own
kommune's lines. Who sees what is billing.selectors' (a 404 for everyone else); the figures are
the allocation's; these views pick, audit and render."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from billing import exports, presentation
from billing.calculation import FIRST_YEAR, LAST_YEAR, Month, MonthError
from billing.forms import PriceModelForm, SimulationForm
from billing.models import LockedMonth, PriceModel
from billing.selectors import (
    MunicipalityAllocation,
    centre_municipalities,
    coordinator_basis,
    coordinator_municipalities,
    cover_for,
    draft_price_model,
    finance_view_for,
    finance_views,
    months_of,
    price_model_centres,
    price_model_for,
    simulate,
    visible_allocation,
)
from billing.services import BillingRefused, month_lock, price_model_save
from tenants.models import AuditAction, Municipality
from tenants.norwegian import kr
from tenants.selectors import centre_of
from tenants.services import audit_record, audit_record_many


def parse_month(text: str) -> Month:
    """The month of a page's address; one that is not a month, or outside the years billed, is a 404."""
    try:
        return Month.parse(text)
    except MonthError:
        raise Http404 from None


def this_month() -> Month:
    return Month.of(timezone.localdate())


def has_ended(month: Month) -> bool:
    return month.end <= timezone.localdate()


class FinanceMixin(LoginRequiredMixin):
    """Binds `self.finance` (the user's view of one centre, `?centre=<slug>` when they have several;
    a 404 for who is not finance there) and `self.month` from the URL before any handler runs."""

    finance = None
    month = None
    views: list = []

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.finance = finance_view_for(request.user, request.GET.get("centre", ""))
            self.views = finance_views(request.user)
            if "month" in kwargs:
                self.month = parse_month(kwargs["month"])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        # The URL's arguments are bound above (self.month, self.kwargs); the context names its own.
        return self.render_to_response(self.get_context_data())

    def centre_query(self) -> str:
        """«?centre=ovre» when the user is finance at several centres (links keep the centre)."""
        return f"?centre={self.finance.centre.slug}" if len(self.views) > 1 else ""

    def url(self, name: str, *args) -> str:
        return reverse(f"billing:{name}", args=args) + self.centre_query()

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            centre=self.finance.centre,
            centres=[v.centre for v in self.views] if len(self.views) > 1 else [],
            centre_query=self.centre_query(),
            own_municipality_only=self.finance.municipality_ids is not None,
            **kwargs,
        )

    def audit(self, what: str, action=AuditAction.VIEW) -> None:
        # Counts and amounts, never a patient: the event names the centre and what was read.
        audit_record(
            action=action,
            object_type="billing_export" if action == AuditAction.EXPORT else "billing_month",
            object_id=f"{self.finance.centre.slug}/{what}",
            request=self.request,
        )


# --- the months: landing, month, year ---------------------------------------------------------------


class BillingHomeView(FinanceMixin, TemplateView):
    """Finance lands on the last twelve months of their scope: status, totals, each kommune's share."""

    template_name = "billing/home.html"

    def get_context_data(self, **kwargs):
        allocations = months_of(self.finance, count=12)
        municipalities, rows = presentation.month_rows(allocations, lambda m: self.url("month", m))
        self.audit("months")
        return super().get_context_data(
            municipalities=municipalities,
            rows=rows,
            legend=presentation.legend(municipalities),
            year_url=self.url("year", timezone.localdate().year),
            **kwargs,
        )


class MonthView(FinanceMixin, TemplateView):
    """One month: each kommune's lines (adjustments named), totals, downloads, and the lock."""

    template_name = "billing/month.html"

    def get_context_data(self, **kwargs):
        allocation = visible_allocation(self.finance, self.month)
        self.audit(str(self.month))
        lockable = self.finance.can_lock and allocation.status == "draft" and has_ended(self.month)
        return super().get_context_data(
            allocation=allocation,
            groups=[presentation.group_view(g) for g in allocation.municipalities],
            total=kr(allocation.total_ore),
            month=self.month,
            month_name=presentation.month_name(self.month),
            status_text=presentation.locked_text(allocation),
            price_model_from=presentation.price_model_from(allocation),
            lockable=lockable,
            not_ended=self.finance.can_lock and allocation.status == "draft" and not has_ended(self.month),
            previous_url=self.url("month", self.month.previous()),
            next_url=self.url("month", self.month.next()),
            show_next=self.month.first < this_month().first,
            lock_url=self.url("lock", self.month),
            csv_url=self.url("csv", self.month),
            xlsx_url=self.url("xlsx", self.month),
            pdfs=[
                (g.municipality, self.url("pdf", self.month, g.municipality.number)) for g in allocation.municipalities
            ],
            year_url=self.url("year", self.month.first.year),
            home_url=self.url("home"),
            **kwargs,
        )


class MonthLockView(FinanceMixin, TemplateView):
    """The lock's confirmation step (GET) and the lock itself (POST). A refusal is shown as a
    message on the month page; a month that cannot be locked by this user has nothing to confirm."""

    template_name = "billing/lock.html"

    def get(self, request, *args, **kwargs):
        if (
            not self.finance.can_lock
            or LockedMonth.objects.filter(centre=self.finance.centre, month=self.month.first).exists()
        ):
            return redirect(self.url("month", self.month))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        allocation = visible_allocation(self.finance, self.month)
        return super().get_context_data(
            allocation=allocation,
            total=kr(allocation.total_ore),
            month=self.month,
            month_name=presentation.month_name(self.month),
            next_name=presentation.month_name(self.month.next()),
            month_url=self.url("month", self.month),
            lock_url=self.url("lock", self.month),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        try:
            month_lock(view=self.finance, month=self.month, user=request.user, request=request)
        except BillingRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                presentation.locked_message(self.month),
            )
        return redirect(self.url("month", self.month))


class YearView(FinanceMixin, TemplateView):
    """Each kommune's sum per month of a year and the year's total; months not begun are empty."""

    template_name = "billing/year.html"

    def get_context_data(self, **kwargs):
        year = self.kwargs["year"]
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise Http404
        months = [Month(datetime.date(year, n, 1)) for n in range(1, 13)]
        allocations = {m: visible_allocation(self.finance, m) for m in months if m.first <= this_month().first}
        self.audit(str(year))
        return super().get_context_data(
            year=year,
            table=presentation.year_table(months, allocations, lambda m: self.url("month", m)),
            previous_url=self.url("year", year - 1),
            next_url=self.url("year", year + 1),
            show_next=year < timezone.localdate().year,
            home_url=self.url("home"),
            **kwargs,
        )


# --- downloads --------------------------------------------------------------------------------------


def attachment(content: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class AllocationCsvView(FinanceMixin, View):
    def get(self, request, month):
        allocation = visible_allocation(self.finance, self.month)
        self.audit(f"{self.month}/allocation.csv", AuditAction.EXPORT)
        name = f"fordeling-{self.finance.centre.slug}-{self.month}.csv"
        return attachment(exports.allocation_csv(allocation), "text/csv; charset=utf-8", name)


class AllocationXlsxView(FinanceMixin, View):
    def get(self, request, month):
        allocation = visible_allocation(self.finance, self.month)
        self.audit(f"{self.month}/allocation.xlsx", AuditAction.EXPORT)
        name = f"fordeling-{self.finance.centre.slug}-{self.month}.xlsx"
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return attachment(exports.allocation_xlsx(allocation), xlsx, name)


class BasisPdfView(FinanceMixin, View):
    """«Grunnlag for fakturering» for one kommune the viewer sees and the centre bills that month
    (a kommune with an agreement but no lines gets a PDF that says so; any other is a 404)."""

    def get(self, request, month, municipality):
        allocation = visible_allocation(self.finance, self.month)
        group = self.group(allocation, municipality)
        self.audit(f"{self.month}/{group.municipality.number}.pdf", AuditAction.EXPORT)
        name = f"grunnlag-{self.finance.centre.slug}-{self.month}-{group.municipality.number}.pdf"
        response = HttpResponse(exports.basis_pdf(allocation, group), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{name}"'
        return response

    def group(self, allocation, number: str) -> MunicipalityAllocation:
        for group in allocation.municipalities:
            if group.municipality.number == number:
                return group
        centre = self.finance.centre
        billed = centre_municipalities(centre, self.month, cover_for(centre))
        found = Municipality.objects.filter(number=number, pk__in=billed).first()
        if found is None or not self.finance.shows(found.pk):
            raise Http404
        return MunicipalityAllocation(found, [])


# --- the price model and its simulation ---------------------------------------------------------------


class PriceModelView(LoginRequiredMixin, TemplateView):
    """The centre's price model: its versions (read by finance), a new version (the centre admin),
    and the simulation of a draft on a past month (anyone who reads it; a kommune's finance sees
    their own kommune's row): the draft's figures come with the POST and the answer shows them beside
    today's model, computed in memory and stored nowhere. A 404 for everyone else."""

    template_name = "billing/price_model.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            readable, editable = price_model_centres(request.user)
            readable = list(readable.order_by("name"))
            slug = request.GET.get("centre", "")
            chosen = [c for c in readable if c.slug == slug] if slug else readable
            if not chosen:
                raise Http404
            self.centre, self.centres = chosen[0], readable
            self.can_edit = self.centre.pk in editable
            views = [v for v in finance_views(request.user) if v.centre.pk == self.centre.pk]
            self.shows = views[0].shows if views else (lambda municipality_id: True)
        return super().dispatch(request, *args, **kwargs)

    def here(self) -> str:
        return reverse("billing:price-model") + (f"?centre={self.centre.slug}" if len(self.centres) > 1 else "")

    def post(self, request, *args, **kwargs):
        if request.POST.get("action") == "simulate":
            form = SimulationForm(request.POST, prefix="sim")
            simulation = self.simulation(form.cleaned_data["valid_from"], form.values()) if form.is_valid() else None
            return self.render_to_response(self.get_context_data(simulation_form=form, simulation=simulation))
        if not self.can_edit:
            raise PermissionDenied("Bare senterets administrator kan endre prismodellen.")
        form = PriceModelForm(request.POST)
        if form.is_valid():
            try:
                price_model_save(
                    centre=self.centre,
                    user=request.user,
                    valid_from=form.cleaned_data["valid_from"].first,
                    values=form.values(),
                    request=request,
                )
            except BillingRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, presentation.price_model_saved_message(form.cleaned_data["valid_from"]))
                return redirect(self.here())
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        today = this_month()
        current = price_model_for(self.centre, today)
        versions = PriceModel.objects.filter(centre=self.centre).select_related("created_by")
        used = set(LockedMonth.objects.filter(centre=self.centre).values_list("price_model_id", flat=True))
        kwargs.setdefault("form", PriceModelForm(initial=PriceModelForm.initial_from(current, today.next())))
        kwargs.setdefault(
            "simulation_form",
            SimulationForm(prefix="sim", initial=SimulationForm.initial_from(current, today.previous())),
        )
        return super().get_context_data(
            centre=self.centre,
            centres=self.centres if len(self.centres) > 1 else [],
            can_edit=self.can_edit,
            versions=[
                presentation.version_view(v, v.pk == getattr(current, "pk", None), v.pk in used)
                for v in versions.order_by("-valid_from")
            ],
            here=self.here(),
            **kwargs,
        )

    def simulation(self, month: Month, values: dict) -> dict:
        """The draft's figures on the month, beside the model in effect then (the user's kommuner)."""
        draft = draft_price_model(self.centre, month, values)
        rows = [r for r in simulate(self.centre, month, draft) if self.shows(r["municipality"].pk)]
        return presentation.simulation_view(month, draft, rows)


# --- the koordinator's basis of their own kommune's lines ---------------------------------------------


class BasisView(LoginRequiredMixin, TemplateView):
    """Which patients of the koordinator's own kommune a month's lines count (days, devices), beside
    the kommune's lines: through the scope selector and audited like any patient read. A 404 for a
    kommune that is not the koordinator's own, and for everyone else."""

    template_name = "billing/basis.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            own = coordinator_municipalities(request.user)
            self.municipality = Municipality.objects.filter(number=kwargs["municipality"], pk__in=own).first()
            self.centre = centre_of(self.municipality.pk) if self.municipality else None
            if self.centre is None:
                raise Http404
            self.month = parse_month(kwargs["month"])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data())

    def get_context_data(self, **kwargs):
        basis = coordinator_basis(self.request.user, self.centre, self.municipality, self.month)
        audit_record_many(
            action=AuditAction.VIEW,
            object_type="billing_basis",
            patients=[b.patient for b in basis],
            request=self.request,
        )
        number = self.municipality.number
        return super().get_context_data(
            municipality=self.municipality,
            centre=self.centre,
            month_name=presentation.month_name(self.month),
            status=basis.status,
            **presentation.basis_view(basis),
            previous_url=reverse("billing:basis", args=[self.month.previous(), number]),
            next_url=reverse("billing:basis", args=[self.month.next(), number]),
            show_next=self.month.first < this_month().first,
            **kwargs,
        )


class LatestBasisView(LoginRequiredMixin, View):
    """The koordinator's way in: last month's basis of their own kommune (a 404 for everyone else)."""

    def get(self, request):
        municipality = (
            Municipality.objects.filter(pk__in=coordinator_municipalities(request.user)).order_by("name").first()
        )
        if municipality is None:
            raise Http404
        return redirect("billing:basis", this_month().previous(), municipality.number)
