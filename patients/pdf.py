"""The vedtaksbrev as a PDF (weasyprint): the kommune's enkeltvedtak on a referral, with the
patient's full fødselsnummer (a letter to the patient about their case needs it), the begrunnelse,
the legal basis, the period and the right to appeal (forvaltningsloven § 28, pasient- og
brukerrettighetsloven § 7-2). Everything the template shows is prepared here as plain text."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from patients.models import Decision, DecisionOutcome
from tenants.norwegian import date_text
from tenants.pdf import pdf_from_html
from tenants.people import display_name


def norwegian_date(value) -> str:
    """dd.mm.åååå, the platform's one date format (letters included)."""
    return date_text(value) if value else ""


def appeal_text(municipality_name: str) -> str:
    return (
        "Du kan klage på vedtaket. Fristen for å klage er tre uker fra du mottok dette brevet. "
        f"Klagen sendes til {municipality_name} kommune, som vurderer saken på nytt. Blir vedtaket ikke endret, "
        "sender kommunen klagen til Statsforvalteren for endelig avgjørelse "
        "(forvaltningsloven § 28 og pasient- og brukerrettighetsloven § 7-2). "
        "Du har rett til å se dokumentene i saken din (forvaltningsloven § 18)."
    )


def vedtak_context(decision: Decision) -> dict:
    referral = decision.referral
    granted = decision.outcome == DecisionOutcome.GRANTED
    municipality = referral.municipality.name
    return {
        "municipality": municipality,
        "name": referral.name,
        "national_id": referral.national_id,
        "decided_on": norwegian_date(timezone.localtime(decision.decided_at).date()),
        "decided_by": display_name(decision.decided_by),
        "granted": granted,
        "outcome": "innvilget" if granted else "avslått",
        "reason": decision.reason,
        "legal_basis": decision.legal_basis,
        "period_from": norwegian_date(decision.period_from),
        "period_to": norwegian_date(decision.period_to),
        "evaluation_date": norwegian_date(decision.evaluation_date),
        "appeal": appeal_text(municipality),
    }


def vedtak_pdf(decision: Decision) -> bytes:
    html = render_to_string("patients/vedtak_pdf.html", vedtak_context(decision))
    return pdf_from_html(html)
