"""Who belongs where: kommuner, oppfølgingssentre, samarbeidsavtaler, memberships and the audit log."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.configuration import WrittenThroughFunction
from tenants.norwegian import date_text, datetime_text


class Municipality(models.Model):
    """A kommune. Every patient and every clinical row belongs to exactly one."""

    number = models.CharField(
        _("kommunenummer"),
        max_length=4,
        unique=True,
        validators=[RegexValidator(r"^\d{4}$", _("Kommunenummer har fire sifre."))],
    )
    name = models.CharField(_("navn"), max_length=100)
    population = models.PositiveIntegerField(_("innbyggertall"), default=0)
    # The hjemmel the kommune's vedtak cite (patients.Decision copies it when deciding).
    legal_basis = models.CharField(
        _("hjemmel for vedtak"), max_length=300, default="helse- og omsorgstjenesteloven § 3-2 første ledd nr. 6"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("kommune")
        verbose_name_plural = _("kommuner")

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"


def _weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class Centre(models.Model):
    """An (interkommunalt) oppfølgingssenter, run by a host municipality (vertskommune)."""

    name = models.CharField(_("navn"), max_length=200)
    slug = models.SlugField(_("kortnavn (i adresser)"), unique=True)
    host = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="hosted_centres", verbose_name=_("vertskommune")
    )
    # Silence is a signal: how long the centre waits before nothing-arrived becomes an alert.
    missing_grace_hours = models.PositiveSmallIntegerField(_("slingringsmonn for manglende måling (timer)"), default=4)
    inactive_after_days = models.PositiveSmallIntegerField(_("inaktiv pasient etter (dager)"), default=3)
    # Åpningstid: escalation counts only time the centre is open; outside it the worklist says so.
    opens_at = models.TimeField(_("åpner"), default=datetime.time(8, 0))
    closes_at = models.TimeField(_("stenger"), default=datetime.time(15, 0))
    open_weekdays = ArrayField(
        models.PositiveSmallIntegerField(), default=_weekdays, verbose_name=_("åpne ukedager (0 = mandag)")
    )
    routine_contact_weeks = models.PositiveSmallIntegerField(_("rutinekontakt hver (uker)"), default=6)
    evaluation_months = models.PositiveSmallIntegerField(_("evaluering etter (måneder)"), default=3)
    # The fallback beside HelseID: a centre that logs everyone in through HelseID switches it off, and
    # its users' passwords no longer open anything (tenants/login.py `password_login_refusal`).
    password_login = models.BooleanField(
        _("innlogging med passord og kode"),
        default=True,
        help_text=_(
            "Reserveløsningen ved siden av HelseID. Slått av: senterets brukere og brukerne i kommunene det "
            "betjener, kan bare logge inn med HelseID."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("oppfølgingssenter")
        verbose_name_plural = _("oppfølgingssentre")

    def __str__(self) -> str:
        return self.name


class FollowUpBy(models.TextChoices):
    CENTRE = "centre", _("Oppfølgingssenteret")
    MUNICIPALITY = "municipality", _("Kommunen selv")


class AgreementQuerySet(models.QuerySet):
    def active(self, on=None):
        day = on or timezone.localdate()
        return self.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day), valid_from__lte=day)


class Agreement(WrittenThroughFunction):
    """Samarbeidsavtale between a centre and a partner municipality: who follows its patients up."""

    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="agreements", verbose_name=_("oppfølgingssenter")
    )
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="agreements", verbose_name=_("kommune")
    )
    follow_up_by = models.CharField(_("oppfølging ved"), max_length=20, choices=FollowUpBy.choices)
    valid_from = models.DateField(_("gyldig fra"))
    valid_to = models.DateField(_("gyldig til"), null=True, blank=True)
    # Set by a database trigger on every UPDATE (however it is made): billing recomputes a locked
    # month whose agreements changed after it was locked (billing.selectors.changed_since_locked).
    updated_at = models.DateTimeField(_("sist endret"), default=timezone.now, editable=False)

    objects = AgreementQuerySet.as_manager()

    class Meta:
        ordering = ["centre", "municipality__name"]
        verbose_name = _("samarbeidsavtale")
        verbose_name_plural = _("samarbeidsavtaler")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="agreement_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.centre} ↔ {self.municipality}"


# --- reference data the centre's admin keeps (tenants/reference.py): read by billing and the insight
# figures, so they live here, below both.


class Population(models.Model):
    """Innbyggertall of a kommune on 1 January of a year (SSB, table 07459): the population key of
    billing's base share, and the denominator of per-inhabitant figures. One figure per kommune and
    year; setting it again corrects it (tenants.reference.population_set, audited before/after).
    `Municipality.population` is only the fallback when a kommune has no figure for any year."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="populations", verbose_name=_("kommune")
    )
    year = models.PositiveSmallIntegerField(_("år"))
    inhabitants = models.PositiveIntegerField(_("innbyggertall 1. januar"))
    # A change after a month was locked makes that month's base share an adjustment
    # (billing.selectors.changed_since_locked, through tenants.selectors.populations_changed_since).
    updated_at = models.DateTimeField(_("sist endret"), auto_now=True)

    class Meta:
        ordering = ["municipality__name", "-year"]
        verbose_name = _("innbyggertall")
        verbose_name_plural = _("innbyggertall")
        constraints = [models.UniqueConstraint(fields=["municipality", "year"], name="population_per_year")]

    def __str__(self) -> str:
        return f"{self.municipality.name} 1.1.{self.year}: {self.inhabitants}"


class Staffing(models.Model):
    """The centre's nurse staffing in årsverk (FTE) for a period: from `valid_from` to `valid_to`
    (both days included; none = until further notice). A centre's periods never overlap: the service
    refuses one that does, naming the period it meets (tenants.reference.staffing_save), and an
    exclusion constraint of migration tenants 0014 holds the same in the database."""

    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="staffing", verbose_name=_("oppfølgingssenter")
    )
    valid_from = models.DateField(_("gjelder fra"))
    valid_to = models.DateField(_("gjelder til"), null=True, blank=True, help_text=_("Tom: gjelder inntil videre."))
    nurse_fte = models.DecimalField(
        _("sykepleierårsverk"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("999.99"))],
        help_text=_("Årsverk sykepleiere i perioden, for eksempel 4,6."),
    )
    note = models.CharField(_("merknad"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("sist endret"), auto_now=True)

    class Meta:
        ordering = ["centre__name", "-valid_from"]
        verbose_name = _("bemanning")
        verbose_name_plural = _("bemanning")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="staffing_dates_ordered",
            ),
            models.CheckConstraint(condition=Q(nurse_fte__gte=0), name="staffing_fte_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.centre} fra {date_text(self.valid_from)}"


class Role(models.TextChoices):
    NURSE = "nurse", _("Sykepleier")
    COORDINATOR = "coordinator", _("Koordinator")
    GP = "gp", _("Fastlege")
    SPECIALIST = "specialist", _("Spesialist")
    FINANCE = "finance", _("Økonomi")
    ADMIN = "admin", _("Senteradministrator")
    # Reads the centre's figures (insight) for its kommuner; no patient, no patient page.
    LEDER = "leader", _("Leder")


class Membership(WrittenThroughFunction):
    """A user's role at a centre or at a municipality. A user may hold several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("bruker")
    )
    role = models.CharField(_("rolle"), max_length=20, choices=Role.choices)
    centre = models.ForeignKey(
        Centre,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("oppfølgingssenter"),
    )
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("kommune"),
    )
    # A fastlege's number in Helsepersonellregisteret: how a henvisning finds a fastlege outside the
    # kommune's own list (patients.services.fastlege). The same number on each of their memberships.
    hpr_number = models.CharField(
        _("HPR-nummer"),
        max_length=9,
        blank=True,
        db_index=True,
        validators=[RegexValidator(r"^\d{6,9}$", _("HPR-nummeret har 6 til 9 sifre."))],
    )

    class Meta:
        verbose_name = _("medlemskap")
        verbose_name_plural = _("medlemskap")
        constraints = [
            models.CheckConstraint(
                condition=Q(centre__isnull=True) ^ Q(municipality__isnull=True),
                name="membership_centre_xor_municipality",
            ),
            # One row per role and place: the empty one of centre and kommune counts as equal (NULLS NOT
            # DISTINCT), else two rows of the same role could stand and ending one would leave the role.
            models.UniqueConstraint(
                fields=["user", "role", "centre", "municipality"], name="membership_unique", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} – {self.centre or self.municipality}"

    def clean(self):
        if (self.centre_id is None) == (self.municipality_id is None):
            raise ValidationError(_("Et medlemskap gjelder enten et senter eller en kommune."))

    def validate_constraints(self, exclude=None):
        # `membership_unique` (the only constraint naming the role) is checked by the forms with the role
        # and place named, under the user's lock (tenants.services.membership_held_refusal): Django's
        # generic sentence about the constraint beside it would say it twice, and less clearly.
        super().validate_constraints(exclude={*(exclude or ()), "role"})


class LoginMethod(models.TextChoices):
    """How a session was logged in: what the audit log and a patient's «innsyn i logg» say beside who."""

    HELSEID = "helseid", _("HelseID")
    PASSWORD = "password", _("passord og kode")
    API_TOKEN = "api_token", _("API-nøkkel")


class AuditAction(models.TextChoices):
    VIEW = "view", _("Lest")
    CREATE = "create", _("Opprettet")
    UPDATE = "update", _("Endret")
    DELETE = "delete", _("Slettet")
    EXPORT = "export", _("Eksportert")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Logghendelser kan ikke endres.")

    def delete(self):
        raise PermissionError("Logghendelser kan ikke slettes.")


class AuditEvent(models.Model):
    """One read or write of patient data (Normen: who, in which role, what, which patient, when, from where).

    Append-only: the ORM refuses updates and deletes, and a database trigger repeats the rule.
    No foreign-key constraints, so that deleting a user or a patient can never rewrite the log.
    """

    at = models.DateTimeField(_("tidspunkt"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        verbose_name=_("bruker"),
    )
    username = models.CharField(_("brukernavn"), max_length=150, blank=True)
    role = models.CharField(_("rolle"), max_length=20, blank=True)
    action = models.CharField(_("handling"), max_length=10, choices=AuditAction.choices)
    object_type = models.CharField(_("objekttype"), max_length=50)
    object_id = models.CharField(_("objekt-id"), max_length=64, blank=True)
    patient_id = models.UUIDField(_("pasient-id"), null=True, blank=True)
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_municipality (municipality, -at) serves it: one index less per event written
        null=True,
        related_name="+",
        verbose_name=_("kommune"),
    )
    ip = models.GenericIPAddressField(_("IP-adresse"), null=True, blank=True)
    request_id = models.CharField(_("forespørsels-id"), max_length=64, blank=True)
    # The id our own reverse proxy gave the request (DHO_TRUSTED_PROXIES), beside ours: request_id is
    # always ours, so no one upstream chooses what the log is searched by. A database default too,
    # so rows written by hand (and by code that predates the column) need not name it.
    upstream_request_id = models.CharField(
        _("proxyens forespørsels-id"), max_length=64, blank=True, default="", db_default=""
    )
    # How the session that did it was logged in (LoginMethod): HelseID, or password and code; "" for
    # no login at all (a gateway, a background job). A database default like the column above.
    login_method = models.CharField(_("innloggingsmåte"), max_length=20, blank=True, default="", db_default="")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        verbose_name = _("logghendelse")
        verbose_name_plural = _("logghendelser")
        indexes = [
            models.Index(fields=["patient_id", "-at"], name="audit_patient"),  # innsyn i logg per patient
            models.Index(fields=["municipality", "-at"], name="audit_municipality"),  # admin filter
        ]

    def __str__(self) -> str:
        return f"{datetime_text(self.at)} {self.username} {self.action} {self.object_type}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Logghendelser kan ikke endres.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Logghendelser kan ikke slettes.")


# --- login: lock-out windows and locks, activation codes, second-factor changes ----------------------
# tenants/lockout.py, tenants/activation.py, tenants/two_factor.py. No municipality: a login comes
# before any scope, and who may read these is decided by the account (tenants.login.accounts_managed_by).


class LoginWindowKind(models.TextChoices):
    USER = "user", _("Brukernavn")
    ADDRESS = "address", _("Adresse")


class LoginWindow(models.Model):
    """Failed logins for one username (from anywhere) or from one address (whatever usernames), counted
    in a window that starts at the window's first failure and lasts DHO_LOGIN_WINDOW_MINUTES. Nothing
    moves the start: a failure after the window's end starts a new window."""

    kind = models.CharField(max_length=10, choices=LoginWindowKind.choices)
    key = models.CharField(max_length=255)  # the username, or the address as text
    started_at = models.DateTimeField(db_index=True)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="login_window_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.failures}"


class LoginLock(models.Model):
    """A username or an address that reached its limit of failures in a window: until `ends_at`
    (the window's end, never later) a login for it needs the second factor together with the
    password. The centre admin reads these in the admin; each is audited when it starts."""

    kind = models.CharField(_("gjelder"), max_length=10, choices=LoginWindowKind.choices)
    username = models.CharField(_("brukernavn"), max_length=150, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,  # the history stays (with the username) when the account goes
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("bruker"),
    )
    ip = models.GenericIPAddressField(_("adresse"), null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(_("første feil"))
    locked_at = models.DateTimeField(_("sperret fra"), default=timezone.now)
    ends_at = models.DateTimeField(_("varer til"))
    failures = models.PositiveIntegerField(_("feil i vinduet"))
    lifted_at = models.DateTimeField(_("opphevet"), null=True, blank=True)
    lifted_by = models.CharField(_("opphevet av"), max_length=150, blank=True)

    class Meta:
        ordering = ["-locked_at"]
        verbose_name = _("innloggingssperre")
        verbose_name_plural = _("innloggingssperrer")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.username or self.ip} {datetime_text(self.locked_at)}"


class ActivationCode(models.Model):
    """What a user needs to set their password (once) and, besides the password, to set up their
    authenticator app: issued by the centre admin (or `manage.py dho_activation_code`), shown once,
    kept only as a keyed hash, valid until `expires_at`, for one password and one setup."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activation_codes", verbose_name=_("bruker")
    )
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("laget"), default=timezone.now)
    expires_at = models.DateTimeField(_("utløper"))
    used_at = models.DateTimeField(_("brukt"), null=True, blank=True)
    # The same code sets the user's password once (a new user, a forgotten password), before it sets
    # up the app: /login/code/ (tenants/views.py). Once set, the password step is used up.
    password_set_at = models.DateTimeField(_("passord satt"), null=True, blank=True)
    issued_by = models.CharField(_("laget av"), max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("aktiveringskode")
        verbose_name_plural = _("aktiveringskoder")

    def __str__(self) -> str:
        return f"{self.user} {datetime_text(self.created_at)}"


class SecondFactorChangeKind(models.TextChoices):
    SETUP = "setup", _("satt opp")
    RESET = "reset", _("nullstilt")


class SecondFactorChange(models.Model):
    """The user's authenticator app was set up or reset: told to the user at their next login
    (`notified_at`), so a setup or reset they did not make does not pass unnoticed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=SecondFactorChangeKind.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.CharField(max_length=150, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "notified_at"], name="second_factor_change_user")]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {datetime_text(self.at)}"


# --- who a user is outside the platform: HelseID (tenants/persons.py, tenants/helseid_login.py) -------


class PersonBinding(models.Model):
    """The person HelseID logs in as this user: their fødselsnummer as a keyed hash (never in clear:
    HMAC with DHO_PERSON_HASH_KEY) and their HPR number where they have one. Made by the centre admin
    on the user's page (audited); nobody binds themselves."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person_binding", verbose_name=_("bruker")
    )
    pid_digest = models.CharField(_("fødselsnummer (nøkkelhash)"), max_length=64, blank=True, editable=False)
    hpr_number = models.CharField(
        _("HPR-nummer"),
        max_length=9,
        blank=True,
        validators=[RegexValidator(r"^\d{6,9}$", _("HPR-nummeret har 6 til 9 sifre."))],
    )
    bound_at = models.DateTimeField(_("koblet"), default=timezone.now)
    bound_by = models.CharField(_("koblet av"), max_length=150, blank=True)
    last_login_at = models.DateTimeField(_("sist innlogget med HelseID"), null=True, blank=True)

    class Meta:
        verbose_name = _("HelseID-kobling")
        verbose_name_plural = _("HelseID-koblinger")
        constraints = [
            models.UniqueConstraint(fields=["pid_digest"], condition=~Q(pid_digest=""), name="person_binding_pid"),
            models.UniqueConstraint(fields=["hpr_number"], condition=~Q(hpr_number=""), name="person_binding_hpr"),
            models.CheckConstraint(condition=~Q(pid_digest="") | ~Q(hpr_number=""), name="person_binding_someone"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({_('HPR') + ' ' + self.hpr_number if self.hpr_number else _('fødselsnummer')})"


class LoginRefusalReason(models.TextChoices):
    UNKNOWN = "unknown", _("ukjent for plattformen")
    LEVEL = "level", _("for lavt sikkerhetsnivå")
    INACTIVE = "inactive", _("deaktivert bruker")


class LoginRefusal(models.Model):
    """A HelseID login the platform refused: an unknown person (the centre admin binds them, if they
    should have access), a security level below 4, a deactivated user. What HelseID said about the
    person, never the fødselsnummer in clear (its keyed hash, so a later binding can be matched)."""

    at = models.DateTimeField(_("tidspunkt"), default=timezone.now, db_index=True)
    reason = models.CharField(_("grunn"), max_length=20, choices=LoginRefusalReason.choices)
    issuer = models.CharField(_("utsteder"), max_length=200)
    name = models.CharField(_("navn"), max_length=200, blank=True)
    hpr_number = models.CharField(_("HPR-nummer"), max_length=9, blank=True)
    security_level = models.CharField(_("sikkerhetsnivå"), max_length=5, blank=True)
    pid_digest = models.CharField(max_length=64, blank=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("bruker"),
    )

    class Meta:
        ordering = ["-at"]
        verbose_name = _("avvist HelseID-innlogging")
        verbose_name_plural = _("avviste HelseID-innlogginger")

    def __str__(self) -> str:
        return f"{datetime_text(self.at)} {self.name or '–'} ({self.get_reason_display()})"
