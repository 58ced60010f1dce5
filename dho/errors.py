"""The pages' error answers, in Norwegian and in the platform's layout, never with the exception's
text (it names models and queries). The templates are `templates/<status>.html`: Django renders
404.html, 400.html and 500.html itself (`dho.api_errors.not_found` hands a page's 404 to it); the
refused CSRF check and a form's address opened as a page come here."""

from django.shortcuts import render

API = "/api/"


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form refused by the CSRF check. Django's own page is English-styled,
    outside the layout and tells a nurse about cookies; this one says nothing was saved and what to
    do. Rendered with the request, so the menu is there (the user is often still logged in: a new
    login in another tab changed the token the open form carried)."""
    return render(request, "403_csrf.html", status=403)


class MethodNotAllowedPageMiddleware:
    """A page's address that takes only a form (POST), opened as a page: Django answers an empty
    405, a blank screen. A page gets 405.html instead, the Allow header kept; the API's 405 is
    DRF's JSON and untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.content or request.path.startswith(API):
            return response
        page = render(request, "405.html", status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page
