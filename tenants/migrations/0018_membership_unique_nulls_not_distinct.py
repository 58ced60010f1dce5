# One row per user, role and place. The unique constraint counted the empty one of centre and kommune
# (NULL) as different from every other, so it never held: two submits of the same role at once could
# both store a row, and ending one left the user the role. The constraint now counts NULLs as equal
# (NULLS NOT DISTINCT, PostgreSQL 15).
#
# Rows already doubled are merged first. A membership has no period: two rows of the same user, role,
# centre and kommune are the same role held twice, nothing else. The oldest row (lowest id) is kept;
# it takes the HPR number of a later row when it has none (a fastlege's number given on the second
# row); the later rows are deleted. Both through the owner's audited function
# (tenants.configuration), so the audit log shows each merge as `system:migrering`.
from django.conf import settings
from django.db import migrations, models

MERGE_DUPLICATES = """
DO $$
DECLARE
    grp record;
    v_hpr text;
BEGIN
    FOR grp IN
        SELECT min(id) AS kept, array_agg(id ORDER BY id) AS ids
        FROM public.tenants_membership
        GROUP BY user_id, role, centre_id, municipality_id
        HAVING count(*) > 1
    LOOP
        SELECT hpr_number INTO v_hpr FROM public.tenants_membership
        WHERE id = ANY (grp.ids) AND hpr_number <> '' ORDER BY id LIMIT 1;
        IF v_hpr IS NOT NULL
           AND (SELECT hpr_number FROM public.tenants_membership WHERE id = grp.kept) = '' THEN
            PERFORM dho_configuration_write(
                'tenants_membership', 'update', grp.kept,
                (SELECT jsonb_build_object('hpr_number', v_hpr, 'municipality_id', municipality_id)
                 FROM public.tenants_membership WHERE id = grp.kept),
                'system:migrering');
        END IF;
        PERFORM dho_configuration_write(
            'tenants_membership', 'delete', m.id, jsonb_build_object('municipality_id', m.municipality_id),
            'system:migrering')
        FROM public.tenants_membership m
        WHERE m.id = ANY (grp.ids) AND m.id <> grp.kept;
    END LOOP;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0017_auditevent_municipality_one_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="membership",
            name="membership_unique",
        ),
        migrations.RunSQL(MERGE_DUPLICATES, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.UniqueConstraint(
                fields=("user", "role", "centre", "municipality"), name="membership_unique", nulls_distinct=False
            ),
        ),
    ]
