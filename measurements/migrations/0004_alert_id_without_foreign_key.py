"""Reading.alert_id and Answer.alert_id are plain uuids (measurements sits below triage and names
nothing of it, CONTRIBUTING "Layers"). 0002 creates them so now; a database that ran 0002 while it
still made them foreign keys to triage_alert keeps the column, its values and its index, and loses
only the constraint here. Elsewhere there is no such constraint and this does nothing."""

from django.db import migrations

DROP_ALERT_FOREIGN_KEYS = """
DO $$
DECLARE c record;
BEGIN
    FOR c IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE contype = 'f'
          AND conrelid IN (to_regclass('measurements_reading'), to_regclass('measurements_answer'))
          AND confrelid = to_regclass('triage_alert')
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("measurements", "0003_reading_type_from_catalogue")]

    operations = [migrations.RunSQL(DROP_ALERT_FOREIGN_KEYS, migrations.RunSQL.noop)]
