# The database repeats the ORM's rule: audit events are never updated or deleted
# (TRUNCATE, used only when a test database is reset, is not affected).
from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION tenants_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Logghendelser kan ikke endres eller slettes (%).', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_auditevent_append_only
    BEFORE UPDATE OR DELETE ON tenants_auditevent
    FOR EACH ROW EXECUTE FUNCTION tenants_auditevent_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS tenants_auditevent_append_only ON tenants_auditevent;
DROP FUNCTION IF EXISTS tenants_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
