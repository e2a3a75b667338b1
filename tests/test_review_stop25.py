"""Adversarial review of 37c47cf..426d14d (adv-final25): the sweep's _Feed (what a pass
takes besides its own list), the inputs form's deduped slots, and the ledger's reads
through rows.select on PostgreSQL. Attacks the earlier reviews (test_review_stop24,
test_review_sweep_refill, test_review_capture_statements, test_review_lazy_inputs,
test_review_search_document) already made are not repeated here."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generations.lifecycle import follow, steps, sweeping
from generations.models import Generation
from tests.generations.factories import GenerationFactory

USD = 1_000_000


# --- The sweep's _Feed ------------------------------------------------------------


def _due(job, seconds_ago=0.0):
    at = timezone.now() - timedelta(seconds=seconds_ago)
    Generation.objects.filter(pk=job.pk).update(next_check_at=at, claimed_at=None)


def _recording(ran, seconds=0.0, also=None):
    """A stand-in for check(): records pk, runs `also(pk)`, sets the next check far off."""

    def check(pk):
        ran.append(pk)
        if also is not None:
            also(pk)
        time.sleep(seconds)
        later = timezone.now() + timedelta(minutes=5)
        Generation.objects.filter(pk=pk).update(next_check_at=later, claimed_at=None)

    return check


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size", "not_stopping")
@pytest.mark.parametrize("why", ["stopping", "out_of_time"])
def test_a_check_found_by_a_look_is_not_started_once_the_pass_must_end(monkeypatch, settings, why):
    """_Feed.next_step returns what its look found without asking on_time() again. The look
    is a query on a busy database (the case _Feed was made for): a SIGTERM that arrives
    while it runs, or a look that ends past SWEEP_PASS_SECONDS, still starts the check
    (and a check that finds the clip finished saves it on this thread: a stopping worker
    then waits for a whole download; the pool's threads are joined at exit).
    "When the worker is stopping, steps not yet started are left for the next sweeper";
    "no step starts after SWEEP_PASS_SECONDS"."""
    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 1.5
    job = GenerationFactory(running=True)
    real = sweeping.due_checks

    def slow_look(*args, **kwargs):
        if kwargs.get("called_back"):
            return real(*args, **kwargs)
        # The look for checks that came due: the job came due, and the query is slow.
        _due(job)
        found = real(*args, **kwargs)
        if why == "stopping":
            steps.stopping.set()  # SIGTERM while the query ran
        else:
            time.sleep(2.0)  # the query ended past the pass's time limit
        return found

    ran = []
    monkeypatch.setattr(sweeping, "due_checks", slow_look)
    monkeypatch.setattr(sweeping, "check", _recording(ran))
    sweeping._run_on_pool([(lambda pk: None, 0)])
    assert ran == [], f"check of {ran} started after the pass had to end ({why})"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size", "not_stopping")
def test_a_check_the_feed_queued_and_a_callback_then_marked_is_asked_once(monkeypatch, settings):
    """came_due() puts a job in `taken`, not in `seen`; called_back() excludes only `seen`.
    A job queued by a look (behind another step) that its vendor calls back about before
    its turn is handed out twice: by called_back() at once, then again from the queue, so
    the vendor is asked twice in a row (the claim does not look at next_check_at). The
    feed's own rule: never a check this pass has queued and not yet finished."""
    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 5.0
    first, second = GenerationFactory(running=True), GenerationFactory(running=True)
    _due(first, seconds_ago=10)  # longest due: taken first
    _due(second, seconds_ago=5)
    ran = []

    def callback_arrives(pk):
        if pk == first.pk:
            follow.request_check(second.pk)  # the vendor calls back about `second`
            time.sleep(0.6)  # past the called-back look's half second

    monkeypatch.setattr(sweeping, "check", _recording(ran, also=callback_arrives))
    sweeping._run_on_pool([(lambda pk: None, 0)])
    assert ran.count(first.pk) == 1
    assert ran.count(second.pk) == 1, ran


@pytest.mark.django_db
def test_the_feed_never_hands_out_a_queued_check_again_as_called_back(monkeypatch):
    """The same defect, on the feed alone."""
    monkeypatch.setattr(sweeping._Feed, "REFILL_SECONDS", 0.0)
    job = GenerationFactory(running=True)
    _due(job)
    feed = sweeping._Feed([], 1)
    assert feed.came_due() == [job.pk]  # queued, not started
    follow.request_check(job.pk)
    feed.looked = float("-inf")
    assert feed.called_back() is None


# --- The inputs form: the same asset twice in a slot -------------------------------


@pytest.fixture
def assets_project(team, owner, settings, tmp_path):
    from tests.generations.factories import ProjectFactory, VendorAccountFactory

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLIP_TEMP_DIR = str(tmp_path)
    for protocol in ("kinovi", "seedance2_ink", "seedanceapi_org", "evolink", "aigptimage"):
        VendorAccountFactory(protocol=protocol, label=f"{protocol} main")
    return ProjectFactory(team=team, name="Trailer", created_by=owner)


@pytest.fixture
def picture(assets_project, member):
    from generations.assets import services
    from tests.assets.media import image_bytes, upload

    return services.add_upload(assets_project, member, upload("still.png", image_bytes()))


@pytest.mark.django_db
def test_the_live_quote_sees_a_reference_sent_twice_as_one_input_as_the_job_does(picture):
    """clean() now takes the same asset sent twice in a slot as one input; chosen_now(),
    what the live quote prices and routes, still counts it as often as it was sent. A
    vendor judges the count (at most 9 reference images, or 4): the quote judges a
    request that is not the one submitted."""
    from django.http import QueryDict

    from generations.assets.forms import InputsForm

    data = QueryDict(mutable=True)
    data["mode"] = "reference"
    data.setlist("reference_images", [str(picture.uuid)] * 10)
    submitted = InputsForm(data, project=picture.project)
    assert submitted.is_valid(), submitted.errors
    quoted = InputsForm(data, project=picture.project).hush()
    assert quoted.chosen_now() == submitted.cleaned_data["chosen"]


@pytest.mark.django_db
def test_the_quote_refuses_what_the_submission_then_accepts(
    picture, member_client, team, operator, monkeypatch
):
    from django.urls import reverse

    from billing import ledger
    from generations.assets.models import GenerationInput
    from generations.models import VendorAccount
    from tests.generations.conftest import form_data

    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    ledger.grant(team, 100 * USD, operator, "Credits", "credits")
    evolink = VendorAccount.objects.get(protocol="evolink")
    data = form_data(
        picture.project,
        mode="reference",
        account=str(evolink.uuid),
        reference_images=[str(picture.uuid)] * 10,
    )
    quote = member_client.post(reverse("generate_quote"), data).content.decode()
    submitted = member_client.post(reverse("generate"), data)
    assert submitted.status_code == 302
    assert GenerationInput.objects.filter(asset=picture).count() == 1
    assert "not 10" not in quote and "expected" in quote, quote[:3000]


# --- Money: captures, releases and new holds of one team racing on PostgreSQL -----


on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_capture_racing_a_release_of_one_hold_moves_its_money_once(team, member, operator):
    """Held: per hold, one of a capture and a release wins under the hold's FOR UPDATE and
    the other is refused in words. Meanwhile new holds of the same member and project
    (the one-call hold: usage rows, then AVAILABLE) and overages drawing on AVAILABLE
    lock the same rows in the same order: no deadlock, no lost update, every dollar
    once."""
    from billing import ledger
    from billing.models import Hold, HoldStatus, Transfer, TransferKind
    from tests.billing.test_ledger import Project
    from tests.threads import race

    project = Project(spend_cap=100 * USD)
    ledger.grant(team, 30 * USD, operator, "Some", "grant")
    contested = [ledger.hold(team, member, project, 2 * USD, "C", f"c-{i}") for i in range(4)]

    def work(i):
        hold = contested[i // 3]
        if i % 3 == 0:
            return ledger.capture(hold, 3 * USD, "ark", "BytePlus")  # an overage of $1
        if i % 3 == 1:
            return ledger.release(hold, "Cancelled")
        return ledger.hold(team, member, project, USD, "New", f"new-{i}")

    results = race(12, work)
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, ledger.LedgerError) for e in errors), errors
    assert len(errors) == 4, results  # per contested hold, the loser of capture/release
    final = {h.pk: Hold.objects.get(pk=h.pk) for h in contested}
    captured = [h for h in final.values() if h.status == HoldStatus.CAPTURED]
    released = [h for h in final.values() if h.status == HoldStatus.RELEASED]
    assert len(captured) + len(released) == 4
    for h in final.values():
        kinds = sorted(Transfer.objects.filter(hold=h).values_list("kind", flat=True))
        if h.status == HoldStatus.CAPTURED:
            assert kinds == ["capture", "hold", "overage"], kinds
        else:
            assert kinds == ["hold", "return"], kinds
    charged = 3 * USD * len(captured)
    balances = ledger.balances(team)
    assert balances.available == 30 * USD - charged - 4 * USD  # the four new holds pend
    assert Transfer.objects.filter(team=team, kind=TransferKind.HOLD).count() == 8
    assert ledger.problems() == []
