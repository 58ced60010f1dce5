"""Settings from the environment, with safe defaults.

Production sets at least DHO_DEBUG=0 (the default), SECRET_KEY, ALLOWED_HOSTS, REDIS_URL,
DHO_ALLOW_SYNTHETIC_IDS=0 and the database: DATABASE_URL (the owner) for `manage.py migrate` only,
DATABASE_APP_URL (the app role) for everything else; see docs/operations.md, «Production settings»."""

import datetime
import ipaddress
import os
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from dho import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DHO_DEBUG", False)
# The test suite runs with DEBUG off (as production does) but needs no SECRET_KEY. Only ever from
# DHO_TESTING (`make test` sets it, and so does the suite's own pytest plugin, tests/testing_mode.py),
# never from what is imported: production installs no test tools, and importing one must not
# loosen a setting.
TESTING = env_bool("DHO_TESTING", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# A bare `manage.py` beside a running `make run` never gets here without DHO_DEBUG: manage.py takes
# the platform's recorded settings first, or says what to do.
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured("SECRET_KEY må settes når DHO_DEBUG ikke er på.")
    SECRET_KEY = "dev-only-insecure-key-never-used-in-production"  # noqa: S105


def secret_refused(name: str, value: str) -> str | None:
    """Why a production secret may not be used: shorter than Django's 50 characters (check --deploy's
    own minimum), or a stand-in from the examples (.env.example's «change-me-…», the docs'
    «<50+ random characters>», the development key), which anyone who reads the repository knows."""
    if "change-me" in value.lower() or value.startswith("<") or "insecure" in value.lower():
        return f"{name} er eksempelverdien fra dokumentasjonen: sett en egen, tilfeldig verdi (minst 50 tegn)."
    if len(value) < 50:
        return f"{name} er for kort ({len(value)} tegn): bruk minst 50 tilfeldige tegn."
    return None


if not DEBUG and not TESTING:
    for _name in ("SECRET_KEY", "DHO_PERSON_HASH_KEY"):
        _value = os.environ.get(_name, "")
        _refusal = secret_refused(_name, _value) if _value or _name == "SECRET_KEY" else None
        if _refusal:
            raise ImproperlyConfigured(_refusal)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if DEBUG or TESTING:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "dho.errors.csrf_failure"  # Norwegian, in the layout (templates/403_csrf.html)

# Synthetic test national ids (month + 40 / + 80) are for demo and tests only: refused by default
# outside them (a production install that did not set it took test persons into the register).
DHO_ALLOW_SYNTHETIC_IDS = env_bool("DHO_ALLOW_SYNTHETIC_IDS", DEBUG or TESTING)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # knox: API tokens: hashed, expiring (see "API tokens" below); before tenants, whose admin replaces knox's
    "tenants.apps.KnoxConfig",
    "drf_spectacular",
    "tenants.apps.GuardianConfig",  # guardian (the configs in tenants/apps.py name the apps in Norwegian)
    "django_htmx",
    "tenants.apps.AxesConfig",  # axes: records failed logins per (username, address); the policy is tenants/lockout.py
    "django_otp",  # the second factor (tenants/two_factor.py): the TOTP app and backup codes
    "tenants.apps.OtpTotpConfig",  # django_otp.plugins.otp_totp
    "tenants.apps.OtpStaticConfig",  # django_otp.plugins.otp_static
    "dho",  # project-wide management commands (seed_demo)
    "tenants",
    "patients",
    "ebp",
    "measurements",
    "triage",
    "billing",
    "journaling",  # the document to the kommune's EPJ (VKP-DHO), built from triage's rows
    "insight",  # Innsikt: the service's figures (capacity, alarm burden, adherence, the funnel), reads every app
]

MIDDLEWARE = [
    "dho.middleware.ForwardedProtoMiddleware",  # first: X-Forwarded-Proto only from DHO_TRUSTED_PROXIES
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (see "headers" below)
    "tenants.helseid_login.FormActionMiddleware",  # with HelseID login: its issuer in form-action
    "dho.headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "dho.headers.NoStoreMiddleware",  # below WhiteNoise: every answer but static files is never cached
    "dho.middleware.RequestIdMiddleware",
    "dho.middleware.RefuseNulMiddleware",  # %00 in the address: a 400, never a query
    "tenants.sessions.SessionMiddleware",  # Django's; a page's own requests never delete the cookie
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.sessions.SessionLimitsMiddleware",  # 30 min idle, 8 h at most (see "login" below)
    "tenants.two_factor.OTPMiddleware",  # django-otp's, its device read compiled once per process
    "tenants.login.TwoFactorMiddleware",  # nothing before the second factor
    "tenants.organisations.OrganisationMiddleware",  # «Velg virksomhet»: the session's organisation, then the scope
    "dho.scope.ScopeMiddleware",  # one transaction per request, SET LOCAL to the user's scope (tenants/rls.py)
    "django.contrib.messages.middleware.MessageMiddleware",
    "dho.errors.MethodNotAllowedPageMiddleware",  # a form's address opened as a page: 405.html, not a blank page
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a refused login (a pair that must wait) into the 429
]

ROOT_URLCONF = "dho.urls"
WSGI_APPLICATION = "dho.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ebp.context_processors.approvals",
            ],
        },
    },
]


def _embedded_or_refuse(url_of, name: str, production_hint: str) -> str:
    """The configured address, else the running embedded server's. The settings never start a server
    (dho/embedded.py): one started by an import would outlive the command that imported them. Outside
    debug and tests never the embedded one: a production process without its address took whatever
    server a var/ directory beside it named (a developer's `make run`)."""
    if not DEBUG and not TESTING and not os.environ.get(name):
        raise ImproperlyConfigured(
            f"{name} er ikke satt. Utenfor DHO_DEBUG bruker innstillingene aldri de innebygde tjenestene under "
            f"var/ (de er for utvikling): {production_hint} (docs/operations.md, «Production settings»)."
        )
    try:
        return url_of()
    except embedded.NotRunning as missing:
        raise ImproperlyConfigured(str(missing)) from None


# --- the database's own wall (tenants/rls.py) ---
# DATABASE_URL names the owner of the tables: migrations run as it (DHO_DB_AS_OWNER=1, which
# `manage.py migrate` sets, so `make run` and docker compose migrate as the owner; the tests create and
# migrate their database as the owner, tests/database_roles.py). Everything else connects as
# the app role, which owns nothing and is neither superuser nor BYPASSRLS, so PostgreSQL's row-level
# security applies to every query it makes. DATABASE_APP_URL, when set, is the app role's whole
# address; otherwise it is DATABASE_URL with DHO_DB_APP_ROLE/DHO_DB_APP_PASSWORD in place of the
# owner's name and password. `migrate` creates the role when it may (CREATEROLE) and grants its rights.
# A process given DATABASE_APP_URL alone (docker compose's web, worker and beat; `make run`'s servers)
# has no owner's address at all: it cannot connect as the owner, and cannot leak its password.
DHO_DB_AS_OWNER = env_bool("DHO_DB_AS_OWNER", False)
DHO_DB_APP_ROLE = os.environ.get("DHO_DB_APP_ROLE", "dho_app")
DHO_DB_APP_PASSWORD = os.environ.get("DHO_DB_APP_PASSWORD", "")
if not DHO_DB_APP_PASSWORD and (DEBUG or TESTING):
    DHO_DB_APP_PASSWORD = embedded.DEVELOPMENT_APP_PASSWORD
# Connections are kept for a minute (CONN_MAX_AGE) and checked before a request reuses one
# (CONN_HEALTH_CHECKS): after a PostgreSQL restart each kept connection is found dead and replaced at
# the start of its next request, instead of failing that request with a 500.
_DB_CONNECTIONS = {"conn_max_age": 60, "conn_health_checks": True}
_app_url = os.environ.get("DATABASE_APP_URL", "")
if _app_url and not os.environ.get("DATABASE_URL"):
    if DHO_DB_AS_OWNER:
        raise ImproperlyConfigured("Migreringer kjører som eieren av tabellene: sett eierens adresse i DATABASE_URL.")
    _db_owner = None
else:
    _db_owner = dj_database_url.parse(
        _embedded_or_refuse(
            embedded.database_url_or_embedded,
            "DATABASE_URL",
            "sett DATABASE_APP_URL (appens rolle) for web, worker og beat, og DATABASE_URL (eieren) for migrate",
        ),
        **_DB_CONNECTIONS,
    )
if _app_url:
    _db_app = dj_database_url.parse(_app_url, **_DB_CONNECTIONS)
else:
    # No password outside debug is allowed: a server may authenticate the role by certificate or peer.
    _db_app = {**_db_owner, "USER": DHO_DB_APP_ROLE, "PASSWORD": DHO_DB_APP_PASSWORD}
# Both roles' names and passwords: tests and benchmarks set up as the owner, then run as the app
# (tenants.rls.connection_use). None: this process was given no owner.
DHO_DB_OWNER = {"USER": _db_owner["USER"], "PASSWORD": _db_owner["PASSWORD"]} if _db_owner else None
DHO_DB_APP = {"USER": _db_app["USER"], "PASSWORD": _db_app["PASSWORD"]}
DATABASES = {"default": _db_owner if DHO_DB_AS_OWNER else _db_app}
# Several test runs may share one server (developers in parallel): DHO_TEST_DB names each its own database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DHO_TEST_DB") or None}
# Behind a connection pooler in transaction mode (DHO_DB_POOLER=pgbouncer; docs/operations.md,
# «Connection pooler»): each transaction may run on another server connection, so nothing may live
# longer than one. Django's psycopg backend already binds parameters on the client and prepares no
# statement (prepare_threshold None, said here too); what is left is QuerySet.iterator(), which opens a
# server-side cursor (WITH HOLD outside a transaction): off, it reads in chunks of one query instead.
# The scope is SET LOCAL (tenants/rls.py). DHO_DIRECT_DATABASE_URL, when given, is the server itself,
# for what must bypass the pooler: the test suite creates, copies and drops its databases there.
DHO_DB_POOLER = os.environ.get("DHO_DB_POOLER", "").strip().lower()
if DHO_DB_POOLER not in {"", "pgbouncer"}:
    raise ImproperlyConfigured(f"DHO_DB_POOLER: «{DHO_DB_POOLER}» er ukjent; bruk «pgbouncer» eller la den stå tom.")
if DHO_DB_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
_direct_url = os.environ.get("DHO_DIRECT_DATABASE_URL", "")
_direct = dj_database_url.parse(_direct_url) if _direct_url and DHO_DB_POOLER else None
DHO_DB_DIRECT = {"HOST": _direct["HOST"], "PORT": _direct["PORT"]} if _direct else None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _embedded_or_refuse(embedded.redis_url_or_embedded, "REDIS_URL", "sett REDIS_URL")
# The API's throttle counters live here (dho/throttling.py), so every API call asks Redis once: a
# Redis that does not answer costs a request at most these seconds, and the throttle then lets it pass.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a pair that must still wait, before the password
    "tenants.login.LoginBackend",  # Django's ModelBackend, and the second factor while under attack
    "tenants.helseid_login.HelseIdBackend",  # a HelseID login's session (it checks no credentials itself)
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- login: lock-out, the second factor, sessions that end ---
# Lock-out (tenants/lockout.py on top of django-axes' records): failures are counted per (username,
# address) pair, which waits 1, 2, 4 … s (at most DHO_LOGIN_PAIR_MAX_DELAY_SECONDS) after its first
# DHO_LOGIN_PAIR_FREE_FAILURES failures before its next try is even checked; per username (any
# address) and per address (any username, a higher limit inside DHO_LOGIN_NAT_RANGES) in a window
# of DHO_LOGIN_WINDOW_MINUTES from the window's first failure. A username or address over its limit
# is not refused: until the window ends its logins need the second factor with the password. A
# success clears only its own pair. The second factor (django-otp TOTP + backup codes,
# tenants/two_factor.py) is required whenever DEBUG is off; the app is set up with an activation
# code from the centre admin (tenants/activation.py). Sessions (tenants/sessions.py): 30 minutes
# without a user action, 8 hours at most, a warning a minute before.
DHO_LOGIN_WINDOW_MINUTES = int(os.environ.get("DHO_LOGIN_WINDOW_MINUTES", "30"))
DHO_LOGIN_PAIR_FREE_FAILURES = int(os.environ.get("DHO_LOGIN_PAIR_FREE_FAILURES", "3"))
DHO_LOGIN_PAIR_MAX_DELAY_SECONDS = int(os.environ.get("DHO_LOGIN_PAIR_MAX_DELAY_SECONDS", "900"))
DHO_LOGIN_USER_LIMIT = int(os.environ.get("DHO_LOGIN_USER_LIMIT", "50"))
DHO_LOGIN_ADDRESS_LIMIT = int(os.environ.get("DHO_LOGIN_ADDRESS_LIMIT", "300"))
# Networks many people share one address of (a kommune's NAT): a higher limit, never a lower one.
DHO_LOGIN_NAT_RANGES = env_list("DHO_LOGIN_NAT_RANGES")
DHO_LOGIN_NAT_ADDRESS_LIMIT = int(os.environ.get("DHO_LOGIN_NAT_ADDRESS_LIMIT", "3000"))
for _network in DHO_LOGIN_NAT_RANGES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"DHO_LOGIN_NAT_RANGES: «{_network}» er ikke en IP-adresse eller et nett.") from None
DHO_ACTIVATION_CODE_HOURS = int(os.environ.get("DHO_ACTIVATION_CODE_HOURS", "72"))
# django-axes records every failure per (username, address) and refuses a pair that must still wait
# before its password is checked (AXES_HANDLER: the policy); its own count-and-lock is off.
AXES_HANDLER = "tenants.lockout.LockoutHandler"
AXES_LOCK_OUT_AT_FAILURE = False
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "tenants.lockout.pair_memory"  # a pair is forgotten a window after its last failure
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a refused try is not recorded: it extends nothing
AXES_RESET_ON_SUCCESS = True  # the pair's own failures only (the parameters above)
AXES_CLIENT_IP_CALLABLE = "dho.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "tenants.login.lockout_response"
AXES_USERNAME_CALLABLE = "tenants.login.attempted_username"  # at most a username's length, never a 500
# Never stored with the attempt: the username has its own column, codes are not kept anywhere.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp", "code", "activation_code"]
AXES_VERBOSE = False  # its log lines name the username and address of every failure twice
OTP_TOTP_ISSUER = "DHO"  # the name the authenticator app shows
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
DHO_SESSION_IDLE_SECONDS = 30 * 60
DHO_SESSION_MAX_SECONDS = 8 * 3600  # SESSION_COOKIE_AGE below says the same
DHO_SESSION_WARNING_SECONDS = 60
# HelseID login («Logg inn med HelseID», tenants/helseid_login.py, docs/login-and-sessions.md). The
# issuer (its discovery document is read), the login client and its private key (a JWK file, or the
# JSON from a secret store; never in the repository or the database) are the machine client's
# (DHO_HELSEID_*, tenants/helseid.py) unless the login has a client of its own (DHO_HELSEID_LOGIN_*).
# On whenever an issuer is set; DHO_HELSEID_LOGIN=0 switches it off (and says so to `check --deploy`).
# DHO_HELSEID_ORGNR: the organisation numbers (delegations in Altinn) a login may name.
DHO_HELSEID_ISSUER = os.environ.get("DHO_HELSEID_ISSUER", "").strip().rstrip("/")
DHO_HELSEID_LOGIN = env_bool("DHO_HELSEID_LOGIN", bool(DHO_HELSEID_ISSUER))
DHO_HELSEID_LOGIN_OFF = os.environ.get("DHO_HELSEID_LOGIN", "").strip() != "" and not DHO_HELSEID_LOGIN  # on purpose
DHO_HELSEID_LOGIN_CLIENT_ID = os.environ.get("DHO_HELSEID_LOGIN_CLIENT_ID") or os.environ.get(
    "DHO_HELSEID_CLIENT_ID", ""
)
DHO_HELSEID_LOGIN_KEY_FILE = os.environ.get("DHO_HELSEID_LOGIN_KEY_FILE") or os.environ.get("DHO_HELSEID_KEY_FILE", "")
DHO_HELSEID_LOGIN_KEY = os.environ.get("DHO_HELSEID_LOGIN_KEY") or os.environ.get("DHO_HELSEID_KEY", "")
DHO_HELSEID_LOGIN_SCOPE = os.environ.get("DHO_HELSEID_LOGIN_SCOPE", "")  # default: tenants.helseid_login.DEFAULT_SCOPE
DHO_HELSEID_ID_TOKEN_ALG = os.environ.get("DHO_HELSEID_ID_TOKEN_ALG", "RS256")
DHO_HELSEID_CA_FILE = os.environ.get("DHO_HELSEID_CA_FILE", "")  # only for a stand-in's certificate
DHO_HELSEID_ORGNR = env_list("DHO_HELSEID_ORGNR")
# The key of the fødselsnummer's keyed hash in HelseID bindings (tenants/persons.py). Defaults to
# SECRET_KEY; set it apart in production, or a new SECRET_KEY unbinds everyone.
DHO_PERSON_HASH_KEY = os.environ.get("DHO_PERSON_HASH_KEY", "")
# Innsikt's reference line: the patients per nurse årsverk the service is sized for (Ullensaker: 80).
DHO_INSIGHT_PATIENTS_PER_FTE = int(os.environ.get("DHO_INSIGHT_PATIENTS_PER_FTE", "80"))
# A report counts its alarm figures on a second database connection while it counts the rest (insight
# .aggregates._alerts_beside). Off in test mode: a test's rows are in a transaction only its own
# connection sees (the suite's transactional test turns it on).
INSIGHT_SECOND_CONNECTION = env_bool("DHO_INSIGHT_SECOND_CONNECTION", not TESTING)

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", _("Norsk bokmål"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["dho.formats"]  # dd.mm.åååå and tt:mm everywhere (dho/formats/nb/formats.py)
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
# Looked up per request, not indexed when the middleware is made: the test client makes the middleware
# for every client (an index of every static file each time was a tenth of the suite's CPU).
WHITENOISE_AUTOREFRESH = DEBUG or TESTING

# --- security (check --deploy clean when DHO_DEBUG is off) ---
SESSION_COOKIE_SECURE = not DEBUG and not TESTING and env_bool("DHO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 8 * 3600  # one working day
SESSION_ENGINE = "tenants.session_store"  # Django's database sessions, their row read by a compiled query
SECURE_SSL_REDIRECT = env_bool("DHO_SSL_REDIRECT", not DEBUG and not TESTING)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Read only when the peer is one of DHO_TRUSTED_PROXIES: dho.middleware.ForwardedProtoMiddleware
# removes the header from anyone else before SecurityMiddleware asks request.is_secure().
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("DHO_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# Preloading is a promise for the whole domain (every subdomain of the kommune's, for years) that only
# its owner can give, and hard to take back: opt in with DHO_HSTS_PRELOAD=1 after submitting it to
# hstspreload.org. Without it, `check --deploy` is told that the missing preload is deliberate.
SECURE_HSTS_PRELOAD = not DEBUG and env_bool("DHO_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD or DEBUG else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- headers: CSP, Permissions-Policy, messages, /healthz ---
# No 'unsafe-inline' anywhere: scripts and styles are static files; the rare inline <script> or
# <style> carries nonce="{{ request.csp_nonce }}" (django-csp adds the nonce only when a page uses it).
# Django's own admin needs no exception (its scripts are files; tests/browser/test_csp.py walks it;
# only a change list with no actions at all would lose one cosmetic inline <style>). htmx runs with
# indicator styles and eval off (the worklist's <meta name="htmx-config">). A HelseID (OpenID
# Connect) login adds its issuer to form-action (tenants.helseid_login.FormActionMiddleware): the
# login's start and the logout are forms whose answers redirect there.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Flash messages name patients ("Varselet for Rune Gjerdrum er håndtert"): keep them server-side,
# never in the signed-but-readable messages cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# A monitoring system that sends this value in the X-Health-Token header gets /healthz's details;
# anyone else (load balancers included) gets only "ok"/"feil". Empty: only staff see the details.
DHO_HEALTH_TOKEN = os.environ.get("DHO_HEALTH_TOKEN", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # knox's "Authorization: Token <token>" (tenants/tokens.py), then the user's database scope
        "dho.scope.ScopedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Never an HTML page for a JSON client; the browsable API would render patient data unaudited.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
# --- API tokens: django-rest-knox, tenants/tokens.py ---
# Stored as a SHA-512 digest (the secret is shown once), expiring after DHO_TOKEN_TTL_HOURS, listed
# and revoked by the user (/api-nokler/, /api/v1/auth/tokens/) and the centre admin. Logging out or
# changing the password deletes all of the user's tokens and sessions.
# A token never outlives the login it stands for: tenants.tokens.token_create caps its expiry at the
# session's absolute limit (DHO_SESSION_MAX_SECONDS), and making one asks for the second factor again.
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(hours=float(os.environ.get("DHO_TOKEN_TTL_HOURS", "8"))),
    "AUTH_HEADER_PREFIX": "Token",  # what clients already send
    # Live tokens one user may hold: a bounded set of credentials in circulation, each on their page.
    "TOKEN_LIMIT_PER_USER": int(os.environ.get("DHO_TOKEN_LIMIT_PER_USER", "20")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DHO API",
    "DESCRIPTION": "Digital hjemmeoppfølging: pasienter, planer, målinger og varsler.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/: logged-in users (session or token) only, except in debug mode (dho/api_schema.py).
    "SERVE_PERMISSIONS": ["dho.api_schema.SchemaReaders"],
    # One schema name per choice set that several fields use (drf-spectacular asks for it by name).
    "ENUM_NAME_OVERRIDES": {
        "PatientStatusEnum": "patients.models.PatientStatus",
        "ReferralStatusEnum": "patients.models.ReferralStatus",
        "EndReasonEnum": "patients.models.EndReason",
        "DeviceStateEnum": "patients.models.DeviceState",
        "AlertStatusEnum": "triage.models.AlertStatus",
        "QuarantineStatusEnum": "measurements.models.QuarantineStatus",
    },
}

# --- request metadata and API input ---
# Our reverse proxies (addresses or networks, e.g. "10.0.0.5,10.1.0.0/16"): X-Forwarded-For and
# X-Request-ID are believed only when one of them is the peer (dho/middleware.py). None by default:
# the peer is the client, whatever the headers say.
DHO_TRUSTED_PROXIES = env_list("DHO_TRUSTED_PROXIES")
for _proxy in DHO_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"DHO_TRUSTED_PROXIES: «{_proxy}» er ikke en IP-adresse eller et nett.") from None
# Bodies (JSON and forms; tenants/api_input.py caps the CSV import the same): a gateway's 1,000
# FHIR Observations are about 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Every JSON body is checked for depth, NUL characters and being an object; what Django raises while
# reading a body is a JSON 400 like any other (tenants/api_input.py).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "tenants.api_input.JSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "tenants.api_input.exception_handler"
# Throttles (dho/throttling.py): per user (session or token) and per device gateway (Integration),
# counted in Redis (CACHES). Past the rate: 429 with Retry-After and a Norwegian message, before the
# view reads the body, so nothing of a refused request is stored. A realistic gateway (a batch of up
# to 1,000 readings every few seconds, or each reading as it is taken) stays far below 600 a minute;
# bench/ingest.py, which measures the server and not the throttle, raises both in its own env.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["dho.throttling.UserThrottle", "dho.throttling.GatewayThrottle"]
DHO_THROTTLE_RATES = {
    "user": os.environ.get("DHO_THROTTLE_USER", "1200/min"),
    "gateway": os.environ.get("DHO_THROTTLE_GATEWAY", "600/min"),
}
for _scope, _rate in DHO_THROTTLE_RATES.items():
    if not re.fullmatch(r"\s*[1-9][0-9]*\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*", _rate):
        raise ImproperlyConfigured(
            f"DHO_THROTTLE_{_scope.upper()}: «{_rate}» er ikke en rate som «600/min» (per s, min, hour eller day)."
        )
# Rejected gateway items kept in the quarantine per gateway and day (Europe/Oslo): past it, a batch
# with rejects answers 429 (quarantine full, send again later) and the centre admin gets a notice.
DHO_QUARANTINE_DAILY_LIMIT = int(os.environ.get("DHO_QUARANTINE_DAILY_LIMIT", "1000"))
# A journal note not journaled in the kommune's EPJ this many hours after it was written is flagged
# for the centre admin (journaling.services.deliveries_overdue_flag).
DHO_JOURNALING_OVERDUE_HOURS = int(os.environ.get("DHO_JOURNALING_OVERDUE_HOURS", "24"))


def env_seconds(name: str, default: str) -> tuple[float, ...]:
    """A list of waits in seconds, «2,3,5,10,20» (decimals allowed, each above 0); «none» (or «0»)
    is no waits at all. Unset or empty: the default. A malformed list stops the start, naming it."""
    value = os.environ.get(name, "").strip() or default
    if value.lower() in {"none", "0"}:
        return ()
    waits = []
    for item in value.split(","):
        try:
            seconds = float(item)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= 3600:
            raise ImproperlyConfigured(
                f"{name}: «{item.strip()}» er ikke et antall sekunder mellom 0 og 3600 (som i «{default}»)."
            )
        waits.append(seconds)
    return tuple(waits)


# The quick looks at a just-sent journal note's receipt (journaling.services.delivery_follow_up): the
# seconds until the first look after the send, and from each look to the next, until it is journaled;
# after the last, the beat's poll sweep follows the row. «none»: the sweep only.
DHO_JOURNAL_QUICK_POLLS = env_seconds("DHO_JOURNAL_QUICK_POLLS", "2,3,5,10,20")
# The schema lists the errors (400/401/403/404/415) every endpoint can give; schemathesis fuzzes it.
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "dho.api_schema.AutoSchema"
# An alert's colour, and a plan rule's (ebp.content, plain values): one name each.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] |= {
    "ColourEnum": "triage.models.AlertColour",
    "RuleColourEnum": ["yellow", "red"],
    "ContactActionEnum": "triage.models.ContactAction",  # the handle page's actions (the alert API)
    "DeliveryStateEnum": "journaling.models.DeliveryState",
    "ServiceUseKindEnum": "insight.models.ServiceUseKind",  # the gevinst's points of the forløp
    "SurveyYesUnknownNoEnum": ["yes", "unknown", "no"],  # the brukerundersøkelse's yes/no questions
}
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "dho.api_schema.pydantic_to_oas30",  # the plan content's pydantic schema, in OpenAPI 3.0's words
]

# --- Celery ---
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Tests give each real worker its own queue, so parallel runs on one Redis never steal each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("DHO_CELERY_QUEUE", "celery")
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task whose worker dies mid-way runs again rather than vanishing.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that queues scoring must not hang on a dead broker: fail fast, the sweeper catches up.
# (Workers reconnect by broker_connection_max_retries, which these options do not touch.)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.2,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.VAR_DIR / "celerybeat-schedule")
# Celery's scheduler, with a Redis outage logged once each way instead of per task and tick.
CELERY_BEAT_SCHEDULER = "dho.beat:Scheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dho.middleware.RequestIdLogFilter"}},
    "formatters": {
        # Our request id, and our proxy's beside it («-» when it sent none or is not ours).
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s upstream=%(upstream_request_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DHO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        # weasyprint logs every layout step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

if TESTING:
    # Hashing a password properly takes ~0.3 s by design; the suite creates hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
