"""The Needs attention pages: operators settle jobs whose outcome at the vendor is unknown
or that were set aside, and every settlement moves the money and leaves an audit entry."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.models import AuditEntry, HoldStatus
from generations import lifecycle
from generations.models import Generation, GenerationsAuditAction, State
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory

KEY = "sk-live-Wq8Zr3Tn6Yp1Kd4Mx"
HELD = 1_000_000
LOST_CREATE = "Kinovi main did not answer the create in time."
CLIP_URL = "https://93.184.216.34/out/clip-77.mp4?X-Signature=abc123"


def body(response) -> str:
    return response.content.decode()


@pytest.fixture
def kinovi(db):
    return VendorAccountFactory(protocol="kinovi", label="Kinovi main", api_key=KEY)


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 10_000_000, by=operator, memo="Test budget", key="test-grant")
    return team


def stuck_job(team, member, account, *, event_task_id=None, since=None, **fields):
    """A job in NEEDS_ATTENTION with its hold and the event that put it there."""
    project = ProjectFactory(team=team, name="Harbour lights")
    fields = {
        "error_kind": "unknown_outcome",
        "error_message": LOST_CREATE,
        "submitted_at": timezone.now(),
        "submit_attempts": 1,
    } | fields
    generation = GenerationFactory(
        project=project,
        created_by=member,
        state=State.NEEDS_ATTENTION,
        vendor_account=account,
        **fields,
    )
    generation.hold = ledger.hold(
        team, member, project, HELD, "Job", f"generation:{generation.uuid}"
    )
    generation.save(update_fields=["hold"])
    data = {"vendor_task_id": event_task_id} if event_task_id else {}
    event = generation.log("needs_attention", fields["error_message"], **data)
    if since:
        event.created = since
        event.save(update_fields=["created"])
    return generation


@pytest.fixture
def stuck(funded, member, kinovi):
    return stuck_job(funded, member, kinovi)


def page_url(generation):
    return reverse("needs_attention_job", args=[generation.uuid])


def settle(client, action, generation, data):
    return client.post(reverse(f"settle_{action}", args=[generation.uuid]), data)


def refreshed(generation) -> Generation:
    return Generation.objects.select_related("hold").get(pk=generation.pk)


def settlements():
    """The audit entries of settled jobs (granting the test budget makes one too)."""
    return AuditEntry.objects.filter(
        action__in=[
            GenerationsAuditAction.GENERATION_FAILED_BY_OPERATOR,
            GenerationsAuditAction.GENERATION_ATTACHED,
            GenerationsAuditAction.GENERATION_FINISHED_BY_OPERATOR,
        ]
    )


def event_kinds(generation) -> list[str]:
    return list(generation.events.values_list("kind", flat=True))


# --- Who may come in ---


def attention_urls(generation):
    return [
        ("get", reverse("needs_attention")),
        ("get", page_url(generation)),
        ("post", reverse("settle_failed", args=[generation.uuid])),
        ("post", reverse("settle_attach", args=[generation.uuid])),
        ("post", reverse("settle_finished", args=[generation.uuid])),
    ]


SETTLING_DATA = {"confirm": "on", "task_id": "task-1", "output_url": CLIP_URL}


def test_anonymous_visitors_are_sent_to_log_in(client, stuck):
    for method, url in attention_urls(stuck):
        response = getattr(client, method)(url, SETTLING_DATA)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize(
    "persona", ["owner_client", "member_client", "viewer_client", "outsider_client"]
)
def test_only_operators_reach_the_attention_pages(request, persona, stuck):
    client = request.getfixturevalue(persona)
    for method, url in attention_urls(stuck):
        assert getattr(client, method)(url, SETTLING_DATA).status_code == 403, url

    stuck = refreshed(stuck)
    assert stuck.state == State.NEEDS_ATTENTION
    assert stuck.hold.status == HoldStatus.PENDING
    assert not settlements().exists()


def test_others_get_the_same_403_whether_or_not_the_job_exists(owner_client, stuck):
    missing = reverse("needs_attention_job", args=["00000000-0000-4000-8000-000000000000"])
    assert owner_client.get(missing).status_code == 403
    assert owner_client.get(page_url(stuck)).status_code == 403


def test_an_outsider_never_sees_another_teams_stuck_job(outsider_client, stuck):
    assert outsider_client.get(reverse("job", args=[stuck.uuid])).status_code == 404
    assert stuck.prompt not in body(outsider_client.get(reverse("jobs")))


def test_an_operator_gets_404_for_a_job_that_does_not_exist(operator_client, db):
    missing = reverse("needs_attention_job", args=["00000000-0000-4000-8000-000000000000"])
    assert operator_client.get(missing).status_code == 404


# --- The list and its count ---


def test_the_list_shows_every_teams_stuck_jobs_oldest_first(
    operator_client, operator, funded, member, kinovi, other_team, outsider
):
    now = timezone.now()
    ledger.grant(other_team, 10_000_000, by=operator, memo="Test budget", key="other-grant")
    newer = stuck_job(funded, member, kinovi, since=now - timedelta(minutes=5))
    older = stuck_job(
        other_team,
        outsider,
        kinovi,
        since=now - timedelta(hours=2),
        error_kind="quarantined",
        error_message="Set aside after 5 failed attempts to save the finished clip.",
    )
    GenerationFactory(project=newer.project, running=True)  # not stuck: not listed

    response = operator_client.get(reverse("needs_attention"))
    html = body(response)

    assert [g.pk for g in response.context["jobs"]] == [older.pk, newer.pk]
    assert response.context["total"] == 2
    assert "Northwind Pictures" in html and "Rival Films" in html
    assert "Outcome unknown" in html and "Set aside after failures" in html
    assert LOST_CREATE in html and "Kinovi main" in html
    assert "$1.00" in html
    assert "2\xa0hours ago" in html  # timesince keeps the number with its unit
    assert html.index(f'id="job-{older.uuid}"') < html.index(f'id="job-{newer.uuid}"')


def test_the_list_shows_the_longest_waiting_and_counts_them_all(
    operator_client, funded, member, kinovi, monkeypatch
):
    from generations.operators import attention_views

    monkeypatch.setattr(attention_views, "LIST_LIMIT", 2)
    now = timezone.now()
    waiting = stuck_job(funded, member, kinovi, since=now - timedelta(minutes=30))
    newest = stuck_job(funded, member, kinovi, since=now - timedelta(minutes=1))
    # No account chosen, its hold gone back, no event: it waits since it was made.
    bare = stuck_job(funded, member, None, error_message="")
    bare.events.all().delete()
    ledger.release(bare.hold, "test")
    Generation.objects.filter(pk=bare.pk).update(created=now - timedelta(hours=3))
    response = operator_client.get(reverse("needs_attention"))
    html = body(response)
    assert [g.pk for g in response.context["jobs"]] == [bare.pk, waiting.pk]
    assert f'id="job-{newest.uuid}"' not in html
    assert "3 jobs waiting" in html and "the oldest 2 shown" in html
    row = html.split(f'id="job-{bare.uuid}"')[1].split("</tr>")[0]
    assert '<span class="muted">none chosen</span>' in row
    assert '<td class="num">—</td>' in row and "No message was recorded." in row
    assert "3\xa0hours ago" in row
    assert row.count(f'href="{page_url(bare)}"') == 2


def test_the_list_and_the_count_beside_its_link_read_the_jobs_once(operator_client, stuck):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        html = body(operator_client.get(reverse("needs_attention")))
    assert 'title="1 job waiting">1<' in html and "1 job waiting" in html
    assert sum("generations_generation" in q["sql"] for q in captured.captured_queries) == 1


def test_the_list_says_when_nothing_needs_attention(operator_client, db):
    html = body(operator_client.get(reverse("needs_attention")))
    assert "Nothing needs attention." in html
    assert "0 jobs waiting" in html


def test_operators_see_the_count_beside_the_link_on_every_page(operator_client, stuck):
    for url in (reverse("vendors"), reverse("audit"), reverse("needs_attention")):
        html = body(operator_client.get(url))
        assert f'href="{reverse("needs_attention")}"' in html, url
        assert 'title="1 job waiting">1<' in html, url


def test_others_see_neither_the_link_nor_the_count(owner_client, stuck):
    html = body(owner_client.get(reverse("jobs")))
    assert f'href="{reverse("needs_attention")}"' not in html
    assert "job waiting" not in html


def test_the_list_costs_the_same_queries_for_many_jobs(
    operator_client,
    funded,
    member,
    kinovi,
    django_assert_max_num_queries,
    django_assert_num_queries,
):
    stuck_job(funded, member, kinovi)
    with django_assert_max_num_queries(10) as one_job:
        operator_client.get(reverse("needs_attention"))
    for _ in range(5):
        stuck_job(funded, member, VendorAccountFactory())

    with django_assert_num_queries(len(one_job.captured_queries)):
        response = operator_client.get(reverse("needs_attention"))

    assert len(response.context["jobs"]) == 6


# --- One job's page ---


def test_the_job_page_shows_what_we_sent_and_never_the_key(operator_client, stuck):
    html = body(operator_client.get(page_url(stuck)))

    assert "Northwind Pictures" in html and "Harbour lights" in html
    assert "Kinovi main" in html and LOST_CREATE in html
    assert "The request (normalized)" in html
    assert "&quot;prompt&quot;: &quot;A paper boat drifts" in html
    assert f"/hooks/{stuck.uuid}/" in html  # the callback URL in the vendor's body
    assert KEY not in html and KEY[-8:] not in html
    assert "Fail it and return the money" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "the $1.00 on hold" in html


def test_the_job_page_prefills_the_task_id_from_the_event(operator_client, funded, member, kinovi):
    generation = stuck_job(funded, member, kinovi, event_task_id="kv-task-555")

    response = operator_client.get(page_url(generation))

    assert response.context["attach_form"]["task_id"].value() == "kv-task-555"
    assert 'value="kv-task-555"' in body(response)


def test_the_job_page_prefills_the_task_id_the_job_already_has(
    operator_client, funded, member, kinovi
):
    generation = stuck_job(
        funded, member, kinovi, vendor_task_id="kv-task-9", error_kind="quarantined"
    )
    response = operator_client.get(page_url(generation))
    assert response.context["attach_form"]["task_id"].value() == "kv-task-9"


def test_the_job_page_shows_the_timeline(operator_client, stuck):
    stuck.log("step_failed", "Could not check the job with the vendor; trying again in 5 s.")
    html = body(operator_client.get(page_url(stuck)))
    assert html.index(LOST_CREATE + "</span>") < html.index("trying again in 5 s")


def test_a_settled_job_shows_no_actions(operator_client, stuck):
    settle(operator_client, "failed", stuck, {"confirm": "on"})
    html = body(operator_client.get(page_url(stuck)))
    assert "nothing left to settle" in html
    assert reverse("settle_failed", args=[stuck.uuid]) not in html


# --- Settling ---


def test_failing_a_job_returns_its_hold_and_records_who_did_it(
    operator_client, operator, funded, stuck
):
    response = settle(operator_client, "failed", stuck, {"confirm": "on"})

    assert response.status_code == 302 and response["Location"] == reverse("needs_attention")
    stuck = refreshed(stuck)
    assert stuck.state == State.FAILED
    assert stuck.hold.status == HoldStatus.RELEASED
    assert ledger.balances(funded).on_hold == 0
    assert ledger.balances(funded).available == 10_000_000
    assert event_kinds(stuck)[-2:] == ["failed", "released"]
    entry = settlements().get()
    assert (entry.action, entry.team, entry.actor) == (
        GenerationsAuditAction.GENERATION_FAILED_BY_OPERATOR,
        funded,
        operator,
    )
    assert str(stuck.uuid) in entry.target
    assert entry.changes == {
        "state": ["needs_attention", "failed"],
        "hold": ["pending", "released"],
    }
    page = body(operator_client.get(reverse("needs_attention")))
    assert "The job was marked failed; $1.00 went back to Northwind Pictures." in page


def test_failing_needs_the_operator_to_confirm(operator_client, stuck):
    response = settle(operator_client, "failed", stuck, {})

    assert response.status_code == 200
    assert "Tick this once you have checked" in response.context["fail_form"].errors["confirm"][0]
    assert 'id="id_confirm_error"' in body(response)
    assert refreshed(stuck).state == State.NEEDS_ATTENTION
    assert not settlements().exists()


def test_attaching_the_vendors_task_follows_it_and_keeps_the_hold(
    operator_client, operator, funded, stuck
):
    response = settle(operator_client, "attach", stuck, {"task_id": " kv-task-42 "})

    assert response.status_code == 302
    stuck = refreshed(stuck)
    assert (stuck.state, stuck.vendor_task_id) == (State.RUNNING, "kv-task-42")
    assert stuck.next_check_at is not None and stuck.error_message == ""
    assert stuck.hold.status == HoldStatus.PENDING
    assert ledger.balances(funded).on_hold == HELD
    assert event_kinds(stuck)[-1] == "attached"
    entry = settlements().get()
    assert (entry.action, entry.team, entry.actor) == (
        GenerationsAuditAction.GENERATION_ATTACHED,
        funded,
        operator,
    )
    assert str(stuck.uuid) in entry.target
    assert entry.changes == {
        "state": ["needs_attention", "running"],
        "vendor_task_id": [None, "kv-task-42"],
    }
    page = body(operator_client.get(reverse("needs_attention")))
    assert "Following task kv-task-42 at Kinovi main" in page


def test_the_vendors_finished_clip_is_saved_and_charged_by_the_worker(
    operator_client, operator, funded, stuck
):
    response = settle(
        operator_client, "finished", stuck, {"output_url": CLIP_URL, "charge": "37.5"}
    )

    assert response.status_code == 302
    stuck = refreshed(stuck)
    assert stuck.state == State.FINALIZING
    assert (stuck.output_url, stuck.charge_credits) == (CLIP_URL, Decimal("37.5"))
    assert stuck.vendor_done_at is not None
    # The worker captures once the clip is stored; until then the money stays held.
    assert stuck.hold.status == HoldStatus.PENDING
    assert event_kinds(stuck)[-1] == "result_attached"
    entry = settlements().get()
    assert (entry.action, entry.team, entry.actor) == (
        GenerationsAuditAction.GENERATION_FINISHED_BY_OPERATOR,
        funded,
        operator,
    )
    assert entry.changes == {
        "state": ["needs_attention", "finalizing"],
        "output_url": [None, "https://93.184.216.34/out/clip-77.mp4"],
        "charge_credits": [None, "37.5"],
    }


def test_without_a_charge_the_accounts_price_is_charged(operator_client, stuck):
    settle(operator_client, "finished", stuck, {"output_url": CLIP_URL, "charge": ""})

    stuck = refreshed(stuck)
    assert stuck.state == State.FINALIZING and stuck.charge_credits is None
    assert settlements().get().changes["charge_credits"] == [None, "account price"]


@pytest.mark.parametrize(
    "action, data, field, error",
    [
        ("attach", {"task_id": "kv task 42"}, "task_id", "no spaces"),
        ("attach", {"task_id": ""}, "task_id", "This field is required."),
        ("finished", {"output_url": "ftp://files.example/clip.mp4"}, "output_url", "http(s)"),
        ("finished", {"output_url": "not an address"}, "output_url", "http(s)"),
        ("finished", {"output_url": CLIP_URL, "charge": "-5"}, "charge", "positive"),
        ("finished", {"output_url": CLIP_URL, "charge": "lots"}, "charge", "Enter a number."),
    ],
)
def test_a_refusal_is_shown_next_to_the_field_with_what_was_typed(
    operator_client, stuck, action, data, field, error
):
    response = settle(operator_client, action, stuck, data)

    assert response.status_code == 200
    html = body(response)
    assert error in response.context[f"{action}_form"].errors[field][0]
    assert f'id="id_{field}_error"' in html
    for value in data.values():
        if value:
            assert f'value="{value.replace("&", "&amp;")}"' in html
    stuck = refreshed(stuck)
    assert stuck.state == State.NEEDS_ATTENTION
    assert stuck.hold.status == HoldStatus.PENDING
    assert not settlements().exists()


def test_a_task_id_of_another_job_is_refused(operator_client, stuck, kinovi):
    GenerationFactory(running=True, vendor_account=kinovi, vendor_task_id="kv-task-7")

    response = settle(operator_client, "attach", stuck, {"task_id": "kv-task-7"})

    assert response.status_code == 200
    assert response.context["attach_form"].errors["task_id"] == [
        "Task kv-task-7 already belongs to another job."
    ]
    assert 'value="kv-task-7"' in body(response)
    assert refreshed(stuck).state == State.NEEDS_ATTENTION
    assert not settlements().exists()


def test_a_job_that_never_reached_a_vendor_can_only_be_failed(operator_client, funded, member):
    generation = stuck_job(funded, member, None, submitted_at=None)

    response = settle(operator_client, "attach", generation, {"task_id": "kv-task-1"})

    assert "never reached a vendor account" in response.context["attach_form"].non_field_errors()[0]
    assert "No vendor account was chosen for this job." in body(response)
    assert refreshed(generation).state == State.NEEDS_ATTENTION


@pytest.mark.parametrize(
    "action, data",
    [
        ("failed", {"confirm": "on"}),
        ("attach", {"task_id": "kv-task-42"}),
        ("finished", {"output_url": CLIP_URL}),
    ],
)
def test_a_job_settled_twice_is_settled_once(operator_client, funded, stuck, action, data):
    settle(operator_client, action, stuck, data)
    state = refreshed(stuck).state

    response = settle(operator_client, action, stuck, data)

    assert response.status_code == 302 and response["Location"] == reverse("needs_attention")
    page = body(operator_client.get(response["Location"]))
    assert "Someone settled this job first" in page and "Nothing was changed." in page
    assert refreshed(stuck).state == state
    assert settlements().count() == 1
    assert ledger.balances(funded).available + ledger.balances(funded).on_hold == 10_000_000


def test_a_job_settled_elsewhere_since_the_page_was_opened_is_not_settled_again(
    operator_client, operator, funded, stuck
):
    lifecycle.resolve_failed(stuck, operator)  # another operator, a moment earlier

    response = settle(operator_client, "attach", stuck, {"task_id": "kv-task-42"})

    assert response.status_code == 302
    assert refreshed(stuck).state == State.FAILED
    assert not settlements().exists()


# --- What the team sees ---


def test_the_owner_reads_why_the_money_is_held_and_gets_no_actions(owner_client, stuck):
    html = body(owner_client.get(reverse("job", args=[stuck.uuid])))

    assert "We could not confirm whether the vendor made this clip." in html
    assert "Its $1.00 stays on hold until an operator checks with the vendor" in html
    assert "you will not be charged for a clip you don't get" in html
    assert "/attention/" not in html
    assert reverse("cancel_job", args=[stuck.uuid]) not in html
    assert "Fail it and return the money" not in html


def test_a_job_set_aside_after_failures_is_explained_in_its_own_words(
    owner_client, funded, member, kinovi
):
    generation = stuck_job(
        funded,
        member,
        kinovi,
        error_kind="quarantined",
        error_message="Set aside after 5 failed attempts to check the job with the vendor.",
    )
    html = body(owner_client.get(reverse("jobs")))
    assert "This job kept failing at one step, so we set it aside for an operator." in html
    assert "Its $1.00 stays on hold until they settle it" in html
    assert "the job ends by itself and the hold is returned" in html
    assert generation.prompt[:40] in html


def test_an_operator_in_the_team_gets_a_link_to_settle_it(owner, owner_client, stuck):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    html = body(owner_client.get(reverse("job", args=[stuck.uuid])))
    assert f'href="{page_url(stuck)}"' in html


# --- The Django admin edits no state or money ---


def admin_post_data(response) -> dict:
    """The admin change form as the page fills it in, inlines' management forms too."""
    forms_on_page = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms_on_page += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for field in (field for form in forms_on_page for field in form):
        value = field.value()
        widget = field.field.widget
        if isinstance(widget, forms.MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[f"{field.html_name}_{index}"] = "" if part is None else str(part)
        elif isinstance(field.field, forms.BooleanField):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = value
    return data


def test_the_admin_cannot_change_a_jobs_state_or_money(operator_client, stuck):
    url = reverse("admin:generations_generation_change", args=[stuck.pk])
    page = operator_client.get(url)
    assert "Needs attention" in body(page) and reverse("needs_attention") in body(page)
    data = admin_post_data(page) | {
        "state": State.SUCCEEDED,
        "charge_micros": "1",
        "vendor_task_id": "typed-by-hand",
        "output_url": "https://example.com/x.mp4",
        "hold": "",
        "prompt": "Edited by hand",
    }

    response = operator_client.post(url, data)

    assert response.status_code == 302
    stuck = refreshed(stuck)
    assert stuck.prompt == "Edited by hand"  # the form was accepted...
    assert stuck.state == State.NEEDS_ATTENTION  # ...but not its state or money
    assert (stuck.charge_micros, stuck.vendor_task_id, stuck.output_url) == (None, "", "")
    assert stuck.hold is not None and stuck.hold.status == HoldStatus.PENDING


def test_the_request_json_is_the_one_stored(operator_client, stuck):
    response = operator_client.get(page_url(stuck))
    assert json.loads(response.context["sent_request"]) == stuck.request
