# The rows a user's database scope is computed from (memberships, agreements) are read-only to the
# app's role: it writes them only through this security-definer function, which logs every write in
# the audit log (who, what, which row) in the same statement — a path no caller can skip. And no
# role but the owner makes a user a superuser (the scope of a superuser is every municipality).
from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION dho_configuration_write(
    p_table text, p_action text, p_id bigint, p_row jsonb, p_actor text
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_columns text;
    v_id bigint := p_id;
BEGIN
    IF p_table NOT IN ('tenants_membership', 'tenants_agreement') THEN
        RAISE EXCEPTION 'dho_configuration_write: % er ikke en konfigurasjonstabell', p_table;
    END IF;
    IF p_action = 'delete' THEN
        EXECUTE format('DELETE FROM public.%I WHERE id = $1', p_table) USING p_id;
    ELSE
        SELECT string_agg(quote_ident(k), ', ') INTO v_columns FROM jsonb_object_keys(p_row) AS k;
        IF p_action = 'insert' THEN
            EXECUTE format('INSERT INTO public.%1$I (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::public.%1$I, $1) RETURNING id',
                           p_table, v_columns) INTO v_id USING p_row;
        ELSIF p_action = 'update' THEN
            EXECUTE format('UPDATE public.%1$I SET (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::public.%1$I, $1)) WHERE id = $2',
                           p_table, v_columns) USING p_row, p_id;
        ELSE
            RAISE EXCEPTION 'dho_configuration_write: ukjent handling %', p_action;
        END IF;
    END IF;
    INSERT INTO public.tenants_auditevent (at, username, role, action, object_type, object_id, request_id,
                                           municipality_id)
    VALUES (now(), left(coalesce(nullif(p_actor, ''), 'ukjent'), 150), '',
            CASE p_action WHEN 'insert' THEN 'create' WHEN 'delete' THEN 'delete' ELSE 'update' END,
            p_table, v_id::text, '', (p_row->>'municipality_id')::bigint);
    RETURN v_id;
END;
$$;

CREATE OR REPLACE FUNCTION auth_user_superuser_by_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_superuser AND (TG_OP = 'INSERT' OR NOT OLD.is_superuser)
       AND NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RAISE EXCEPTION 'Bare databasens eier kan gjøre en bruker til superbruker (manage.py createsuperuser med DHO_DB_AS_OWNER=1).';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS auth_user_superuser_by_owner ON auth_user;
CREATE TRIGGER auth_user_superuser_by_owner BEFORE INSERT OR UPDATE OF is_superuser ON auth_user
    FOR EACH ROW EXECUTE FUNCTION auth_user_superuser_by_owner();
"""

REVERSE = """
DROP TRIGGER IF EXISTS auth_user_superuser_by_owner ON auth_user;
DROP FUNCTION IF EXISTS auth_user_superuser_by_owner();
DROP FUNCTION IF EXISTS dho_configuration_write(text, text, bigint, jsonb, text);
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_row_level_security"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
