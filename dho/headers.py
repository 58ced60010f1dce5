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
