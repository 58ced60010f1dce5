"""Reference data the centre's admin keeps: innbyggertall per kommune and year (moved here from
billing, which reads it through tenants.selectors) and the centre's nurse staffing per period.

Population: this migration only takes the model into tenants' state. The table and its rows stay
where they are until billing 0003 renames `billing_population` to `tenants_population` and drops the
model from billing's state: tenants is the lowest layer and never depends on a billing migration
(tests/test_layering.py), so the rename is billing's, and nothing in tenants between this migration
and that one touches the table. A tenants migration cannot depend on billing 0003, so one that alters
this table could run before the rename on an empty database: pair its state change with a billing
migration that makes the database change, as this pair does.

Staffing: a new table. Its periods of one centre never overlap, held by an exclusion constraint
over two ranges (the centre as a one-value int8range, the dates as an inclusive daterange): GiST
indexes ranges without the btree_gist extension, which the embedded PostgreSQL of `make run` does not
ship. The constraint is the database's guard; the service (tenants.reference.staffing_save) checks
first and says which period a new one meets.
"""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

STAFFING_APART = """
ALTER TABLE tenants_staffing ADD CONSTRAINT staffing_periods_apart EXCLUDE USING gist (
    int8range(centre_id, centre_id, '[]') WITH &&,
    daterange(valid_from, valid_to, '[]') WITH &&
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0013_membership_hpr_number"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Population",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),  # fmt: skip
                        ("year", models.PositiveSmallIntegerField(verbose_name="år")),
                        ("inhabitants", models.PositiveIntegerField(verbose_name="innbyggertall 1. januar")),
                        ("updated_at", models.DateTimeField(auto_now=True, verbose_name="sist endret")),
                        (
                            "municipality",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="populations",
                                to="tenants.municipality",
                                verbose_name="kommune",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "innbyggertall",
                        "verbose_name_plural": "innbyggertall",
                        "ordering": ["municipality__name", "-year"],
                        "constraints": [
                            models.UniqueConstraint(fields=("municipality", "year"), name="population_per_year")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.CreateModel(
            name="Staffing",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("valid_from", models.DateField(verbose_name="gjelder fra")),
                (
                    "valid_to",
                    models.DateField(
                        blank=True, help_text="Tom: gjelder inntil videre.", null=True, verbose_name="gjelder til"
                    ),
                ),  # fmt: skip
                (
                    "nurse_fte",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="Årsverk sykepleiere i perioden, for eksempel 4,6.",
                        max_digits=5,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0")),
                            django.core.validators.MaxValueValidator(Decimal("999.99")),
                        ],
                        verbose_name="sykepleierårsverk",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=200, verbose_name="merknad")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="sist endret")),
                (
                    "centre",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="staffing",
                        to="tenants.centre",
                        verbose_name="oppfølgingssenter",
                    ),
                ),
            ],
            options={
                "verbose_name": "bemanning",
                "verbose_name_plural": "bemanning",
                "ordering": ["centre__name", "-valid_from"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("valid_to__isnull", True), ("valid_to__gte", models.F("valid_from")), _connector="OR"
                        ),
                        name="staffing_dates_ordered",
                    ),  # fmt: skip
                    models.CheckConstraint(condition=models.Q(("nurse_fte__gte", 0)), name="staffing_fte_not_negative"),
                ],
            },
        ),
        migrations.RunSQL(STAFFING_APART, "ALTER TABLE tenants_staffing DROP CONSTRAINT staffing_periods_apart"),
    ]
