"""Spend by day, kept as money moves: the Billing page's chart, breakdowns and the
month's spend read these rows (models.DailySpend), not the transfers behind them."""

import datetime as dt
from functools import cache

from django.db import connection
from django.db.models import Max, Sum
from django.db.models.functions import TruncDate

from billing.models import SPEND_KINDS, DailySpend, Transfer
from seedance_site import rows


def day_of(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


# The day's row for a key, written once per shape (a member and a project may be none,
# and NULL needs IS NULL): this runs in every capture.
KEY = ("team_id", "day", "member_id", "project_uuid", "vendor")


@cache
def _add_to_day(null_member: bool, null_project: bool) -> str:
    match = {"member_id": null_member, "project_uuid": null_project}
    where = " AND ".join(f"{c} IS NULL" if match.get(c) else f"{c} = %s" for c in KEY)
    return (
        "UPDATE billing_dailyspend SET amount = amount + %s, project_name = %s, "  # noqa: S608
        f"vendor_label = %s WHERE {where}"
    )


def record(transfer: Transfer) -> None:
    """Add a capture's or overage's amount to its day's row (in the caller's transaction)."""
    if transfer.kind not in SPEND_KINDS:
        return
    day = DailySpend(
        team_id=transfer.team_id,
        day=day_of(transfer.created),
        member_id=transfer.member_id,
        project_uuid=transfer.project_uuid,
        vendor=transfer.vendor,
        project_name=transfer.project_name,
        vendor_label=transfer.vendor_label,
        amount=transfer.amount,
    )
    key = [
        field.get_db_prep_save(getattr(day, field.attname), connection)
        for field in map(DailySpend._meta.get_field, KEY)
        if getattr(day, field.attname) is not None
    ]
    sql = _add_to_day(day.member_id is None, day.project_uuid is None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [day.amount, day.project_name, day.vendor_label, *key])
        if not cursor.rowcount:
            rows.insert(cursor, day)


def from_transfers(transfers, daily_spend_model=DailySpend) -> list:
    """DailySpend rows (unsaved) that sum `transfers` (of SPEND_KINDS) by day and key: the
    backfill of migration 0009, and a rebuild for spend written around the ledger."""
    rows = (
        transfers.filter(kind__in=SPEND_KINDS)
        .annotate(day=TruncDate("created", tzinfo=dt.UTC))
        .values("team_id", "day", "member_id", "project_uuid", "vendor")
        .annotate(total=Sum("amount"), project=Max("project_name"), label=Max("vendor_label"))
        .order_by()
    )
    return [
        daily_spend_model(
            team_id=r["team_id"],
            day=r["day"],
            member_id=r["member_id"],
            project_uuid=r["project_uuid"],
            vendor=r["vendor"],
            project_name=r["project"],
            vendor_label=r["label"],
            amount=r["total"],
        )
        for r in rows
    ]


def rebuild(team=None) -> int:
    """Set the rows again from the transfers (all teams, or one); the number of rows."""
    DailySpend.objects.filter(**({"team": team} if team else {})).delete()
    transfers = Transfer.objects.filter(**({"team": team} if team else {}))
    return len(DailySpend.objects.bulk_create(from_transfers(transfers), batch_size=2000))
