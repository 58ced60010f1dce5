"""Permissions-Policy on every response: DHO's pages use no camera, microphone, location or sensors,
so a script that got in anyway (or a page that frames us) cannot ask the browser for them.

Only features Chromium and Firefox recognise are listed: an unknown name fills the console with
warnings on every page. The copy-to-journal button needs clipboard-write, for our own origin only.
"""

PERMISSIONS_POLICY = {
    "accelerometer": "()",
    "autoplay": "()",
    "camera": "()",
    "clipboard-write": "(self)",
    "display-capture": "()",
    "encrypted-media": "()",
    "fullscreen": "()",
    "geolocation": "()",
    "gyroscope": "()",
    "hid": "()",
    "idle-detection": "()",
    "magnetometer": "()",
    "microphone": "()",
    "midi": "()",
    "payment": "()",
    "picture-in-picture": "()",
    "publickey-credentials-get": "()",
    "screen-wake-lock": "()",
    "serial": "()",
    "usb": "()",
    "xr-spatial-tracking": "()",
}
HEADER_VALUE = ", ".join(f"{feature}={allow}" for feature, allow in PERMISSIONS_POLICY.items())


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", HEADER_VALUE)
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every answer the application makes: pages, API answers,
    PDFs, CSV/XLSX exports, the admin, the login. Nurses and finance work on shared kommune PCs; a
    browser's or a proxy's cache would keep a patient's page, a vedtaksbrev or an export on disk for
    the next user of the machine (or the back button) to find. It replaces whatever a view set
    (never_cache's longer form included): nothing we serve from Python is meant to be kept.

    Below WhiteNoise in MIDDLEWARE: static files (versioned, no patient data) never get here and keep
    their long cache lifetime."""

    VALUE = "no-store, private"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["Cache-Control"] = self.VALUE
        return response
