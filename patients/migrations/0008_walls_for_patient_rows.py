# Two rules the database keeps, whatever the app's role sends:
# - a fastlege's or specialist's object permission on a patient is part of their database scope
#   (dho_permitted_municipalities), so the app's role may not write those rows itself: it asks this
#   security-definer function, which writes only for a patient inside the caller's current scope
#   and logs the write in the audit log;
# - an audit event's time is the database's, and an event about a patient names the patient's
#   municipality (the innsyn i logg of a patient shows exactly the events about them).
from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION dho_patient_permission_write(
    p_table text, p_action text, p_id bigint, p_row jsonb, p_actor text
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_patient uuid;
    v_municipality bigint;
    v_id bigint := p_id;
BEGIN
    IF p_table NOT IN ('patients_patientuserobjectpermission', 'patients_patientgroupobjectpermission') THEN
        RAISE EXCEPTION 'dho_patient_permission_write: % er ikke en tilgangstabell', p_table;
    END IF;
    IF p_action = 'delete' THEN
        EXECUTE format('SELECT content_object_id FROM public.%I WHERE id = $1', p_table) INTO v_patient USING p_id;
    ELSE
        v_patient := (p_row->>'content_object_id')::uuid;
    END IF;
    SELECT municipality_id INTO v_municipality FROM public.patients_patient WHERE id = v_patient;
    IF v_municipality IS NULL OR NOT v_municipality = ANY (dho_scope()) THEN
        RAISE EXCEPTION 'Pasienten finnes ikke i omfanget' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_action = 'delete' THEN
        EXECUTE format('DELETE FROM public.%I WHERE id = $1', p_table) USING p_id;
    ELSIF p_action = 'insert' THEN
        EXECUTE format('INSERT INTO public.%1$I (permission_id, content_object_id, %2$I) '
                       'SELECT permission_id, content_object_id, %2$I FROM jsonb_populate_record(NULL::public.%1$I, $1) RETURNING id',
                       p_table, CASE WHEN p_table LIKE '%%userobject%%' THEN 'user_id' ELSE 'group_id' END)
            INTO v_id USING p_row;
    ELSE
        RAISE EXCEPTION 'dho_patient_permission_write: ukjent handling %', p_action;
    END IF;
    INSERT INTO public.tenants_auditevent (at, username, role, action, object_type, object_id, request_id,
                                           patient_id, municipality_id)
    VALUES (now(), left(coalesce(nullif(p_actor, ''), 'ukjent'), 150), '',
            CASE p_action WHEN 'insert' THEN 'create' ELSE 'delete' END, p_table, v_id::text, '',
            v_patient, v_municipality);
    RETURN v_id;
END;
$$;

-- Every audit insert passes here (thousands a second under ingest), so it is kept to one indexed
-- lookup: no role check and no SET search_path (its save and restore cost more than the lookup);
-- every name is schema-qualified instead, so the owner's rights cannot be steered elsewhere.
-- A dated event (a data import, a test's fixture) is written by a superuser with
-- session_replication_role = replica, under which no trigger fires; the app's role cannot set that.
CREATE OR REPLACE FUNCTION tenants_auditevent_stamp() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER AS $$
DECLARE
    v_municipality bigint;
BEGIN
    NEW.at := pg_catalog.now();
    IF NEW.patient_id IS NOT NULL THEN
        SELECT p.municipality_id INTO v_municipality FROM public.patients_patient p WHERE p.id = NEW.patient_id;
        IF FOUND THEN
            NEW.municipality_id := v_municipality;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS tenants_auditevent_stamp ON tenants_auditevent;
CREATE TRIGGER tenants_auditevent_stamp BEFORE INSERT ON tenants_auditevent
    FOR EACH ROW EXECUTE FUNCTION tenants_auditevent_stamp();
"""

REVERSE = """
DROP TRIGGER IF EXISTS tenants_auditevent_stamp ON tenants_auditevent;
DROP FUNCTION IF EXISTS tenants_auditevent_stamp();
DROP FUNCTION IF EXISTS dho_patient_permission_write(text, text, bigint, jsonb, text);
"""


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_move_notices"), ("tenants", "0008_configuration_written_by_owner")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
