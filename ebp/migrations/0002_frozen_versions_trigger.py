"""The database repeats the model's rule: a version that has left the draft state keeps its content,
and only drafts may be deleted. A bug or a hand-written UPDATE cannot rewrite what a fastlege approved."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION ebp_planversion_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'EBP-versjon % er ikke en kladd og kan ikke slettes', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.content IS DISTINCT FROM OLD.content
                                  OR NEW.plan_id <> OLD.plan_id OR NEW.number <> OLD.number) THEN
        RAISE EXCEPTION 'EBP-versjon % er sendt inn og kan ikke endres', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ebp_planversion_frozen
BEFORE UPDATE OR DELETE ON ebp_planversion
FOR EACH ROW EXECUTE FUNCTION ebp_planversion_frozen();
"""

REVERSE = """
DROP TRIGGER IF EXISTS ebp_planversion_frozen ON ebp_planversion;
DROP FUNCTION IF EXISTS ebp_planversion_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("ebp", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
