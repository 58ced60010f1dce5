"""The brukerundersøkelse (user survey about every six months): the platform's own questions, as the
trial projects asked them (Larvik: tryggere, helsen, livsglede, forståelse for egen sykdom, færre
legebesøk, færre innleggelser). No licensed instrument: EQ-5D needs a EuroQol licence and PAM's
scoring is proprietary, so neither is asked unless a kommune holds the licence.

Kept here, with the other questionnaires a gateway may send (measurements.models.Questionnaire), so
that the ingest can check a survey that arrives from a tablet (`questionnaire: "survey"`) and insight
(the gevinst report) reads the same questions and options when the koordinator enters a paper form.
Each option is `positive`, `neutral` or `negative` for the report's chart (yes to «færre legebesøk»
is positive)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
TONES = (POSITIVE, NEUTRAL, NEGATIVE)


@dataclass(frozen=True)
class Option:
    code: str
    label: object  # a lazy translation
    tone: str


@dataclass(frozen=True)
class Question:
    code: str
    text: object  # a lazy translation
    short: object  # the report's row label
    options: tuple[Option, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.options)

    def choices(self) -> list[tuple[str, object]]:
        return [(o.code, o.label) for o in self.options]

    def label_of(self, code: str) -> str:
        return str(next((o.label for o in self.options if o.code == code), code))


YES_NO_UNKNOWN = (Option("yes", _("Ja"), POSITIVE), Option("unknown", _("Vet ikke"), NEUTRAL),
                  Option("no", _("Nei"), NEGATIVE))  # fmt: skip

QUESTIONS: tuple[Question, ...] = (
    Question("safer", _("Føler du deg tryggere med digital hjemmeoppfølging?"), _("Tryggere"), YES_NO_UNKNOWN),
    Question(
        "health",
        _("Hvordan er helsen din nå, sammenlignet med før du fikk digital hjemmeoppfølging?"),
        _("Helsen"),
        (
            Option("better", _("Bedre"), POSITIVE),
            Option("same", _("Uendret"), NEUTRAL),
            Option("worse", _("Verre"), NEGATIVE),
        ),
    ),
    Question(
        "joy",
        _("Hvordan er livsgleden din nå, sammenlignet med før?"),
        _("Livsglede"),
        (
            Option("more", _("Mer"), POSITIVE),
            Option("same", _("Uendret"), NEUTRAL),
            Option("less", _("Mindre"), NEGATIVE),
        ),
    ),
    Question(
        "understanding",
        _("Har du fått bedre forståelse for din egen sykdom?"),
        _("Forståelse for egen sykdom"),
        YES_NO_UNKNOWN,
    ),
    Question("fewer_gp_visits", _("Har du hatt færre legebesøk?"), _("Færre legebesøk"), YES_NO_UNKNOWN),
    Question("fewer_admissions", _("Har du hatt færre sykehusinnleggelser?"), _("Færre innleggelser"), YES_NO_UNKNOWN),
)
BY_CODE = {q.code: q for q in QUESTIONS}
ALL_OPTIONS = tuple(dict.fromkeys(code for q in QUESTIONS for code in q.codes))


def answer_errors(answers: dict) -> list[tuple[str, str]]:
    """(the answer's key, what is wrong) for a survey's answers: each key one of the questions, each
    value one of its options; a question left out is «ikke besvart», not an error."""
    errors = []
    for code, given in answers.items():
        question = BY_CODE.get(code)
        if question is None:
            errors.append((code, f"ukjent spørsmål i brukerundersøkelsen; bruk {', '.join(BY_CODE)}"))
        elif given not in question.codes:
            errors.append((code, f"svaret «{str(given)[:20]}» finnes ikke; bruk {', '.join(question.codes)}"))
    return errors
