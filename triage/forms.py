from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.forms.base import DATE_FORMATS, StepForm
from patients.models import EndReason
from triage.models import ContactAction, ContactKind
from triage.services import EvaluationOutcome

OUTCOME_MISSING = _("Velg utfallet av evalueringen: fortsette, justere planen eller avslutte.")


class HandleForm(forms.Form):
    actions = forms.MultipleChoiceField(
        label="Hva ble gjort", choices=ContactAction.choices, widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(label="Notat", required=False, widget=forms.Textarea(attrs={"rows": 4}))
    retry_at = forms.DateTimeField(
        label="Prøv igjen (når pasienten ikke ble nådd)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
    )

    def clean(self):
        data = super().clean()
        actions = set(data.get("actions") or [])
        if {ContactAction.CALLED_REACHED, ContactAction.CALLED_NOT_REACHED} <= actions:
            self.add_error("actions", "Velg enten «fikk svar» eller «fikk ikke svar», ikke begge.")
        if data.get("retry_at") and ContactAction.CALLED_NOT_REACHED not in actions:
            self.add_error("retry_at", "Nytt forsøk settes bare når pasienten ikke ble nådd.")
        if data.get("retry_at") and data["retry_at"] < timezone.now():
            self.add_error("retry_at", "Tidspunktet for nytt forsøk har allerede vært.")
        return data


class ContactForm(forms.Form):
    """A contact from the follow-up lists, or at any time from the patient page (a call in from the
    patient, an early routine call): triage.services.contact_record."""

    kind = forms.ChoiceField(
        label=_("Type kontakt"),
        choices=[
            (ContactKind.ROUTINE, _("Rutinekontakt")),
            (ContactKind.CALL_IN, _("Henvendelse fra pasienten")),
            (ContactKind.EVALUATION, _("Evaluering")),
        ],
        widget=forms.RadioSelect,
    )
    actions = forms.MultipleChoiceField(
        label="Hva ble gjort", choices=ContactAction.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(label="Notat", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class EvaluationForm(StepForm):
    """An evaluation of the forløp (triage.services.evaluation_record). The form puts what one field
    or two can tell next to the field; the service's refusals (status, who may adjust the plan) are
    shown above the form by the view."""

    outcome = forms.ChoiceField(
        label=_("Utfall av evalueringen"),
        choices=list(EvaluationOutcome.LABELS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": OUTCOME_MISSING, "invalid_choice": OUTCOME_MISSING},
    )
    next_date = forms.DateField(
        label=_("Neste evaluering"),
        required=False,
        input_formats=DATE_FORMATS,
        help_text=_("Når forløpet fortsetter eller planen justeres."),
        error_messages={"invalid": _("Skriv datoen som dd.mm.åååå.")},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end_reason = forms.ChoiceField(
        label=_("Årsak til avslutning"),
        choices=[("", _("Velg årsak (når forløpet avsluttes)")), *EndReason.choices],
        required=False,
        error_messages={"invalid_choice": _("Velg en årsak fra listen.")},
    )
    note = forms.CharField(label=_("Notat"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        outcome, next_date = data.get("outcome"), data.get("next_date")
        goes_on = outcome in (EvaluationOutcome.CONTINUE, EvaluationOutcome.ADJUST)
        # A date that did not parse already has its own message by the field.
        if goes_on and next_date is None and "next_date" not in self.errors:
            self.add_error("next_date", _("Oppgi datoen for neste evaluering når forløpet fortsetter."))
        if goes_on and next_date is not None and next_date <= timezone.localdate():
            self.add_error("next_date", _("Neste evaluering må være etter i dag."))
        if outcome == EvaluationOutcome.END and not data.get("end_reason"):
            self.add_error("end_reason", _("Velg en årsak til avslutningen."))
        return data
