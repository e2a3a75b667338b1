"""The ledger against a model of itself, over random sequences of operations.

Hypothesis drives grants, adjustments, holds (with and without a capped
project), partial, exact, zero and over-captures, releases, and repeats of
every call, with the same key and with different arguments. After every step
the ledger must reconcile (every transfer balances, balances sum to zero, none
below zero where forbidden, each cached balance equals its transfers, each hold
resolved at most once) and agree with the model's balances.

Each example runs inside a savepoint of the pytest-django test transaction,
rolled back in `teardown`, so examples do not see each other's rows.
"""

from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from billing import ledger
from billing.models import HoldStatus
from tests.factories import MembershipFactory, TeamFactory

USD = 1_000_000
CAPPED_MEMBER_CAP = 6 * USD
PROJECT_CAP = 8 * USD

amounts = st.integers(min_value=1, max_value=12).map(lambda n: n * 250_000) | st.integers(
    1, 3 * USD
)


@dataclass
class Project:
    name: str = "Trailer"
    spend_cap: int | None = PROJECT_CAP
    uuid: UUID = field(default_factory=uuid4)


@dataclass
class ModelHold:
    pk: int
    amount: int
    member: int
    in_project: bool
    status: str = HoldStatus.PENDING


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.team = TeamFactory()
        self.members = [
            MembershipFactory(team=self.team, monthly_cap=CAPPED_MEMBER_CAP).user,
            MembershipFactory(team=self.team, monthly_cap=None).user,
        ]
        self.project = Project()
        # The model: what the balances must be.
        self.available = 0
        self.on_hold = 0
        self.spent = 0
        self.member_usage = {m.pk: 0 for m in self.members}
        self.project_usage = 0
        self.keyed_calls = {}  # (operation, key) -> (arguments, result pk)
        self.model_holds: dict[int, ModelHold] = {}

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # --- Rules ---

    def _repeat(self, operation, key, arguments, call):
        """Call again with a used key: the first result, or KeyReused if arguments differ."""
        first_arguments, first_pk = self.keyed_calls[(operation, key)]
        if arguments != first_arguments:
            with pytest.raises(ledger.KeyReused):
                call()
            return None
        result = call()
        assert result.pk == first_pk
        return result

    @rule(key=st.sampled_from(["g1", "g2", "g3"]), amount=amounts, memo=st.sampled_from(["A", "B"]))
    def grant(self, key, amount, memo):
        def call():
            return ledger.grant(self.team, amount, None, memo, key)

        if ("grant", key) in self.keyed_calls:
            self._repeat("grant", key, (amount, memo), call)
            return
        transfer = call()
        self.keyed_calls[("grant", key)] = ((amount, memo), transfer.pk)
        self.available += amount

    @rule(
        key=st.sampled_from(["a1", "a2"]),
        amount=amounts.flatmap(lambda a: st.sampled_from([a, -a])),
    )
    def adjust(self, key, amount):
        def call():
            return ledger.adjust(self.team, amount, None, "Correction", key)

        if ("adjust", key) in self.keyed_calls:
            self._repeat("adjust", key, amount, call)
            return
        if -amount > self.available:
            with pytest.raises(ledger.Refused):
                call()
            return
        transfer = call()
        self.keyed_calls[("adjust", key)] = (amount, transfer.pk)
        self.available += amount

    @rule(
        target=holds,
        key=st.sampled_from([f"h{n}" for n in range(8)]),
        who=st.sampled_from([0, 1]),
        in_project=st.booleans(),
        amount=amounts,
    )
    def hold(self, key, who, in_project, amount):
        member = self.members[who]
        project = self.project if in_project else None

        def call():
            return ledger.hold(self.team, member, project, amount, "Shot", key)

        if ("hold", key) in self.keyed_calls:
            held = self._repeat("hold", key, (who, in_project, amount), call)
            return multiple(held) if held else multiple()

        refusal = self._expected_refusal(who, in_project, amount)
        if refusal:
            with pytest.raises(ledger.Refused) as refused:
                call()
            assert refused.value.limit == refusal
            return multiple()

        held = call()
        self.keyed_calls[("hold", key)] = ((who, in_project, amount), held.pk)
        self.model_holds[held.pk] = ModelHold(held.pk, amount, member.pk, in_project)
        self.available -= amount
        self.on_hold += amount
        self.member_usage[member.pk] += amount
        self.project_usage += amount if in_project else 0
        return held

    def _expected_refusal(self, who, in_project, amount):
        if amount > self.available:
            return "team"
        if who == 0 and amount > CAPPED_MEMBER_CAP - self.member_usage[self.members[0].pk]:
            return "member"
        if in_project and amount > PROJECT_CAP - self.project_usage:
            return "project"
        return None

    @rule(
        held=holds,
        ratio=st.sampled_from([0, 0.5, 1, 1.5, 4]),
        vendor=st.sampled_from(["ark", "fal"]),
    )
    def capture(self, held, ratio, vendor):
        model = self.model_holds[held.pk]
        actual = int(model.amount * ratio)
        if model.status == HoldStatus.RELEASED:
            with pytest.raises(ledger.LedgerError):
                ledger.capture(held, actual, vendor, vendor.upper())
            return
        captured = ledger.capture(held, actual, vendor, vendor.upper())
        if model.status == HoldStatus.CAPTURED:
            return  # Idempotent: nothing moved.
        from_hold = min(actual, model.amount)
        drawn = min(actual - from_hold, self.available)
        assert captured.captured_amount == from_hold + drawn
        assert captured.shortfall == actual - from_hold - drawn
        model.status = HoldStatus.CAPTURED
        self.on_hold -= model.amount
        self.available += model.amount - from_hold - drawn
        self.spent += from_hold + drawn
        self.member_usage[model.member] += from_hold + drawn - model.amount
        if model.in_project:
            self.project_usage += from_hold + drawn - model.amount

    @rule(held=holds)
    def release(self, held):
        model = self.model_holds[held.pk]
        if model.status == HoldStatus.CAPTURED:
            with pytest.raises(ledger.LedgerError):
                ledger.release(held, "Cancelled")
            return
        assert ledger.release(held, "Cancelled").status == HoldStatus.RELEASED
        if model.status == HoldStatus.RELEASED:
            return
        model.status = HoldStatus.RELEASED
        self.on_hold -= model.amount
        self.available += model.amount
        self.member_usage[model.member] -= model.amount
        if model.in_project:
            self.project_usage -= model.amount

    # --- Invariants ---

    @invariant()
    def the_ledger_reconciles(self):
        assert ledger.problems() == []

    @invariant()
    def the_balances_match_the_model(self):
        assert ledger.balances(self.team) == ledger.Balances(
            self.available, self.on_hold, self.spent
        )
        for member in self.members:
            assert ledger.member_usage_this_month(self.team, member) == self.member_usage[member.pk]
        assert ledger.project_usage(self.team, self.project.uuid) == self.project_usage


@pytest.mark.django_db
def test_the_ledger_stays_consistent_under_any_sequence_of_operations():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
