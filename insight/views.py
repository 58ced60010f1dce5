"""The Innsikt page (/innsikt/): the figures of the user's centre or kommune, a section each for
capacity, alarm burden, adherence and the funnel, as charts with their numbers as tables; each
section as CSV (/innsikt/<section>.csv) and all of them as one XLSX (/innsikt/innsikt.xlsx), with
the same parameters. Thin: insight.reads asks and audits exactly as the API does, insight.figures
hides the small cells, insight.presentation and insight.exports write the text. A user without
figures, and a kommune outside them, gets a 404."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView, View

from insight import exports, presentation
from insight.access import insight_view_for, insight_views
from insight.reads import Query, QueryError, insight_query, insight_read
from tenants.models import Municipality

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class QueryMixin(LoginRequiredMixin):
    """Binds `query` (the user's view, the kommune and the period) or, for a wrong period or
    granularity, `errors`; a wrong kommunenummer is a 404 as one outside the view is."""

    query: Query | None
    errors: dict[str, str]

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            try:
                self.query, self.errors = insight_query(request.user, request.GET, today=timezone.localdate()), {}
            except QueryError as exc:
                if "municipality" in exc.errors:
                    raise Http404 from None
                self.query, self.errors = None, exc.errors
        return super().dispatch(request, *args, **kwargs)

    def refuse(self) -> HttpResponse:
        return HttpResponse(" ".join(self.errors.values()), status=400, content_type="text/plain; charset=utf-8")

    def filename(self, name: str) -> str:
        assert self.query is not None
        chosen = self.query.selection.municipality
        where = chosen.number if chosen is not None else self.query.view.centre.slug
        period = self.query.period
        return f"innsikt-{name}-{where}-{period.first.isoformat()}-{period.last.isoformat()}"


class InsightHomeView(QueryMixin, TemplateView):
    template_name = "insight/home.html"

    def get_context_data(self, **kwargs):
        params = self.request.GET
        view = self.query.view if self.query else insight_view_for(self.request.user, params.get("centre", ""))
        context = {
            "insight_view": view,
            "views": insight_views(self.request.user),
            "municipalities": Municipality.objects.filter(pk__in=view.municipality_ids).order_by("name"),
            "chosen": (params.get("municipality") or "").strip(),
            "granularity": (params.get("granularity") or "month").strip(),
            "raw": {"from": params.get("from", ""), "to": params.get("to", "")},
            "errors": self.errors,
        }
        if self.query is not None:
            report = insight_read(self.request, self.query)
            context |= {
                "report": report,
                "period_text": presentation.period_text(report.period.first, report.period.last),
                "shown_municipalities": Municipality.objects.filter(pk__in=report.selection.municipality_ids).order_by(
                    "name"
                ),
                "sections": presentation.sections(report),
                "query": self.request.GET.urlencode(),
            }
        return super().get_context_data(**context, **kwargs)


class SectionCsvView(QueryMixin, View):
    """One section as CSV: every figure of each week or month and of the whole period."""

    def get(self, request, section: str):
        name, slug = section, presentation.SECTION_SLUGS[section]
        if self.query is None:
            return self.refuse()
        if name not in self.query.selection.sections:
            raise Http404  # finance: adherence and the funnel are not theirs
        report = insight_read(request, self.query, export=True)
        response = HttpResponse(exports.section_csv(report, name), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.filename(slug)}.csv"'
        return response


class InsightXlsxView(QueryMixin, View):
    """Every section the user sees as one workbook, a sheet each."""

    def get(self, request):
        if self.query is None:
            return self.refuse()
        report = insight_read(request, self.query, export=True)
        response = HttpResponse(exports.report_xlsx(report), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="{self.filename("alle")}.xlsx"'
        return response
