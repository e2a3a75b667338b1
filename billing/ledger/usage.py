"""Running totals for the caps: what each member and each project has pending and spent.

A cap check used to sum the member's and the project's history on every hold
(two aggregate queries that grow with the team's past). Instead every hold,
capture and release updates one MemberUsage and one ProjectUsage row in its own
transaction, and `reconcile_ledger` proves the rows against the holds and transfers.

Each row's lock guards its cap: a hold adds to `pending` with an UPDATE whose WHERE
checks the cap, so of two holds only one fits, the second waits for the first and
is checked again against what it left. The rows are locked before the team's
AVAILABLE account by every operation (see the package docstring for the order).

A row appears with the first hold that needs it (the migration that added these
tables counted the history up to then), so a missing row means nothing pending
and nothing spent.
"""

import datetime as dt

from django.db import connection
from django.db.models import BigIntegerField, Case, F, When

from billing.ledger.errors import LedgerError
from billing.ledger.money import month_start
from billing.models import MemberUsage, ProjectUsage, Role

# Hand-written SQL: the hold path runs these on every hold, and building the same
# statements through the ORM cost more Python time than the database took to run them.
RESERVE_FOR_MEMBER = """
UPDATE billing_memberusage SET pending = pending + %s
WHERE team_id = %s AND member_id = %s AND EXISTS (
    SELECT 1 FROM billing_membership
    WHERE billing_membership.team_id = billing_memberusage.team_id
      AND billing_membership.user_id = billing_memberusage.member_id
      AND billing_membership.role <> %s
      AND (billing_membership.monthly_cap IS NULL
           OR billing_membership.monthly_cap >= billing_memberusage.pending + %s
              + CASE WHEN billing_memberusage.month >= %s
                     THEN billing_memberusage.spent ELSE 0 END))
"""
RESERVE_FOR_PROJECT = (
    "UPDATE billing_projectusage SET pending = pending + %s "
    "WHERE team_id = %s AND project_uuid = %s"
)
WITHIN_PROJECT_CAP = " AND pending + spent + %s <= %s"

# A membership's role and cap with what counts against the cap this month: read on every quote, where the ORM took ~1 ms to build it.
MEMBERSHIP_WITH_USAGE = """
SELECT m.role, m.monthly_cap, COALESCE((
    SELECT u.pending + CASE WHEN u.month >= %s THEN u.spent ELSE 0 END
    FROM billing_memberusage u WHERE u.team_id = m.team_id AND u.member_id = m.user_id
), 0)
FROM billing_membership m WHERE m.team_id = %s AND m.user_id = %s
"""

# A resolved hold leaves pending; what it charged is spent, in the month it was charged
# (a member's row starts a new month's spend when the month has turned).
SETTLE_FOR_MEMBER = """
UPDATE billing_memberusage SET pending = pending - %s,
    spent = CASE WHEN month = %s THEN spent + %s WHEN month < %s THEN %s ELSE spent END,
    month = CASE WHEN month < %s THEN %s ELSE month END
WHERE team_id = %s AND member_id = %s
"""
SETTLE_FOR_PROJECT = (
    "UPDATE billing_projectusage SET pending = pending - %s, spent = spent + %s "
    "WHERE team_id = %s AND project_uuid = %s"
)

_uuid_field = ProjectUsage._meta.get_field("project_uuid")


def membership_with_usage(team_id, user_id, month: dt.date | None = None):
    """(role, monthly_cap, used this month) of a team's member, or None for a non-member."""
    month_value = connection.ops.adapt_datefield_value(month or month_of())
    with connection.cursor() as cursor:
        cursor.execute(MEMBERSHIP_WITH_USAGE, [month_value, team_id, user_id])
        return cursor.fetchone()


def month_of(now: dt.datetime | None = None) -> dt.date:
    """The first day of `now`'s (by default the current) calendar month in UTC."""
    return month_start(now).date()


def reserve(cursor, hold, project_cap, month: dt.date) -> bool:
    """Count a new hold as pending for its member and project, if their caps allow it.

    False when a row is missing, the member may not spend (not a member, or a
    viewer) or a cap would be passed: the caller rolls back and asks `check_limits`
    why. Each UPDATE locks its row to the end of the caller's transaction.
    """
    amount = hold.amount
    if hold.member_id is not None:
        month_value = connection.ops.adapt_datefield_value(month)
        member_args = [amount, hold.team_id, hold.member_id, Role.VIEWER.value, amount, month_value]
        cursor.execute(RESERVE_FOR_MEMBER, member_args)
        if cursor.rowcount != 1:
            return False
    if hold.project_uuid is not None:
        project = _uuid_field.get_db_prep_value(hold.project_uuid, connection)
        sql, args = RESERVE_FOR_PROJECT, [amount, hold.team_id, project]
        if project_cap is not None:
            sql, args = sql + WITHIN_PROJECT_CAP, [*args, amount, project_cap]
        cursor.execute(sql, args)
        if cursor.rowcount != 1:
            return False
    return True


def lock_rows(hold, month: dt.date) -> None:
    """Lock the usage rows a hold will count in, creating them for its first hold."""
    if hold.member_id is not None:
        MemberUsage.objects.select_for_update(no_key=True).get_or_create(
            team_id=hold.team_id, member_id=hold.member_id, defaults={"month": month}
        )
    if hold.project_uuid is not None:
        ProjectUsage.objects.select_for_update(no_key=True).get_or_create(
            team_id=hold.team_id,
            project_uuid=hold.project_uuid,
            defaults={"project_name": hold.project_name},
        )


def settle(hold, charged: int, now: dt.datetime, *, pending=True) -> None:
    """A pending hold is resolved: it leaves pending, and `charged` is spent at `now`.

    In the capture's or release's transaction, before the team is locked. With
    `pending=False` only more spend is counted (a capture's overage, known once
    the team's balance is). A capture that lands after a later month's has begun
    counting (two clocks) counts in its own month, which no cap looks at any more.
    """
    month = connection.ops.adapt_datefield_value(month_of(now))
    held = hold.amount if pending else 0
    with connection.cursor() as cursor:
        if hold.member_id is not None:
            args = [
                held,
                month,
                charged,
                month,
                charged,
                month,
                month,
                hold.team_id,
                hold.member_id,
            ]
            cursor.execute(SETTLE_FOR_MEMBER, args)
            if cursor.rowcount != 1:
                raise LedgerError(
                    f"No usage row for member #{hold.member_id}: run reconcile_ledger."
                )
        if hold.project_uuid is not None:
            project = _uuid_field.get_db_prep_value(hold.project_uuid, connection)
            cursor.execute(SETTLE_FOR_PROJECT, [held, charged, hold.team_id, project])
            if cursor.rowcount != 1:
                raise LedgerError(
                    f"No usage row for project {hold.project_uuid}: run reconcile_ledger."
                )


def _this_month(month: dt.date):
    """A MemberUsage's pending plus what it spent this month, as an expression."""
    spent = Case(When(month__gte=month, then=F("spent")), default=0, output_field=BigIntegerField())
    return F("pending") + spent


def member_usage_this_month(team, user) -> int:
    """What counts against the member's monthly cap: spent this month plus pending holds."""
    row = (
        MemberUsage.objects.filter(team=team, member=user)
        .annotate(total=_this_month(month_of()))
        .values_list("total", flat=True)
        .first()
    )
    return row or 0


def members_usage_this_month(team) -> dict[int, int]:
    """member_usage_this_month for every member with any: {user_id: micro-dollars}."""
    rows = (
        MemberUsage.objects.filter(team=team)
        .annotate(total=_this_month(month_of()))
        .values_list("member_id", "total")
    )
    return {user_id: total for user_id, total in rows if total}


def project_usage(team, project_uuid) -> int:
    """What counts against a project's cap: all it has spent plus its pending holds."""
    row = (
        ProjectUsage.objects.filter(team=team, project_uuid=project_uuid)
        .values_list("pending", "spent")
        .first()
    )
    return sum(row) if row else 0
