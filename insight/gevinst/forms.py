"""The gevinst's forms. They check what a field alone can tell (a date, a choice); the figures and the
periods are checked by the services (insight.gevinst.services.use_problems), whose problems the views
put beside the fields they are about."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from insight.models import SERVICE_FIELDS, ServiceUseKind
from measurements.survey import QUESTIONS
from patients.forms.base import DATE_FORMATS, REQUIRED, StepForm, _date, _text
from tenants.csv_input import UnreadableCSV, read_uploaded_file

DATE = _("Skriv datoen som dd.mm.åååå.")


def _figure(field) -> forms.CharField:
    # Text, not a number field: «2,5» as a Norwegian writes it; the service reads and checks it.
    return forms.CharField(
        label=field.label,
        required=False,
        initial="0",
        max_length=12,
        help_text=field.unit,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )


class ServiceUseFieldsForm(StepForm):
    """The point of the forløp, the period and the figures, shared by a patient's registration and a
    comparison group's row."""

    kind = forms.ChoiceField(
        label=_("Registrering"),
        choices=ServiceUseKind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Velg hvilken registrering dette er."),
            "invalid_choice": _("Velg en registrering fra listen."),
        },
    )
    period_from = _date(_("Perioden fra"), required=True)
    period_to = _date(_("Perioden til"), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in SERVICE_FIELDS:
            self.fields[field.name] = _figure(field)

    def values(self) -> dict:
        return {f.name: self.cleaned_data.get(f.name, "") for f in SERVICE_FIELDS}


class ServiceUseForm(ServiceUseFieldsForm):
    pass


class ComparisonForm(ServiceUseFieldsForm):
    municipality = forms.ModelChoiceField(
        label=_("Kommune"),
        queryset=None,
        empty_label=None,
        error_messages={"required": _("Velg kommunen."), "invalid_choice": _("Velg en kommune fra listen.")},
    )
    code = forms.CharField(
        label=_("Løpenummer"),
        max_length=20,
        error_messages={"required": REQUIRED},
        help_text=_("Anonymt: et nummer dere holder selv, aldri navn eller fødselsnummer"),
    )
    field_order = ["municipality", "code", "kind", "period_from", "period_to"]

    def __init__(self, *args, municipalities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["municipality"].queryset = municipalities
        self.order_fields(self.field_order)


class SurveyForm(StepForm):
    answered_on = forms.DateField(
        label=_("Besvart"),
        input_formats=DATE_FORMATS,
        error_messages={"required": REQUIRED, "invalid": DATE},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    comment = _text(_("Kommentar (fritekst)"), textarea=True, max_length=5000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = {}
        for q in QUESTIONS:
            fields[q.code] = forms.ChoiceField(
                label=q.text, required=False, widget=forms.RadioSelect, choices=[*q.choices(), ("", _("Ikke besvart"))]
            )
        self.fields = {"answered_on": self.fields["answered_on"], **fields, "comment": self.fields["comment"]}

    def answers(self) -> dict:
        return {q.code: self.cleaned_data.get(q.code, "") for q in QUESTIONS}


class ImportForm(StepForm):
    """A CSV file from the EPJ (a heading, then a line per registration); pasted text works as well."""

    municipality = forms.ModelChoiceField(
        label=_("Kommune"),
        queryset=None,
        empty_label=None,
        error_messages={"required": _("Velg kommunen."), "invalid_choice": _("Velg en kommune fra listen.")},
    )
    file = forms.FileField(label=_("CSV-fil"), required=False)
    text = _text(_("Eller lim inn linjene"), textarea=True)

    def __init__(self, *args, municipalities, heading: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["municipality"].queryset = municipalities
        self.fields["text"].help_text = _("Første linje: %(heading)s") % {"heading": heading}

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            try:  # UTF-8, or Windows-1252 as Excel on Windows saves a CSV; at most the API's 5 MB
                data["text"] = read_uploaded_file(upload)
            except UnreadableCSV as exc:
                self.add_error("file", str(exc))
        elif not data.get("text"):
            self.add_error("file", _("Velg en CSV-fil, eller lim inn linjene."))
        return data
