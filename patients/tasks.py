"""Celery tasks of patients: thin wrappers over patients.services, each in a named system scope
(tenants/rls.py)."""

from celery import shared_task

from patients.services.access_log_pdf import access_log_pdf_make
from tenants.rls import system_scope


@shared_task(name="patients.make_access_log_pdf")
def make_access_log_pdf(job_id: str) -> str:
    """Innsyn i logg as a PDF for the patient, queued by the page's «Lag PDF til pasienten»."""
    with system_scope("patients.make_access_log_pdf"):
        return access_log_pdf_make(job_id)
