"""No models yet: the document is built from triage's rows (journaling/document.py). The outbox
that sends it to the kommune's EPJ will live here."""
