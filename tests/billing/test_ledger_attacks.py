"""Attacks on the ledger's new rows (found in review; each failed before its fix): a project
whose holds were all released before the usage rows existed, and spend rows that add up
per day but are credited to the wrong member."""

import datetime as dt
import importlib
from dataclasses import dataclass, field
from uuid import uuid4

import pytest
from django.apps import apps as global_apps

from billing import ledger
from billing.ledger import reconcile
from billing.models import DailySpend, ProjectUsage
from billing.money.forms import StatementFilterForm

USD = 1_000_000


@dataclass
class Project:
    name: str
    uuid: object = field(default_factory=uuid4)
    spend_cap: int | None = None


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 1_000 * USD, by=operator, memo="Budget", key="budget")
    return team


def project_choices(team):
    return dict(StatementFilterForm(team=team).fields["project"].choices)


def test_project_whose_holds_were_all_released_before_0008_is_missing_from_filter(funded, member):
    """0008 made ProjectUsage rows only for projects with pending or spend; 0010 only names
    existing rows; the filter now lists ProjectUsage rows, so a project with only released
    (or zero-captured) history vanishes from the filter although the statement shows it."""
    p = Project("Released only")
    held = ledger.hold(funded, member, p, 2 * USD, "Clip", "k1")
    ledger.release(held, "failed")
    # Replay the migration backfills over this history, as on a pre-0008 database.
    ProjectUsage.objects.all().delete()
    importlib.import_module("billing.migrations.0008_usage_running_totals").count_usage(
        global_apps, None
    )
    importlib.import_module("billing.migrations.0010_project_names").name_projects(
        global_apps, None
    )
    assert not [x for x in reconcile._usage_problems() if "project" in x.lower()]
    assert ledger.statement(funded, project_uuid=p.uuid).count() == 2  # hold + return
    assert str(p.uuid) in project_choices(funded)


def test_reconcile_misses_daily_spend_attributed_to_the_wrong_member(funded, member, owner):
    held = ledger.hold(funded, member, None, 2 * USD, "Clip", "x")
    ledger.capture(held, 2 * USD, "ark", "BytePlus")
    DailySpend.objects.filter(team=funded).update(member=owner)
    assert [p for p in reconcile._usage_problems() if "daily spend" in p]


def test_deleted_member_spend_still_counts_this_month(funded, member):
    held = ledger.hold(funded, member, Project("P"), 2 * USD, "Clip", "y")
    ledger.capture(held, 3 * USD, "ark", "BytePlus")
    before = ledger.balances(funded).spent_this_month
    member.delete()  # a person's account removed: their spend stays the team's
    assert ledger.balances(funded).spent_this_month == before == 3 * USD
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert dict(ledger.spend_by(funded, "member", since)) == {"(former member)": 3 * USD}
    assert not [p for p in reconcile._usage_problems() if "daily spend" in p]
