"""Spend by day, kept as money moves: the Billing page's chart, breakdowns and the
month's spend read these rows (models.DailySpend), not the transfers behind them."""

import datetime as dt

from django.db.models import F, Max, Sum
from django.db.models.functions import TruncDate

from billing.models import SPEND_KINDS, DailySpend, Transfer


def day_of(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def record(transfer: Transfer) -> None:
    """Add a capture's or overage's amount to its day's row (in the caller's transaction)."""
    if transfer.kind not in SPEND_KINDS:
        return
    key = {
        "team_id": transfer.team_id,
        "day": day_of(transfer.created),
        "member_id": transfer.member_id,
        "project_uuid": transfer.project_uuid,
        "vendor": transfer.vendor,
    }
    names = {"project_name": transfer.project_name, "vendor_label": transfer.vendor_label}
    added = DailySpend.objects.filter(**key).update(amount=F("amount") + transfer.amount, **names)
    if not added:
        DailySpend.objects.create(**key, **names, amount=transfer.amount)


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
