"""The tjenesteprismodell: price models per centre (versioned by month) and the months finance has
locked with the lines they were sent with. The innbyggertall per kommune and year it shares by are
reference data of tenants (`tenants.models.Population`, read through `tenants.selectors.populations_for`).

Amounts are whole øre in BigIntegerFields (never floats): the allocation adds up to the øre, and a
locked month's lines are kept as they were (a later change becomes an adjustment line in the next
open month, billing.selectors). Draft months are not stored: they are computed from the status
history and the loans whenever they are read."""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Centre, Municipality


class BaseKey(models.TextChoices):
    EQUAL = "equal", _("Likt mellom kommunene")
    POPULATION = "population", _("Etter innbyggertall")
    MIXED = "mixed", _("Blandet: en del likt, resten etter innbyggertall")


# The price model's figures, one list: what a version stores, the form edits and the service checks
# (tests/billing/test_price_fields.py holds it to the model's fields).
MONEY_FIELDS = ("base_ore", "follow_up_ore", "licence_ore", "start_fee_ore")  # øre; the form edits kroner
PERCENT_FIELDS = ("base_equal_percent", "paused_percent")  # 0–100
CHOICE_FIELDS = ("note", "base_key", "host_in_base", "own_follow_up_in_base")
EQUIPMENT_FIELD = "equipment_ore"  # {device type: øre per device-month}
PRICE_FIELDS = CHOICE_FIELDS + MONEY_FIELDS + PERCENT_FIELDS + (EQUIPMENT_FIELD,)


class PriceModel(models.Model):
    """One version of a centre's price model, in effect from `valid_from` (the first of a month) until
    the next version; only the centre's admin saves one. What finance simulates on a past month before
    a new samarbeidsavtale is negotiated is an unsaved instance (billing.selectors.draft_price_model),
    never a row. A version that a locked month used never changes (billing.services refuses it); a
    change is a new version from a later month."""

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="price_models")
    valid_from = models.DateField(_("gjelder fra måned"))
    note = models.CharField(_("merknad"), max_length=200, blank=True)
    base_ore = models.BigIntegerField(_("fast andel per måned (øre)"), default=0)
    base_key = models.CharField(_("fordelingsnøkkel"), max_length=10, choices=BaseKey.choices, default="equal")
    # With the mixed key: the part split equally (eKommune Sunnmøre: 30), the rest by population.
    base_equal_percent = models.PositiveSmallIntegerField(
        _("andel likt fordelt (%)"), default=100, validators=[MaxValueValidator(100)]
    )
    host_in_base = models.BooleanField(_("vertskommunen tar del i fast andel"), default=True)
    own_follow_up_in_base = models.BooleanField(_("kommuner med egen oppfølging betaler fast andel"), default=True)
    follow_up_ore = models.BigIntegerField(_("oppfølging per pasientmåned (øre)"), default=0)
    paused_percent = models.PositiveSmallIntegerField(
        _("pausedøgn teller (%) for oppfølging"), default=0, validators=[MaxValueValidator(100)]
    )
    licence_ore = models.BigIntegerField(_("lisens per pasientmåned (øre)"), default=0)
    equipment_ore = models.JSONField(_("utstyr per enhetsmåned og type (øre)"), default=dict, blank=True)
    start_fee_ore = models.BigIntegerField(_("oppstartsgebyr (øre)"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["centre", "-valid_from"]
        verbose_name = _("prismodell")
        verbose_name_plural = _("prismodeller")
        constraints = [
            models.UniqueConstraint(fields=["centre", "valid_from"], name="price_model_one_per_month"),
            models.CheckConstraint(condition=Q(valid_from__day=1), name="price_model_from_first_of_month"),
        ]

    def __str__(self) -> str:
        return f"Prismodell {self.centre} (fra {self.valid_from:%m.%Y})"


class LockedMonth(models.Model):
    """A month finance has locked (sent for invoicing): its lines never change again."""

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="locked_months")
    month = models.DateField(_("måned"))  # the first day
    price_model = models.ForeignKey(PriceModel, on_delete=models.PROTECT, related_name="locked_months")
    total_ore = models.BigIntegerField(_("sum (øre)"))
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(_("låst"), default=timezone.now)

    class Meta:
        ordering = ["centre", "-month"]
        verbose_name = _("låst måned")
        verbose_name_plural = _("låste måneder")
        constraints = [models.UniqueConstraint(fields=["centre", "month"], name="locked_month_once")]

    def __str__(self) -> str:
        return f"{self.centre} {self.month:%Y-%m} (låst)"


class Component(models.TextChoices):
    BASE = "base", _("Fast andel")
    FOLLOW_UP = "follow_up", _("Oppfølging")
    LICENCE = "licence", _("Lisens")
    EQUIPMENT = "equipment", _("Utstyr")
    START_FEE = "start_fee", _("Oppstart")
    ADJUSTMENT = "adjustment", _("Korrigering")


class LockedLine(models.Model):
    """One line of a locked month, as it was sent. `municipality` is the kommune that pays it (counts,
    never patients). An adjustment line names the locked month it corrects and that line's component."""

    locked_month = models.ForeignKey(LockedMonth, on_delete=models.PROTECT, related_name="lines")
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    component = models.CharField(max_length=12, choices=Component.choices)
    item = models.CharField(max_length=20, blank=True)  # the device type of an equipment line
    corrects = models.CharField(max_length=12, blank=True)  # an adjustment's component
    reference_month = models.DateField(null=True, blank=True)  # an adjustment's locked month
    quantity = models.DecimalField(max_digits=16, decimal_places=3)
    unit = models.CharField(max_length=40)
    rate_ore = models.BigIntegerField()
    divisor = models.PositiveSmallIntegerField(default=1)
    amount_ore = models.BigIntegerField()
    explanation = models.TextField(blank=True)

    class Meta:
        ordering = ["locked_month", "position"]
        verbose_name = _("linje i låst måned")
        verbose_name_plural = _("linjer i låste måneder")

    def __str__(self) -> str:
        return f"{self.get_component_display()} {self.amount_ore} øre"
