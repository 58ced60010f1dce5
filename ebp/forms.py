"""The nurse's draft form: a flat Django form over the nested PlanContent document.

The form only collects and converts; `ebp.content.parse_content` decides what is valid, and its
errors are mapped back onto the form fields so each message appears beside the input it concerns.
"""

from __future__ import annotations

from django import forms

from ebp.content import BOUND_LABELS, BOUND_NAMES, FieldError, PlanContent
from ebp.selectors import ACTION_LABELS
from measurements.types import SPECS, Colour, label
from patients.models import Diagnosis
from tenants.norwegian import time_text

FREQUENCIES = [
    ("", "Måles ikke"),
    ("daily", "Daglig"),
    ("weekly", "Noen dager i uken"),
    ("on_symptoms", "Ved symptomer"),
]
COLOURS = [(c.value, c.word) for c in (Colour.YELLOW, Colour.RED)]


def bound_field(mtype: str, component: str, bound: str) -> str:
    return f"{mtype}__{component}__{bound}"


def _number(label_text: str) -> forms.DecimalField:
    return forms.DecimalField(label=label_text, required=False, decimal_places=1, max_digits=6, localize=True)


class PlanDraftForm(forms.Form):
    goals = forms.CharField(label="Hva er viktig for deg?", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    diagnoses = forms.MultipleChoiceField(
        label="Diagnoser planen gjelder", choices=Diagnosis.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    wg_kg = _number("Vektøkning minst (kg)")
    wg_days = forms.IntegerField(label="innen (dager)", required=False, min_value=1, max_value=14)
    wg_colour = forms.ChoiceField(label="gir", choices=COLOURS, initial="red", required=False)
    sd_points = _number("SpO2-fall minst (prosentpoeng)")
    sd_baseline = _number("under vanlig nivå (%)")
    sd_colour = forms.ChoiceField(label="gir", choices=COLOURS, initial="yellow", required=False)
    cat_enabled = forms.BooleanField(label="CAT-skjema for KOLS", required=False)
    cat_yellow_at = forms.IntegerField(label="gul fra (poeng)", required=False, min_value=0, max_value=40)
    cat_red_at = forms.IntegerField(label="rød fra (poeng)", required=False, min_value=0, max_value=40)
    contacts = forms.CharField(
        label="Kontakter (én per linje: navn; telefon; når)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    meeting_date = forms.DateField(
        label="Tverrfaglig møte, dato", required=False, widget=forms.DateInput({"type": "date"})
    )
    meeting_participants = forms.CharField(
        label="Deltakere (én per linje)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, content: PlanContent, **kwargs):
        self.content = content
        super().__init__(*args, initial=self._initial(content), **kwargs)
        for mtype, spec in SPECS.items():
            self.fields[f"{mtype}__frequency"] = forms.ChoiceField(
                label=f"{spec.label}: måles", choices=FREQUENCIES, required=False
            )
            self.fields[f"{mtype}__times_per_day"] = forms.IntegerField(
                label="ganger per dag", required=False, min_value=1, max_value=6
            )
            for component in spec.components:
                for bound in BOUND_NAMES:
                    self.fields[bound_field(mtype, component, bound)] = _number(
                        f"{label(mtype, component)}: {BOUND_LABELS[bound]} ({spec.unit_label})"
                    )
        for colour, _ in COLOURS:
            for name, text in ACTION_LABELS.items():
                self.fields[f"{colour}__{name}"] = forms.CharField(
                    label=text, required=False, widget=forms.Textarea(attrs={"rows": 2})
                )

    # --- content → form -------------------------------------------------------------------------
    @staticmethod
    def _initial(content: PlanContent) -> dict:
        initial = {"goals": content.goals, "diagnoses": content.diagnoses}
        for mtype, schedule in content.schedule.items():
            initial[f"{mtype}__frequency"] = schedule.frequency
            initial[f"{mtype}__times_per_day"] = schedule.times_per_day
        for mtype, components in content.thresholds.items():
            for component, bounds in components.items():
                for bound, value in bounds.present():
                    initial[bound_field(mtype, component, bound)] = value
        for rule in content.trend_rules:
            if rule.kind == "weight_gain":
                initial |= {"wg_kg": rule.kg, "wg_days": rule.days, "wg_colour": rule.colour}
            else:
                initial |= {"sd_points": rule.points, "sd_baseline": rule.baseline, "sd_colour": rule.colour}
        if content.questionnaires.cat:
            cat = content.questionnaires.cat
            initial |= {"cat_enabled": True, "cat_yellow_at": cat.yellow_at, "cat_red_at": cat.red_at}
        for colour, _ in COLOURS:
            for name in ACTION_LABELS:
                initial[f"{colour}__{name}"] = getattr(getattr(content.actions, colour), name)
        initial["contacts"] = "\n".join(f"{c.name}; {c.phone}; {c.when}".rstrip("; ") for c in content.contacts)
        initial["meeting_date"] = content.meeting.date
        initial["meeting_participants"] = "\n".join(content.meeting.participants)
        return initial

    # --- form → content -------------------------------------------------------------------------
    def content_data(self) -> dict:
        """The cleaned form as a PlanContent dict (to be validated by parse_content)."""
        d = self.cleaned_data
        data = {
            "goals": d["goals"].strip(),
            "diagnoses": d["diagnoses"],
            "schedule": self._schedule(),
            "thresholds": self._thresholds(),
            "trend_rules": self._trend_rules(),
            # Questions are kept from the template/active version; the form edits the CAT bands only.
            "questionnaires": {
                "daily_symptoms": [q.model_dump(mode="json") for q in self.content.questionnaires.daily_symptoms],
                "cat": {"yellow_at": d["cat_yellow_at"] or 0, "red_at": d["cat_red_at"] or 0}
                if d["cat_enabled"]
                else None,
            },
            "actions": {colour: {n: d[f"{colour}__{n}"].strip() for n in ACTION_LABELS} for colour, _ in COLOURS},
            "contacts": self._contacts(),
            "meeting": {
                "date": d["meeting_date"].isoformat() if d["meeting_date"] else None,
                "participants": [p.strip() for p in d["meeting_participants"].splitlines() if p.strip()],
            },
        }
        return data

    def _schedule(self) -> dict:
        out = {}
        for mtype in SPECS:
            frequency = self.cleaned_data.get(f"{mtype}__frequency")
            if frequency:
                previous = self.content.schedule.get(mtype)
                out[mtype] = {
                    "frequency": frequency,
                    "times_per_day": self.cleaned_data.get(f"{mtype}__times_per_day") or 1,
                    "days_per_week": previous.days_per_week if previous else 7,
                    "times": [time_text(t) for t in previous.times] if previous else [],
                }
        return out

    def _thresholds(self) -> dict:
        out: dict = {}
        for mtype, spec in SPECS.items():
            for component in spec.components:
                bounds = {
                    bound: float(value)
                    for bound in BOUND_NAMES
                    if (value := self.cleaned_data.get(bound_field(mtype, component, bound))) is not None
                }
                if bounds:
                    out.setdefault(mtype, {})[component] = bounds
        return out

    def _trend_rules(self) -> list:
        d, rules = self.cleaned_data, []
        if d.get("wg_kg") is not None or d.get("wg_days") is not None:
            rules.append(
                {
                    "kind": "weight_gain",
                    "kg": float(d["wg_kg"] or 0),
                    "days": d["wg_days"] or 0,
                    "colour": d["wg_colour"],
                }
            )
        if d.get("sd_points") is not None or d.get("sd_baseline") is not None:
            rules.append(
                {
                    "kind": "spo2_drop",
                    "points": float(d["sd_points"] or 0),
                    "baseline": float(d["sd_baseline"] or 0),
                    "colour": d["sd_colour"] or "yellow",
                }
            )
        return rules

    def _contacts(self) -> list:
        contacts = []
        for line in self.cleaned_data["contacts"].splitlines():
            parts = [p.strip() for p in line.split(";")]
            if parts and parts[0]:
                contacts.append(
                    {"name": parts[0], "phone": parts[1] if len(parts) > 1 else "", "when": "; ".join(parts[2:])}
                )
        return contacts

    # --- errors from parse_content → fields -----------------------------------------------------
    def add_content_errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            self.add_error(self._field_for(error.path), error.message)

    def _field_for(self, path: tuple[str, ...]) -> str | None:
        if path[0] == "thresholds" and len(path) == 4:
            name = bound_field(*path[1:])
            return name if name in self.fields else None
        if path[0] == "trend_rules" and len(path) >= 4:
            prefix = "wg" if path[2] == "weight_gain" else "sd"
            field = {"kg": "kg", "days": "days", "points": "points", "baseline": "baseline"}.get(path[3])
            return f"{prefix}_{field}" if field else None
        if path[:2] == ("questionnaires", "cat") and len(path) == 3:
            return f"cat_{path[2]}"
        if path[0] == "meeting" and len(path) == 2:
            return f"meeting_{path[1]}"
        if path[0] == "contacts":
            return "contacts"
        return None

    # --- layout helpers for the template --------------------------------------------------------
    def measurement_rows(self):
        """Per measurement type: its schedule fields and, per component, the four bound fields."""
        for mtype, spec in SPECS.items():
            yield {
                "type": mtype,
                "label": spec.label,
                "unit": spec.unit_label,
                "frequency": self[f"{mtype}__frequency"],
                "times_per_day": self[f"{mtype}__times_per_day"],
                "components": [
                    {
                        "label": label(mtype, component),
                        "bounds": [self[bound_field(mtype, component, bound)] for bound in BOUND_NAMES],
                    }
                    for component in spec.components
                ],
            }

    def action_rows(self):
        for colour, colour_label in COLOURS:
            yield {"colour": colour, "label": colour_label, "fields": [self[f"{colour}__{n}"] for n in ACTION_LABELS]}
