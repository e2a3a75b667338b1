"""On PostgreSQL, the usual hold is placed by one function call instead of eight
statements (a savepoint, the hold, two usage rows, two balances, the transfer, the
release): billing.ledger.holds calls it, and goes the long way in Python when it
answers that a guard stopped it. SQLite keeps the Python statements.

The function does what holds._place does without `explain`, in the same order and so
with the same locks: the hold row (skipped when its key is taken), the member's usage
row (their role and monthly cap), the project's (its lifetime cap), AVAILABLE (the
balance, and the team's lock), HOLDS, then the transfer. A guard that stops it raises
inside the inner block, which undoes everything the block wrote: the function answers
-1 with nothing written, 0 when the key was taken, else the new hold's id.

Frozen here as migrations are: tests/billing/test_hold_in_one_statement.py compares it
with the Python statements case by case, so the two cannot drift apart unnoticed.
"""

from django.db import migrations

PLACE_HOLD = """
CREATE OR REPLACE FUNCTION billing_place_hold(
    p_hold_uuid uuid, p_team bigint, p_member integer, p_project_uuid uuid,
    p_project_name varchar, p_amount bigint, p_memo varchar, p_reference varchar,
    p_key varchar, p_created timestamptz, p_month date, p_project_cap bigint,
    p_transfer_uuid uuid
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_hold bigint;
    available_id bigint;
    holds_id bigint;
BEGIN
    BEGIN
        INSERT INTO billing_hold (uuid, team_id, member_id, project_uuid, project_name,
            amount, status, captured_amount, shortfall, memo, reference, idempotency_key,
            created, resolved)
        VALUES (p_hold_uuid, p_team, p_member, p_project_uuid, p_project_name, p_amount,
            'pending', NULL, 0, p_memo, p_reference, p_key, p_created, NULL)
        ON CONFLICT (team_id, idempotency_key) DO NOTHING
        RETURNING id INTO new_hold;
        IF new_hold IS NULL THEN
            RETURN 0;
        END IF;
        IF p_member IS NOT NULL THEN
            UPDATE billing_memberusage SET pending = pending + p_amount
            WHERE team_id = p_team AND member_id = p_member AND EXISTS (
                SELECT 1 FROM billing_membership
                WHERE billing_membership.team_id = billing_memberusage.team_id
                  AND billing_membership.user_id = billing_memberusage.member_id
                  AND billing_membership.role <> 'viewer'
                  AND (billing_membership.monthly_cap IS NULL
                       OR billing_membership.monthly_cap >= billing_memberusage.pending
                          + p_amount
                          + CASE WHEN billing_memberusage.month >= p_month
                                 THEN billing_memberusage.spent ELSE 0 END));
            IF NOT FOUND THEN
                RAISE EXCEPTION 'stopped by a guard' USING ERRCODE = 'SH001';
            END IF;
        END IF;
        IF p_project_uuid IS NOT NULL THEN
            UPDATE billing_projectusage SET pending = pending + p_amount
            WHERE team_id = p_team AND project_uuid = p_project_uuid
              AND (p_project_cap IS NULL OR pending + spent + p_amount <= p_project_cap);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'stopped by a guard' USING ERRCODE = 'SH001';
            END IF;
        END IF;
        UPDATE billing_account SET balance = balance - p_amount
        WHERE team_id = p_team AND kind = 'available' AND balance >= p_amount
        RETURNING id INTO available_id;
        IF available_id IS NULL THEN
            RAISE EXCEPTION 'stopped by a guard' USING ERRCODE = 'SH001';
        END IF;
        UPDATE billing_account SET balance = balance + p_amount
        WHERE team_id = p_team AND kind = 'holds'
        RETURNING id INTO holds_id;
        IF holds_id IS NULL THEN
            RAISE EXCEPTION 'stopped by a guard' USING ERRCODE = 'SH001';
        END IF;
        INSERT INTO billing_transfer (uuid, debit_id, credit_id, amount, kind, memo,
            created_by_id, team_id, member_id, project_uuid, project_name, vendor,
            vendor_label, reference, hold_id, idempotency_key, created)
        VALUES (p_transfer_uuid, available_id, holds_id, p_amount, 'hold', p_memo,
            p_member, p_team, p_member, p_project_uuid, p_project_name, '', '',
            p_reference, new_hold, '', p_created);
        RETURN new_hold;
    EXCEPTION WHEN SQLSTATE 'SH001' THEN
        RETURN -1;
    END;
END
$$
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLACE_HOLD)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS billing_place_hold("
            "uuid, bigint, integer, uuid, varchar, bigint, varchar, varchar, varchar, "
            "timestamptz, date, bigint, uuid)"
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0010_project_names")]

    operations = [migrations.RunPython(create_function, drop_function)]
