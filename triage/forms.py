from django import forms
from django.utils.translation import gettext_lazy as _

from triage.models import AlertColour, ContactAction, ContactKind
from triage.services import handle_problems


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
    # The alert's colour as the page showed it (with that colour's EBP actions): the service refuses
    # the handling if the alert has been raised since (services.AlertChanged). The page always sends
    # it, written from the alert as shown, not from the posted form, so a page shown again after a
    # raise carries the new colour; a post without it is not the page's.
    seen_colour = forms.ChoiceField(
        label="Varselets farge",
        choices=AlertColour.choices,
        widget=forms.HiddenInput,
        error_messages={"required": "Siden mangler varselets farge. Last siden på nytt og følg opp derfra."},
    )

    def clean(self):
        data = super().clean()
        if "actions" not in data:
            return data  # none chosen: the field's own error says so
        # the rules of a handling, one place for this page and the API (services.handle_problems)
        for field, problem in handle_problems(data["actions"], data.get("retry_at")).items():
            self.add_error(field, problem)
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
