"""axe on every page each role reaches: from the role's landing page, every link on the site is
followed (one page per address pattern: a patient's page stands for every patient's) and checked for
serious or critical WCAG 2.1 A/AA violations. The admin is walked as the centre admin."""

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.billing import test_pages as pages
from tests.browser.conftest import axe_preload

pytestmark = pytest.mark.browser
priced, today = pages.priced, pages.today

# Files, the API, signing out and the browsable schema are not pages to check.
SKIP = re.compile(r"(\.pdf|\.csv|\.xlsx|\.json)$|^/(api|static|logout)/|^/admin/logout/|/jsi18n/")
ID = re.compile(r"/([0-9a-f]{8}-[0-9a-f-]{27}|\d+|[A-Z]{2}-[A-Z]{2}-\d+|\d{4}-\d{2})/")
MAX_PAGES = 80


def pattern(path: str) -> str:
    """«/patients/<id>/» for every patient: one of each kind of page is enough."""
    previous = None
    while previous != path:
        previous, path = path, ID.sub("/·/", path)
    return path


def walk(page, start: str, axe_violations) -> dict:
    seen, queue, found = set(), [start], {}
    origin = urlsplit(page.url)
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if pattern(path) in seen:
            continue
        seen.add(pattern(path))
        response = page.goto(path)
        if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        violations = axe_violations(page)
        if violations:
            found[path] = violations
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            url = urlsplit(urljoin(page.url, href))
            if url.netloc == origin.netloc and not SKIP.search(url.path) and pattern(url.path) not in seen:
                queue.append(url.path)
    return {"checked": sorted(seen), "violations": found}


@pytest.mark.parametrize("role", ["nurse", "coordinator", "gp", "finance", "admin"])
def test_every_page_of_every_role_has_no_serious_violation(role, priced, browser_login, axe_violations):
    page = browser_login(getattr(priced.u, role))
    axe_preload(page)  # every page of the walk is checked
    result = walk(page, urlsplit(page.url).path, axe_violations)
    assert len(result["checked"]) > 3, result["checked"]  # the walk reached the role's pages
    assert result["violations"] == {}
