"""Review of the submit path (one-call hold, written rate check, journal, one broker)."""

import threading

import pytest
from django.db import connection

from billing import ledger
from billing.models import Hold, MemberUsage, ProjectUsage
from generations import lifecycle
from generations.models import Generation, GenerationEvent
from generations.studio import ratelimit, services
from tests.factories import MembershipFactory
from tests.generations.conftest import form_data, text_request

pytestmark = pytest.mark.usefixtures("media")


def _usage(team):
    return (
        sorted(MemberUsage.objects.filter(team=team).values_list("member_id", "pending", "spent")),
        sorted(ProjectUsage.objects.filter(team=team).values_list("project_uuid", "pending")),
    )


def test_a_second_variant_past_the_project_cap_leaves_nothing_of_the_first(
    member_client, member, project, kinovi, funded, queued, django_capture_on_commit_callbacks
):
    """hold(savepoint=False) inside submit(savepoint=False) inside the rate check's
    transaction: the first variant's hold, row, event and queueing all go with the refusal."""
    [first] = lifecycle.submit(team=funded, member=member, project=project, request=text_request())
    ledger.release(first.hold, "Learning the price")
    project.spend_cap = first.hold.amount * 3 // 2
    project.save(update_fields=["spend_cap"])
    before = (Generation.objects.count(), Hold.objects.count(), _usage(funded))
    problems, balances = ledger.problems(), ledger.balances(funded)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = member_client.post("/generate/", form_data(project, variants="2"))

    assert response.status_code == 200
    assert "cap" in response.content.decode()
    assert (Generation.objects.count(), Hold.objects.count(), _usage(funded)) == before
    assert ledger.balances(funded) == balances
    assert callbacks == [] and queued == []
    assert ledger.problems() == problems


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_racing_submissions_on_one_team_leave_every_job_with_its_one_hold(
    team, member, project, kinovi, funded, queued, settings
):
    """Four members, one capped project, one and two variants at once: no deadlock, no
    hold without its job or job without its hold, and the caps and usage rows exact."""
    settings.GENERATE_RATE_PER_MINUTE = 100
    members = [member] + [MembershipFactory(team=team).user for _ in range(3)]
    [first] = lifecycle.submit(team=team, member=member, project=project, request=text_request())
    price = first.hold.amount
    project.spend_cap = price * 9
    project.save(update_fields=["spend_cap"])
    start = threading.Barrier(8)
    results = [None] * 8

    def submit(i):
        try:
            start.wait()
            data = services_data(project, variants=1 + i % 2)
            results[i] = len(services.submit_generations(team, members[i % 4], data))
        except (ledger.Refused, ratelimit.TooFast) as exc:
            results[i] = exc
        except Exception as exc:  # noqa: BLE001 (the test reports what each thread got)
            results[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert all(isinstance(r, int | ledger.Refused) for r in results), results
    started = 1 + sum(r for r in results if isinstance(r, int))
    assert 1 < started <= 9
    jobs = Generation.objects.filter(team=team)
    assert jobs.count() == started == Hold.objects.filter(team=team).count()
    assert set(jobs.values_list("hold__reference", flat=True)) == {
        f"generation:{g}" for g in jobs.values_list("uuid", flat=True)
    }
    assert GenerationEvent.objects.filter(kind="submitted").count() == started
    assert ledger.project_usage(team, project.uuid) == started * price <= project.spend_cap
    assert ledger.problems() == []


def services_data(project, variants):
    from generations.studio.forms import GenerateForm

    form = GenerateForm(
        form_data(project, variants=str(variants)), team=project.team, user=project.created_by
    )
    assert form.is_valid(), form.errors
    return form.cleaned_data
