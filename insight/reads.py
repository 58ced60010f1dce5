"""How a request reads the insight figures: the API (`insight.api`), the page and its CSV and XLSX
files (`insight.views`) all ask the same way, get the same Norwegian errors and write the same
aggregate audit event, so the answers can never drift apart.

- `insight_query`: the parameters (`centre`, `municipality`, `from`, `to`, `granularity`) → the
  user's view of a centre, the selection and the period. A user without figures is an Http404; so is
  a kommune outside what the user sees (an unknown one alike). A parameter that makes no sense is a
  `QueryError` naming it.
- `insight_read`: the report (`insight.selectors.insight_report`) and one aggregate audit event —
  object type `insight`, the address asked for as its object id, the role used, the chosen kommune
  (none when several) and no patient: no patient is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from insight.access import InsightView, Selection, insight_view_for, selection_for
from insight.periods import Period, PeriodError, period_parse
from insight.selectors import Report, insight_report
from tenants.models import AuditAction
from tenants.services import audit_record

OBJECT_TYPE = "insight"  # the audit log's object type of an insight read (an aggregate: no patient)


class QueryError(ValueError):
    """Parameters that make no answer: `errors` maps each wrong parameter to what was wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Query:
    view: InsightView
    selection: Selection
    period: Period


def municipality_number(raw: str) -> str:
    """The kommunenummer asked for ("" for all of the user's); a QueryError when it is not four digits."""
    number = (raw or "").strip()
    if number and not (len(number) == 4 and number.isascii() and number.isdigit()):
        raise QueryError({"municipality": f"Kommunenummeret «{number[:20]}» har ikke fire sifre."})
    return number


def insight_query(user, params, *, today) -> Query:
    """What the parameters ask of this user's figures. Http404 for a user without figures and for a
    kommune outside them; QueryError naming each wrong parameter (the kommunenummer's form first)."""
    view = insight_view_for(user, params.get("centre", ""))
    number = municipality_number(params.get("municipality", ""))
    try:
        period = period_parse(params.get("from", ""), params.get("to", ""), params.get("granularity", ""),
                              today=today)  # fmt: skip
    except PeriodError as exc:
        raise QueryError(exc.errors) from None
    return Query(view, selection_for(view, number), period)


def insight_read(request, query: Query, *, export: bool = False) -> Report:
    """The report the query asks for, audited as one aggregate read (an export when a file is made)."""
    report = insight_report(query.view, query.selection, query.period)
    chosen = query.selection.municipality
    audit_record(
        action=AuditAction.EXPORT if export else AuditAction.VIEW,
        object_type=OBJECT_TYPE,
        object_id=request.get_full_path()[:64],
        request=request,
        role=query.view.role,
        municipality_id=chosen.pk if chosen is not None else None,
    )
    return report
