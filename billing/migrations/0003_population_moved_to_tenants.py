"""The innbyggertall moved to tenants (reference data the centre's admin keeps, read by billing through
tenants.selectors): the table is renamed with its rows, its row-level security policy and its grants
(a rename keeps all three), and the model leaves billing's state; tenants 0014 took it into its own.
The unique constraint `population_per_year` keeps its name."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_price_model_simulations_not_stored"),
        ("tenants", "0014_population_and_staffing"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Population")],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE billing_population RENAME TO tenants_population",
                    "ALTER TABLE tenants_population RENAME TO billing_population",
                ),
            ],
        ),
    ]
