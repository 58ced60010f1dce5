"""The forms' shared fields and base. They check what a field alone can tell (filled in, a date, a
choice) and put the error next to that field; the rules of the process (order of the steps, periods,
who may act) stay in the services, whose refusal the view shows above the form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from patients.services import FastlegeRefused, fastlege_find
from tenants import norwegian
from tenants.people import display_name

REQUIRED = _("Dette feltet må fylles ut.")
DATE = _("Skriv datoen som dd.mm.åååå.")
DATE_FORMATS = [norwegian.DATE, "%Y-%m-%d", "%d.%m.%y"]


def _date(label, *, required: bool = False, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        input_formats=DATE_FORMATS,
        help_text=help_text,
        error_messages={"required": REQUIRED, "invalid": DATE},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _choice(label, choices, *, required_message) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        choices=choices,
        widget=forms.RadioSelect,
        error_messages={"required": required_message, "invalid_choice": required_message},
    )


def _text(label, *, required: bool = False, textarea: bool = False, max_length: int | None = None, message=REQUIRED):
    widget = forms.Textarea(attrs={"rows": 3}) if textarea else forms.TextInput
    return forms.CharField(
        label=label, required=required, max_length=max_length, widget=widget, error_messages={"required": message}
    )


class StepForm(forms.Form):
    """Marks a field in error for screen readers: aria-invalid, and the message it is described by
    (templates/patients/_field.html renders the message with that id next to the field)."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}_error"


class FastlegeField(forms.ModelChoiceField):
    """A fastlege by name, with the municipalities where they practise (patients.selectors.fastleger_for)."""

    def label_from_instance(self, user):
        name = display_name(user)
        places = sorted(getattr(user, "gp_municipalities", None) or [])
        return f"{name} ({', '.join(places)})" if places else name


class FastlegeChoiceMixin:
    """The fastlege as two fields: `gp`, the offered list (patients.services.fastlege), and `gp_other`,
    any other fastlege the platform knows, found by name or HPR number: filling it in is the explicit
    choice outside the list (`gp_outside_offered` in cleaned_data, audited by the service)."""

    def _gp_fields(self):
        self.fields["gp_other"] = _text(
            _("Annen fastlege (navn eller HPR-nummer)"),
            max_length=200,
        )
        self.fields["gp_other"].help_text = _(
            "Bare om fastlegen ikke står i listen: skriv HPR-nummeret (sikrest) eller navnet. Valget logges."
        )

    def gp_municipality_ids(self) -> list[int]:  # pragma: no cover - each form defines it
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        data["gp_outside_offered"] = False
        other = (data.get("gp_other") or "").strip()
        if not other:
            return data
        if data.get("gp"):
            self.add_error("gp_other", _("Velg fastlegen fra listen eller skriv en annen, ikke begge."))
            return data
        ids = self.gp_municipality_ids()
        if not ids:
            return data  # the municipality field carries its own error
        try:
            gp = fastlege_find(ids, other)
        except FastlegeRefused as exc:
            self.add_error("gp_other", str(exc))
            return data
        data["gp"] = gp
        data["gp_outside_offered"] = not self.fields["gp"].queryset.filter(pk=gp.pk).exists()
        return data
