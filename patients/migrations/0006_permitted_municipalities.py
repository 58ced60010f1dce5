# The municipalities of the patients a fastlege or specialist reaches by object permission: part of
# that user's database scope (dho/scope.py), read before there is a scope to read the patients with.
# SECURITY DEFINER, so it runs as the tables' owner; it answers only municipality ids for one user.
from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION dho_permitted_municipalities(p_user_id bigint) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT COALESCE(array_agg(DISTINCT p.municipality_id), '{}')
      FROM public.patients_patientuserobjectpermission op
      JOIN public.patients_patient p ON p.id = op.content_object_id
     WHERE op.user_id = p_user_id
$$;
"""

REVERSE = "DROP FUNCTION IF EXISTS dho_permitted_municipalities(bigint);"


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_loan_updated_at")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
