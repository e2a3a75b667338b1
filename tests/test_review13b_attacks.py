"""Review 13b: attacks on the submit path after the hold moved before the job row and the
jobs joined the rate check's transaction without a savepoint (gen13). These held up; they
stay as regression checks, on SQLite and on PostgreSQL (nested in the Idempotency-Key's
own transaction there)."""

import pytest

from billing import ledger
from billing.models import Hold, Transfer
from generations.api.models import IdempotentSubmit
from generations.models import Generation, Project
from tests.api.conftest import ApiClient, token_for
from tests.generations.conftest import PROMPT
from tests.generations.factories import VendorAccountFactory

pytestmark = pytest.mark.django_db


def _rows():
    return (
        Hold.objects.count(),
        Generation.objects.count(),
        Transfer.objects.count(),
        Project.objects.count(),
        IdempotentSubmit.objects.count(),
    )


def _second_variant_refused_then_retried(team, owner, operator, monkeypatch):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    client = ApiClient(token_for(team, owner))
    ledger.grant(team, 100_000_000, by=operator, memo="Budget", key="budget")
    probe = client.post("/generations", {"prompt": PROMPT, "new_project": "Probe"})
    assert probe.status_code == 201, probe.json()
    one = Hold.objects.get().amount
    # Room for one and a half holds: the first variant's hold fits, the second's does not.
    left = one + one // 2
    ledger.adjust(
        team, -(ledger.balances(team).available - left), by=operator, reason="trim", key="trim"
    )
    body = {"prompt": PROMPT, "new_project": "Fresh", "variants": 2}
    before = _rows()

    refused = client.post("/generations", body, {"Idempotency-Key": "k"})

    assert refused.status_code == 402, refused.json()
    assert _rows() == before  # no hold, job, transfer, project or key row left behind
    assert ledger.balances(team).available == left
    ledger.grant(team, 100_000_000, by=operator, memo="More", key="more")
    first = client.post("/generations", body, {"Idempotency-Key": "k"})
    again = client.post("/generations", body, {"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Generation.objects.count() == 3 and Hold.objects.count() == 3
    assert ledger.problems() == []


def test_a_second_variant_refused_leaves_nothing_and_the_key_retries(
    team,
    owner,
    operator,
    monkeypatch,
):
    _second_variant_refused_then_retried(team, owner, operator, monkeypatch)


@pytest.mark.postgres
def test_a_second_variant_refused_leaves_nothing_on_postgresql(
    team,
    owner,
    operator,
    monkeypatch,
):
    _second_variant_refused_then_retried(team, owner, operator, monkeypatch)
