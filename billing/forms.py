"""The price model's form, in kroner: what a field alone can tell (an amount with at most two
decimals, a percent, a month) is checked here and shown by the field; the rules of versions and
locked months stay in billing.services, whose refusal the view shows above the form."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.calculation import Month, MonthError
from billing.models import CHOICE_FIELDS, EQUIPMENT_FIELD, MONEY_FIELDS, PERCENT_FIELDS, BaseKey, PriceModel
from patients.forms.base import StepForm
from patients.models import DeviceType
from tenants.norwegian import AmountError, kr, parse_kroner

PERCENT = _("Skriv en hel prosent mellom 0 og 100.")


class KronerField(forms.CharField):
    """An amount typed in kroner («1 212,50», «1212.5») and cleaned to whole øre; empty is 0 (the
    component is not charged)."""

    def __init__(self, *, label, help_text=""):
        attrs = {"inputmode": "decimal", "autocomplete": "off", "class": "amount"}
        super().__init__(label=label, required=False, help_text=help_text, widget=forms.TextInput(attrs=attrs))

    def clean(self, value) -> int:
        try:
            return parse_kroner(super().clean(value))
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from None


class MonthField(forms.CharField):
    """A month as ÅÅÅÅ-MM, cleaned to a billing.calculation.Month."""

    def __init__(self, *, label, help_text=""):
        messages = {"required": _("Skriv måneden som ÅÅÅÅ-MM, for eksempel 2026-10.")}
        widget = forms.TextInput(attrs={"type": "month", "placeholder": "ÅÅÅÅ-MM", "autocomplete": "off"})
        super().__init__(label=label, help_text=help_text, widget=widget, error_messages=messages)

    def clean(self, value) -> Month:
        try:
            return Month.parse(super().clean(value).strip())
        except MonthError as exc:
            raise forms.ValidationError(str(exc)) from None


def _percent(label, initial: int) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=100,
        initial=initial,
        error_messages={"required": PERCENT, "invalid": PERCENT, "min_value": PERCENT, "max_value": PERCENT},
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1}),
    )


MONEY = tuple(name.removesuffix("_ore") for name in MONEY_FIELDS)  # form fields in kroner, «_ore» on the model
PLAIN = CHOICE_FIELDS + PERCENT_FIELDS  # the same name on the form and the model


class PriceModelForm(StepForm):
    """One version of the price model (or the figures of a draft to simulate with). Every component
    is optional: an empty amount is not charged."""

    valid_from = MonthField(
        label=_("Gjelder fra måned"), help_text=_("ÅÅÅÅ-MM. Den nye versjonen gjelder fra den første i måneden.")
    )
    note = forms.CharField(
        label=_("Merknad"),
        required=False,
        max_length=200,
        help_text=_("For eksempel hvilken samarbeidsavtale versjonen bygger på."),
    )
    base = KronerField(
        label=_("Fast andel per måned (kr)"), help_text=_("Vertskommunens faste kostnader, fordelt på kommunene.")
    )
    base_key = forms.ChoiceField(
        label=_("Fordelingsnøkkel for fast andel"),
        choices=BaseKey.choices,
        widget=forms.RadioSelect,
        initial=BaseKey.EQUAL,
        error_messages={"required": _("Velg en fordelingsnøkkel.")},
    )
    base_equal_percent = _percent(_("Andel likt fordelt ved blandet nøkkel (%)"), 100)
    host_in_base = forms.BooleanField(label=_("Vertskommunen tar del i fast andel"), required=False, initial=True)
    own_follow_up_in_base = forms.BooleanField(
        label=_("Kommuner med egen oppfølging betaler fast andel"), required=False, initial=True
    )
    follow_up = KronerField(
        label=_("Oppfølging per pasientmåned (kr)"),
        help_text=_("For pasienter senteret følger opp, etter aktive døgn i måneden."),
    )
    paused_percent = _percent(_("Pausedøgn teller for oppfølging (%)"), 0)
    licence = KronerField(
        label=_("Lisens per pasientmåned (kr)"), help_text=_("For alle aktive pasienter, uansett hvem som følger opp.")
    )
    start_fee = KronerField(label=_("Oppstartsgebyr per oppstart (kr)"))

    GROUPS = (
        (_("Fast andel"), ("base", "base_key", "base_equal_percent", "host_in_base", "own_follow_up_in_base")),
        (_("Per pasient"), ("follow_up", "paused_percent", "licence", "start_fee")),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in DeviceType.choices:
            self.fields[f"equipment_{code}"] = KronerField(label=f"{label} (kr per enhetsmåned)")

    def groups(self) -> list[tuple]:
        """(legend, bound fields) for the template's fieldsets: the base share, the per-patient
        components, and the equipment per device type."""
        groups = [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]
        groups.append((_("Utstyr per enhetsmåned"), [self[f"equipment_{code}"] for code, _label in DeviceType.choices]))
        return groups

    def head(self) -> list:
        return [self["valid_from"], self["note"]]

    def values(self) -> dict:
        """The PriceModel values (billing.models.PRICE_FIELDS), amounts in øre."""
        data = self.cleaned_data
        values = {f"{name}_ore": data[name] for name in MONEY}
        values |= {name: data[name] for name in PLAIN}
        values[EQUIPMENT_FIELD] = {
            code: data[f"equipment_{code}"] for code, _l in DeviceType.choices if data[f"equipment_{code}"]
        }
        return values

    @classmethod
    def initial_from(cls, model: PriceModel | None, month: Month) -> dict:
        """The form filled in from a version (kroner as Norwegian text), for the month given."""
        initial = {"valid_from": str(month)}
        if model is None:
            return initial
        initial |= {name: kr(getattr(model, f"{name}_ore"), unit=False) for name in MONEY}
        initial |= {name: getattr(model, name) for name in PLAIN}
        for code, _label in DeviceType.choices:
            initial[f"equipment_{code}"] = kr(int((getattr(model, EQUIPMENT_FIELD) or {}).get(code) or 0), unit=False)
        return initial


class SimulationForm(PriceModelForm):
    """A draft model applied to a past month: the month must be over, so its figures are known. The
    figures are computed with and shown, never stored (billing.selectors.draft_price_model)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["valid_from"].label = _("Måned å simulere")
        self.fields["valid_from"].help_text = _("ÅÅÅÅ-MM, en måned som er over, for eksempel forrige måned.")

    def clean_valid_from(self) -> Month:
        month = self.cleaned_data["valid_from"]
        if month.end > timezone.localdate():
            raise forms.ValidationError(
                _("%(month)s er ikke over ennå: velg en måned som er over, så tallene er kjente."),
                params={"month": str(month)},
            )
        return month
