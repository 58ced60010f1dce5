"""EBP pages: the plan, one version (with the fastlege's review), the nurse's draft form, the PDF and
the fastlege's approval queue. Thin: scope via PatientPageMixin (404); who may do what is ebp.access's
policy, which the services refuse by, the draft page asks before it shows the form and the templates
ask before they offer a step (`{% may "edit_plan" patient %}`): a NotAllowed is Django's 403; the pages
show a PlanRefused as Django's 403 page with its message too (RefusalMixin.refused below), except the
draft form and a missing comment, shown beside the form."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from ebp import selectors, services
from ebp.access import plan_nurse_require
from ebp.content import InvalidPlanContent, parse_content
from ebp.forms import PlanDraftForm
from ebp.models import PlanTemplate, VersionStatus
from ebp.pdf import plan_pdf
from patients.views.base import PatientPageMixin
from tenants.errors import RefusalMixin, Refused
from tenants.models import AuditAction
from tenants.selectors import centre_of
from tenants.services import audit_record


def _audit_view(request, patient, version, action=AuditAction.VIEW) -> None:
    audit_record(
        action=action,
        object_type=services.OBJECT_TYPE if version else "plan",
        object_id=version.pk if version else patient.pk,
        patient=patient,
        request=request,
    )


class PlanPageMixin(RefusalMixin, PatientPageMixin):
    def plan_redirect(self):
        return redirect("ebp:plan", patient_id=self.patient.pk)

    def refused(self, exc: Refused):
        # What these pages have always shown: the refusal's message on the 403 page.
        raise PermissionDenied(str(exc)) from exc


class PlanView(PlanPageMixin, TemplateView):
    template_name = "ebp/plan.html"

    def get_context_data(self, **kwargs):
        effective = selectors.thresholds_for(self.patient)  # the plan in force, as scoring reads it
        active = effective.version
        _audit_view(self.request, self.patient, active)
        versions = list(selectors.versions_of(self.patient))
        return super().get_context_data(
            patient=self.patient,
            active=active,
            content=effective.content if active else None,
            bands=selectors.bands(effective.content) if active else [],
            open=next((v for v in versions if v.status in (VersionStatus.DRAFT, VersionStatus.SUBMITTED)), None),
            versions=versions,
            templates=PlanTemplate.objects.filter(centre=centre_of(self.patient.municipality_id)),
            **kwargs,
        )


class VersionView(PlanPageMixin, TemplateView):
    """One version; a submitted one is shown beside the active one with every change marked."""

    template_name = "ebp/version.html"

    def get_context_data(self, **kwargs):
        version = selectors.version_of(self.patient, kwargs["number"])
        if version is None:
            raise Http404
        _audit_view(self.request, self.patient, version)
        active = selectors.active_version(self.patient)
        compare_with = active if active and active.pk != version.pk else None
        content = parse_content(version.content)
        diff = selectors.version_diff(compare_with, version)
        waiting = version.status == VersionStatus.SUBMITTED
        return super().get_context_data(
            patient=self.patient,
            version=version,
            content=content,
            bands=selectors.bands(content),
            active=compare_with,
            diff=diff,
            changed_count=sum(row.changed for row in diff),
            waiting=waiting,
            **kwargs,
        )


class DraftView(PlanPageMixin, TemplateView):
    template_name = "ebp/draft.html"

    def _draft(self):
        plan_nurse_require(self.request.user, self.patient)  # NurseRequired (NotAllowed): a 403
        draft = selectors.open_version(self.patient)
        if draft is None or draft.status != VersionStatus.DRAFT:
            return None
        return draft

    def get(self, request, *args, **kwargs):
        draft = self._draft()
        if draft is None:
            messages.info(request, "Det finnes ingen kladd. Start en ny fra gjeldende plan eller en mal.")
            return self.plan_redirect()
        _audit_view(request, self.patient, draft)
        content = parse_content(draft.content)
        return self.render_to_response(self._context(draft, PlanDraftForm(content=content), content))

    def post(self, request, *args, **kwargs):
        draft = self._draft()
        if draft is None:
            return self.plan_redirect()
        form = PlanDraftForm(request.POST, content=parse_content(draft.content))
        if form.is_valid():
            try:
                draft = services.draft_update(
                    version=draft, user=request.user, content=form.content_data(), request=request
                )
                if "submit" in request.POST:
                    services.draft_submit(version=draft, user=request.user, request=request)
                    messages.success(request, f"Versjon {draft.number} er sendt til fastlegen for godkjenning.")
                    return self.plan_redirect()
                messages.success(request, "Kladden er lagret.")
                return redirect("ebp:draft", patient_id=self.patient.pk)
            except InvalidPlanContent as exc:
                form.add_content_errors(exc.errors)
            except services.PlanRefused as exc:
                form.add_error(None, str(exc))
        content = parse_content(draft.content)
        return self.render_to_response(self._context(draft, form, content), status=400)

    def _context(self, draft, form, content):
        return self.get_context_data(
            patient=self.patient, version=draft, form=form, bands=selectors.bands(content), content=content
        )


class DraftStartView(PlanPageMixin, View):
    def post(self, request, *args, **kwargs):
        from_number = request.POST.get("from_version")
        if from_number:
            number = int(from_number) if from_number.isdecimal() else None  # a version's number, or none
            returned = selectors.version_of(self.patient, number) if number is not None else None
            if returned is None:
                raise Http404
            services.draft_from_returned(version=returned, user=request.user, request=request)
        else:
            services.draft_start(
                patient=self.patient,
                user=request.user,
                request=request,
                template=request.POST.get("template") or None,
            )
        return redirect("ebp:draft", patient_id=self.patient.pk)


class DecisionView(PlanPageMixin, View):
    """The fastlege approves or returns a submitted version."""

    def post(self, request, *args, **kwargs):
        version = selectors.version_of(self.patient, kwargs["number"])
        if version is None:
            raise Http404
        comment = request.POST.get("comment", "")
        try:
            if request.POST.get("decision") == "approve":
                services.version_approve(version=version, user=request.user, comment=comment, request=request)
                messages.success(request, f"Versjon {version.number} er godkjent og gjelder fra nå.")
            else:
                services.version_return(version=version, user=request.user, comment=comment, request=request)
                messages.success(request, f"Versjon {version.number} er returnert til sykepleierne.")
        except services.CommentRequired as exc:
            messages.error(request, str(exc))
            return redirect("ebp:version", patient_id=self.patient.pk, number=version.number)
        return redirect("ebp:approvals")


class PlanPdfView(PlanPageMixin, View):
    def get(self, request, *args, **kwargs):
        active = selectors.active_version(self.patient)
        if active is None:
            raise Http404("Pasienten har ingen godkjent plan.")
        _audit_view(request, self.patient, active, action=AuditAction.EXPORT)
        response = HttpResponse(plan_pdf(self.patient, active), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="egenbehandlingsplan-v{active.number}.pdf"'
        return response


class ApprovalQueueView(LoginRequiredMixin, TemplateView):
    template_name = "ebp/approvals.html"

    def get_context_data(self, **kwargs):
        queue = list(selectors.approval_queue(self.request.user))
        for version in queue:
            _audit_view(self.request, version.plan.patient, version)
        return super().get_context_data(queue=queue, **kwargs)
