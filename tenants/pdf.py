"""HTML to PDF, one way for every letter and report the platform prints (weasyprint)."""

from django.conf import settings


def pdf_from_html(html: str) -> bytes:
    """The PDF of a rendered template; static files and fonts are found from the project's root."""
    # Imported here, not at the top: weasyprint takes more than a second to import, and every process
    # that loads the URLs (web, each Celery worker, each management command) would pay it at start.
    import weasyprint

    return weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
