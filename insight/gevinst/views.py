"""The gevinst's pages: on a patient, registering service use and a brukerundersøkelse (the forløp's
people, a 403 for others who see the patient, a 404 outside the scope); the gevinstrapport per kommune
and for the centre, as a page, a PDF and an XLSX (figures only, the small-cell rule applied, a 404 for
who sees no kommune's figures); the kommune's comparison group and the CSV import from the EPJ (who
keeps the kommune's forløp, a 404 for everyone else). Thin: the services write, the selectors read,
insight.gevinst.presentation writes the text."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from insight.access import selection_for
from insight.gevinst import exports, presentation
from insight.gevinst.access import REGISTER_REFUSED, gevinst_view_for, gevinst_views, register_municipality_ids
from insight.gevinst.forms import ComparisonForm, ImportForm, ServiceUseForm, SurveyForm
from insight.gevinst.schedule import add_months
from insight.gevinst.selectors import comparison_list, gevinst_period, gevinst_report, patient_gevinst
from insight.gevinst.services import (
    CSV_HEADER,
    GevinstRefused,
    comparison_register,
    service_use_import_csv,
    service_use_register,
    survey_register,
)
from insight.models import ServiceUseKind, Source
from insight.periods import PeriodError
from patients.services.status import NoPatientYet
from patients.views.base import PatientStepView
from tenants.models import AuditAction, Municipality
from tenants.services import audit_record, audit_record_list

OBJECT_TYPE = "gevinst"  # the audit log's object type of a report read (an aggregate: no patient)


def _problems_to_form(form, exc: GevinstRefused) -> None:
    for field, message in exc.problems:
        form.add_error(field if field in form.fields else None, message[:1].upper() + message[1:].rstrip(".") + ".")


# --- on a patient ---------------------------------------------------------------------------------


class GevinstStepView(PatientStepView):
    """A registration on the patient's page: the forløp's people (policy «register_gevinst»)."""

    policy_step = "register_gevinst"
    not_allowed = REGISTER_REFUSED
    refused = (GevinstRefused,)
    button = "Lagre"

    def form_valid(self, form):
        try:
            self.perform(form)
        except GevinstRefused as exc:
            _problems_to_form(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message)
        return redirect(self.get_success_url())

    def get_success_url(self):
        return reverse("patients:detail", args=[self.patient.pk]) + "#gevinst"


def _suggested(patient) -> dict:
    """The first point that is due (else the next), with the period it usually covers: the null-punkt
    the six months before oppstart, 6 months the first six after it, 12 months the next six, the end
    from the last registration (or oppstart) to the end."""
    points = patient_gevinst(patient).schedule
    point = next((p for p in points if p.state == "due"), None) or next(
        (p for p in points if p.state == "coming"), None
    )
    if point is None:
        return {"kind": ServiceUseKind.BASELINE}
    started = next(p.due_on for p in points if p.kind == ServiceUseKind.BASELINE)
    today = timezone.localdate()
    one_day = datetime.timedelta(days=1)
    spans = {
        ServiceUseKind.BASELINE: (add_months(started, -6), started - one_day),
        ServiceUseKind.MONTH_6: (started, add_months(started, 6) - one_day),
        ServiceUseKind.MONTH_12: (add_months(started, 6), add_months(started, 12) - one_day),
        ServiceUseKind.END: (
            add_months(started, 12) if point.due_on > add_months(started, 12) else started,
            point.due_on,
        ),
    }
    first, last = spans[ServiceUseKind(point.kind)]
    return {"kind": point.kind, "period_from": first, "period_to": min(last, today)}


class ServiceUseRegisterView(GevinstStepView):
    form_class = ServiceUseForm
    title = "Registrer tjenestebruk"
    success_message = "Tjenestebruken er registrert."

    def get_initial(self):
        return _suggested(self.patient)

    def perform(self, form):
        data = form.cleaned_data
        service_use_register(
            patient=self.patient,
            user=self.request.user,
            kind=data["kind"],
            period_from=data["period_from"],
            period_to=data["period_to"],
            values=form.values(),
            source=Source.FORM,
            request=self.request,
        )


class SurveyRegisterView(GevinstStepView):
    form_class = SurveyForm
    title = "Registrer brukerundersøkelse"
    success_message = "Brukerundersøkelsen er registrert."

    def get_initial(self):
        return {"answered_on": timezone.localdate()}

    def perform(self, form):
        data = form.cleaned_data
        survey_register(
            patient=self.patient,
            user=self.request.user,
            answered_on=data["answered_on"],
            answers=form.answers(),
            comment=data.get("comment", ""),
            request=self.request,
        )


# --- the report -----------------------------------------------------------------------------------


class ReportMixin(LoginRequiredMixin):
    """Binds the user's view (`?centre=`, a 404 for who sees no kommune's gevinst), the chosen kommune
    (`?municipality=`, a 404 outside the view) and the period (`?from=&to=`, or its errors)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            params = request.GET
            self.view = gevinst_view_for(request.user, params.get("centre", ""))
            number = (params.get("municipality") or "").strip()
            if number and not (len(number) == 4 and number.isascii() and number.isdigit()):
                raise Http404
            self.selection = selection_for(self.view, number)
            try:
                self.period = gevinst_period(params.get("from", ""), params.get("to", ""), today=timezone.localdate())
                self.period_errors: dict[str, str] = {}
            except PeriodError as exc:
                self.period, self.period_errors = None, exc.errors
        return super().dispatch(request, *args, **kwargs)

    def report(self, suffix: str = ""):
        report = gevinst_report(self.view, self.selection, self.period)
        chosen = self.selection.municipality
        audit_record(
            action=AuditAction.EXPORT if suffix else AuditAction.VIEW,
            object_type=OBJECT_TYPE,
            object_id=self.request.get_full_path()[:64],
            request=self.request,
            role=self.view.role,
            municipality_id=chosen.pk if chosen else None,
        )
        return report

    def filename(self, suffix: str) -> str:
        where = self.selection.municipality.number if self.selection.municipality else self.view.centre.slug
        return f"gevinst-{where}-{self.period.first.isoformat()}-{self.period.last.isoformat()}{suffix}"

    def refuse_period(self) -> HttpResponse:
        return HttpResponse(" ".join(self.period_errors.values()), status=400, content_type="text/plain; charset=utf-8")


class GevinstReportView(ReportMixin, TemplateView):
    template_name = "insight/gevinst/report.html"

    def get_context_data(self, **kwargs):
        params = self.request.GET
        context = {
            "gevinst_view": self.view,
            "views": gevinst_views(self.request.user),
            "selection": self.selection,
            "municipalities": Municipality.objects.filter(pk__in=self.view.municipality_ids).order_by("name"),
            "chosen": self.selection.municipality.number if self.selection.municipality else "",
            "raw": {"from": params.get("from", ""), "to": params.get("to", "")},
            "period_errors": self.period_errors,
            "period": self.period,
        }
        if self.period is not None:
            report = self.report()
            context.update(report_context(report), query=self.request.GET.urlencode())
        return super().get_context_data(**context, **kwargs)


def report_context(report) -> dict:
    figures = report.figures
    use_headings, use_rows = presentation.service_table(figures["service_use"])
    cmp_headings, cmp_rows = presentation.service_table(figures["comparison"])
    survey_headings, survey_rows = presentation.survey_table(figures["survey"])
    return {
        "report": report,
        "use_headings": use_headings,
        "use_rows": use_rows,
        "cmp_headings": cmp_headings,
        "cmp_rows": cmp_rows,
        "comparison_any": bool(
            figures["comparison"]["before.patients"].value
            or figures["comparison"]["after.patients"].value
            or figures["comparison"]["before.patients"].hidden
            or figures["comparison"]["after.patients"].hidden
        ),
        "survey_headings": survey_headings,
        "survey_rows": survey_rows,
        "respondents": presentation.respondents(figures["survey"]),
        "use_chart": presentation.service_chart(figures["service_use"], figures["comparison"]),
        "survey_chart": presentation.survey_chart(figures["survey"]),
    }


class GevinstPdfView(ReportMixin, TemplateView):
    def get(self, request, *args, **kwargs):
        if self.period is None:
            return self.refuse_period()
        content = exports.report_pdf(report_context(self.report(".pdf")))
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{self.filename(".pdf")}"'
        return response


class GevinstXlsxView(ReportMixin, TemplateView):
    def get(self, request, *args, **kwargs):
        if self.period is None:
            return self.refuse_period()
        content = exports.report_xlsx(self.report(".xlsx"))
        response = HttpResponse(
            content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = f'attachment; filename="{self.filename(".xlsx")}"'
        return response


# --- the kommune's registrations: the comparison group, the EPJ import --------------------------------


class RegistersMixin(LoginRequiredMixin):
    """The kommuner whose registrations the user keeps (a 404 for who keeps none)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            ids = register_municipality_ids(request.user)
            if not ids:
                raise Http404
            self.municipalities = Municipality.objects.filter(pk__in=ids).order_by("name")
        return super().dispatch(request, *args, **kwargs)


class ComparisonView(RegistersMixin, TemplateView):
    """The comparison group's rows of the user's kommuner (anonymous: no patient), and a new row."""

    template_name = "insight/gevinst/comparison.html"

    def get_context_data(self, **kwargs):
        form = kwargs.pop("form", None) or ComparisonForm(
            municipalities=self.municipalities, initial={"kind": ServiceUseKind.BASELINE}
        )
        rows = list(comparison_list(self.municipalities.values_list("pk", flat=True)))
        # Anonymous rows, no patient: each filed under its kommune, as a referral before its patient is.
        audit_record_list(
            object_type="comparison_list",
            request=self.request,
            objects=[(row.pk, NoPatientYet(municipality_id=row.municipality_id)) for row in rows],
        )
        return super().get_context_data(form=form, rows=rows, fields=presentation.field_labels(units=True), **kwargs)

    def post(self, request, *args, **kwargs):
        form = ComparisonForm(request.POST, municipalities=self.municipalities)
        if form.is_valid():
            data = form.cleaned_data
            try:
                comparison_register(
                    municipality=data["municipality"],
                    user=request.user,
                    code=data["code"],
                    kind=data["kind"],
                    period_from=data["period_from"],
                    period_to=data["period_to"],
                    values=form.values(),
                    request=request,
                )
            except GevinstRefused as exc:
                _problems_to_form(form, exc)
            else:
                messages.success(request, f"Raden for {data['code']} er registrert.")
                return redirect(reverse("gevinst:comparison"))
        return self.render_to_response(self.get_context_data(form=form))


class ImportView(RegistersMixin, TemplateView):
    """Service use from an EPJ extract: per-line results (the valid lines kept whatever their neighbours)."""

    template_name = "insight/gevinst/import.html"

    def form(self, data=None, files=None):
        return ImportForm(data, files, municipalities=self.municipalities, heading=";".join(CSV_HEADER))

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", self.form())
        return super().get_context_data(heading=";".join(CSV_HEADER), **kwargs)

    def post(self, request, *args, **kwargs):
        form = self.form(request.POST, request.FILES)
        results = None
        if form.is_valid():
            try:
                results = service_use_import_csv(
                    municipality=form.cleaned_data["municipality"],
                    user=request.user,
                    text=form.cleaned_data["text"],
                    request=request,
                )
            except GevinstRefused as exc:
                form.add_error(None, str(exc))
        created = sum(1 for r in results or [] if r.status == "created")
        return self.render_to_response(self.get_context_data(form=form, results=results, created=created))
