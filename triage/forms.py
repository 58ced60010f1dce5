from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from triage.models import ContactAction, ContactKind


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
