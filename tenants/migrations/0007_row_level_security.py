# The second wall (tenants/rls.py). The policies themselves are put on by
# tenants.rls.walls_ensure after every migrate, so tables added later get theirs too; here only what
# they call, and the audit log's refusal of TRUNCATE.
from django.db import migrations

SQL = """
-- The municipalities the current transaction may see, as SET LOCAL dho.municipalities = '{1,2}' said;
-- none set (or set empty): an empty list, so no row matches. PARALLEL SAFE, as current_setting is:
-- otherwise every query on a walled table would lose its parallel plan (billing's month, 2x slower).
CREATE OR REPLACE FUNCTION dho_scope() RETURNS bigint[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(NULLIF(current_setting('dho.municipalities', true), ''), '{}')::bigint[]
$$;

-- TRUNCATE skips row triggers: a statement trigger refuses it to every role but the table's owner,
-- who resets a test database (the app's role has no TRUNCATE privilege either).
CREATE OR REPLACE FUNCTION tenants_auditevent_no_truncate() RETURNS trigger AS $$
BEGIN
    IF NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RAISE EXCEPTION 'Logghendelser kan ikke slettes (TRUNCATE).';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_auditevent_no_truncate
    BEFORE TRUNCATE ON tenants_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION tenants_auditevent_no_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS tenants_auditevent_no_truncate ON tenants_auditevent;
DROP FUNCTION IF EXISTS tenants_auditevent_no_truncate();
DROP FUNCTION IF EXISTS dho_scope();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0006_agreement_updated_at")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
