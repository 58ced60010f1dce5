"""The API's answer to an address that matches no route: JSON like every other API error, not the
pages' HTML. (A malformed id, `/api/v1/patients/not-a-uuid/`, matches no route.)"""

from django.http import JsonResponse
from django.views.defaults import page_not_found


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Ikke funnet."}, status=404)
    return page_not_found(request, exception)
