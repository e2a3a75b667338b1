"""The routing policy leaves billing.Team for generations.TeamRouting with its values."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import Team
from generations.models import RoutingPolicy, TeamRouting

BEFORE = [
    ("billing", "0006_audit_actions_registered_by_each_app"),
    ("generations", "0003_one_job_per_vendor_task"),
]
AFTER = [
    ("billing", "0007_routing_policy_moves_to_generations"),
    ("generations", "0004_team_routing"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # what is applied now
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_latest_afterwards(transactional_db):
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_each_teams_policy_is_carried_over_and_back(at_latest_afterwards):
    old = migrate(BEFORE)
    OldTeam = old.get_model("billing", "Team")
    OldTeam.objects.create(name="By price", routing_policy="cheapest")
    OldTeam.objects.create(name="By priority", routing_policy="priority")
    OldTeam.objects.create(name="Never chose")  # the field's default

    new = migrate(AFTER)
    NewRouting = new.get_model("generations", "TeamRouting")
    assert dict(NewRouting.objects.values_list("team__name", "policy")) == {
        "By price": "cheapest",
        "By priority": "priority",
        "Never chose": "cheapest",
    }
    assert "routing_policy" not in {f.name for f in new.get_model("billing", "Team")._meta.fields}

    NewRouting.objects.filter(team__name="By price").update(policy="priority")
    back = migrate(BEFORE)
    assert dict(
        back.get_model("billing", "Team").objects.values_list("name", "routing_policy")
    ) == {
        "By price": "priority",
        "By priority": "priority",
        "Never chose": "cheapest",
    }


def test_a_team_without_a_routing_row_routes_by_price(db):
    team = Team.objects.create(name="New")
    assert TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST
    TeamRouting.set_policy(team, RoutingPolicy.PRIORITY)
    assert TeamRouting.policy_for(team) == RoutingPolicy.PRIORITY
