"""Centre configuration of EBPs: templates per diagnosis and default thresholds, validated like plans.
Plans themselves are clinical data and are edited only through the workflow, never in the admin."""

from django import forms
from django.contrib import admin

from ebp.content import InvalidPlanContent, dump, parse_content
from ebp.models import CentreThresholds, PlanTemplate
from tenants.admin import CentreAdminAccess, NorwegianLabels, titled
from tenants.selectors import admin_centres


def _validated(data: dict, *, key: str | None = None) -> dict:
    try:
        content = parse_content({key: data} if key else data)
    except InvalidPlanContent as exc:
        raise forms.ValidationError([str(e) for e in exc.errors]) from None
    stored = dump(content)
    return stored[key] if key else stored


class PlanTemplateForm(forms.ModelForm):
    class Meta:
        model = PlanTemplate
        fields = ["centre", "diagnosis", "name", "content"]

    def clean_content(self):
        return _validated(self.cleaned_data["content"])


class CentreThresholdsForm(forms.ModelForm):
    class Meta:
        model = CentreThresholds
        fields = ["centre", "thresholds"]

    def clean_thresholds(self):
        return _validated(self.cleaned_data["thresholds"], key="thresholds")


class CentreScopedAdmin(NorwegianLabels, CentreAdminAccess, admin.ModelAdmin):
    """A centre admin sees and edits only the configuration of their own centre(s)."""

    labels = {"centre": "oppfølgingssenter", "updated_at": "sist endret"}

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(centre__in=admin_centres(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "centre" and not request.user.is_superuser:
            kwargs["queryset"] = admin_centres(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(PlanTemplate)
class PlanTemplateAdmin(CentreScopedAdmin):
    form = PlanTemplateForm
    list_display = ["name", "diagnosis", "centre"]
    list_filter = [("centre", titled(admin.RelatedOnlyFieldListFilter, "oppfølgingssenter")), "diagnosis"]


@admin.register(CentreThresholds)
class CentreThresholdsAdmin(CentreScopedAdmin):
    form = CentreThresholdsForm
    list_display = ["centre", "updated_at"]
