"""Users' API tokens and the end of a login.

Tokens are django-rest-knox's: the client gets the secret once, the database keeps only its SHA-512
digest and the first characters (`token_key`, the id users and admins see), and every token expires
(REST_KNOX["TOKEN_TTL"], DHO_TOKEN_TTL_HOURS). The user lists and revokes their own (the «API-nøkler»
page, `/api/v1/auth/tokens/`), the centre admin their centre's users' (tenants/admin.py).

A token stands for a login and never outlives one: it ends at the latest when a session begun at the
same moment would end (DHO_SESSION_MAX_SECONDS), and one made on the page ends when the session it
was made from reaches its absolute limit. Making one asks for the second factor again, on the page
as on the token endpoint (tenants.two_factor.reauthentication_refusal): an unlocked screen left
behind gives no one a credential that outlasts the session.

Logging out, or changing the password, ends every session and every token of that user
(`sign_out_everywhere`, connected below to Django's `user_logged_out` and to a saved password change).
Device gateways do not use these: their credential is measurements' `Integration`.
"""

from __future__ import annotations

import datetime
import re
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from knox import auth as knox_auth
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework.exceptions import AuthenticationFailed

from tenants import sessions, two_factor
from tenants.login import accounts_managed_by

# What a secret (knox: hex, after an optional prefix) and its id (`token_key`) can look like.
TOKEN_SHAPE = re.compile(rb"[0-9A-Za-z_-]{1,200}")
KEY_SHAPE = re.compile(r"[0-9A-Za-z_-]{1,25}")


class TokenLimitReached(Exception):
    """The user already holds as many live tokens as REST_KNOX["TOKEN_LIMIT_PER_USER"] allows."""

    def __init__(self, limit: int):
        message = _("Du har allerede {limit} aktive API-nøkler. Slett en du ikke bruker (på siden «API-nøkler»).")
        super().__init__(message.format(limit=limit))


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's `Authorization: Token <secret>`, refusing a secret of another shape than knox makes as
    an authentication failure, where knox itself would crash (a 500) on a NUL byte or non-UTF-8."""

    def authenticate_credentials(self, token: bytes):
        if not TOKEN_SHAPE.fullmatch(token):
            # Not one of ours; and a NUL byte would reach PostgreSQL as an error, a non-UTF-8 byte knox.
            raise AuthenticationFailed(_("Ugyldig API-nøkkel."))
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        # knox also loads every other token of the user on each request to delete the expired ones:
        # a query per API call. Here only the presented token is checked; the others are cleared when
        # the user gets a new one (token_create) and never listed or accepted once expired.
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


# --- tokens ------------------------------------------------------------------------------------


def _live() -> Q:
    return Q(expiry__isnull=True) | Q(expiry__gt=timezone.now())


def live_tokens(user) -> QuerySet[AuthToken]:
    """The user's tokens that still authenticate, newest first. An expired one is deleted when it is
    presented or when the user gets a new token; until then it is only left out."""
    return AuthToken.objects.filter(_live(), user=user).order_by("-created")


def token_lifetime(*, ends_by: datetime.datetime | None = None) -> datetime.timedelta:
    """How long a token made now lives: REST_KNOX["TOKEN_TTL"], but never past a session's absolute
    limit counted from now, nor past `ends_by` (the end of the session it is made from)."""
    now = timezone.now()
    lifetime = datetime.timedelta(seconds=sessions.max_seconds())
    ttl = knox_settings.TOKEN_TTL
    if ttl is not None:
        lifetime = min(lifetime, ttl)
    if ends_by is not None:
        lifetime = min(lifetime, ends_by - now)
    return lifetime


def token_create(*, user, ends_by: datetime.datetime | None = None) -> tuple[AuthToken, str]:
    """A new token for the user: (the stored row, the secret). The secret is returned this once and
    never stored; only its digest is. It expires after `token_lifetime` (`ends_by`: when the session
    it is made from ends). Refused with TokenLimitReached beyond the per-user limit."""
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()  # expired: gone anyway
    if limit is not None and live_tokens(user).count() >= limit:
        raise TokenLimitReached(limit)
    return AuthToken.objects.create(user=user, expiry=token_lifetime(ends_by=ends_by))


def session_ends_at(session) -> datetime.datetime | None:
    """When this session ends whatever the user does (its absolute limit), or None if it has no stamp."""
    found = sessions.limits(session)
    if found is None:
        return None
    return datetime.datetime.fromtimestamp(found.absolute_deadline, tz=datetime.UTC)


def token_revoke(*, user, token_key: str) -> bool:
    """Deletes the user's token with this id (its `token_key`); False if the user has none such."""
    if not KEY_SHAPE.fullmatch(token_key):
        return False
    deleted, _by_model = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return bool(deleted)


def admin_tokens(user) -> QuerySet[AuthToken]:
    """The tokens a centre admin may list and revoke: those of the accounts the admin manages (a role
    at the admin's centres or in a municipality they serve, never a superuser; the same people whose
    lock-out and second factor the admin resets). A superuser sees all."""
    return AuthToken.objects.filter(user__in=accounts_managed_by(user))


# --- the end of a login --------------------------------------------------------------------------


def session_store():
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        # A cache-only engine cannot be searched by user: a logout would leave the other sessions alive.
        raise ImproperlyConfigured("SESSION_ENGINE må lagre øktene i databasen (db eller cached_db).")
    return store


def user_session_keys(user) -> list[str]:
    """The keys of the user's unexpired sessions, found by decoding each stored session: always right,
    whatever rotated the keys (login, update_session_auth_hash), at the cost of reading every live
    session once. Only a logout or a password change asks."""
    store = session_store()
    decoder, user_id = store(), str(user.pk)
    rows = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    return [
        key
        for key, data in rows.values_list("session_key", "session_data").iterator()
        if decoder.decode(data).get(SESSION_KEY) == user_id
    ]


def sign_out_everywhere(*, user) -> None:
    """Ends every session and deletes every API token of the user (ASVS: a logout or a new password
    leaves nothing of the old login usable)."""
    AuthToken.objects.filter(user=user).delete()
    store = session_store()
    for key in user_session_keys(user):
        store(session_key=key).delete()  # through the store: cached_db forgets its cached copy too


@receiver(user_logged_out, dispatch_uid="tenants.tokens.logged_out")
def _logged_out(sender, request, user, **kwargs):
    if user is None:  # logging out an anonymous session sends no user
        return
    # Only a session past the second factor ends the others: one that knows just the password (not
    # yet past the code) would otherwise sign the person out everywhere and delete their API tokens,
    # as often as it liked. Django ends this session itself.
    if not two_factor.required() or two_factor.session_is_verified(request):
        sign_out_everywhere(user=user)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="tenants.tokens.password_saved")
def _password_saved(sender, instance, created, **kwargs):
    # `_password` holds the new raw password from set_password() until save() has told the password
    # validators (AbstractBaseUser.save → password_changed): exactly a changed password. Login's
    # transparent re-hash of the same password clears it before saving, so it signs nobody out.
    if not created and getattr(instance, "_password", None) is not None:
        sign_out_everywhere(user=instance)
