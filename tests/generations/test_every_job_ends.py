"""Every job ends and every hold settles at the right price, whatever a vendor or a worker
does: one named test per class of fault that once left a job unfinished or mispriced."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError
from django.utils import timezone

from billing.models import Hold, Transfer, TransferKind
from generations import lifecycle, tasks
from generations.media import video
from generations.models import Clip, Generation, State, TeamRouting, VendorAccount
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxKey, SandboxTask
from generations.vendors import ErrorKind, TaskSnapshot, TaskState, VendorError
from generations.vendors.base import VendorAdapter
from tests.generations.conftest import drive, hold_of, kinds, make_account
from tests.generations.conftest import submit_one as submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("checks_run_inline")]

ENDED = (*Generation.FINISHED, State.NEEDS_ATTENTION)


def running(generation, **fields):
    """Send the job and wait for the vendor to take it."""
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING, kinds(generation)
    if fields:
        Generation.objects.filter(pk=generation.pk).update(**fields)
        generation.refresh_from_db()
    return generation


# --- 1. Needs attention is never a dead end ---------------------------------------------


def test_a_job_needing_attention_ends_after_its_grace_and_returns_the_money(
    sandbox, settings, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project, prompt="Unknown [[fault:malformed]]")
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION  # an operator has the grace to decide

    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now() - lifecycle.grace() - timedelta(seconds=1)
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert hold_of(generation).status == "released"
    assert "Nobody could confirm" in generation.error_message
    wait_for_background()


def test_a_job_the_vendor_finished_but_that_could_not_be_saved_ends_charged_after_the_grace(
    sandbox, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    generation = running(generation)
    lifecycle.quarantine(generation, "Set aside after 5 failed attempts to save the clip.")
    Generation.objects.filter(pk=generation.pk).update(
        vendor_done_at=timezone.now(),
        expires_at=timezone.now() - lifecycle.grace() - timedelta(seconds=1),
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert hold_of(generation).status == "captured"
    assert "charged" in kinds(generation)
    wait_for_background()


def test_an_unreadable_key_sends_nothing_and_moves_to_the_next_account(
    sandbox, funded, member, project
):
    broken = make_account("kinovi", sandbox, priority=1)
    VendorAccount.objects.filter(pk=broken.pk).update(api_key_encrypted="not-a-fernet-token")
    working = make_account("seedance2_ink", sandbox, priority=2)
    TeamRouting.set_policy(funded, "priority")
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING and generation.vendor_account == working
    assert not SandboxTask.objects.filter(protocol="kinovi").exists()
    broken.refresh_from_db()
    assert "cannot be read" in broken.last_error and broken.cooling_down
    wait_for_background()


def test_a_database_error_saving_the_vendors_answer_names_the_task_for_the_operator(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    real_log = Generation.log

    def log_fails_on_accept(self, kind, message, **data):
        if kind == "accepted":
            raise DatabaseError("could not extend file")
        return real_log(self, kind, message, **data)

    monkeypatch.setattr(Generation, "log", log_fails_on_accept)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    task = SandboxTask.objects.get(protocol="kinovi")
    assert generation.state == State.NEEDS_ATTENTION
    assert task.task_id in generation.error_message
    assert "worker stopped" not in generation.error_message
    event = generation.events.get(kind="needs_attention")
    assert event.data["vendor_task_id"] == task.task_id
    assert SandboxTask.objects.count() == 1  # never resent
    wait_for_background()


# --- 2. A poisoned step is quarantined, never retried for ever -----------------------------


def test_a_clip_whose_poster_cannot_be_made_is_still_stored_with_a_placeholder(
    sandbox, monkeypatch, funded, member, project
):
    make_account("evolink", sandbox)

    def no_poster(path, at_seconds=1.0):
        raise ValueError("height and width must be > 0")

    monkeypatch.setattr(video, "poster_jpeg", no_poster)
    generation = drive(submit(funded, member, project), until=ENDED)
    assert generation.state == State.SUCCEEDED
    assert "poster_failed" in kinds(generation)
    assert generation.clip.poster.read() == video.placeholder_poster()
    wait_for_background()


def test_a_poster_of_a_clip_two_pixels_high_is_made(tmp_path):
    from tests.generations.factories import render_mp4

    path = render_mp4(tmp_path / "thin.mp4", size=(2600, 2), seconds=0.2)
    assert video.poster_jpeg(path)[:2] == b"\xff\xd8"


def test_a_save_that_keeps_failing_is_set_aside_with_its_last_error(
    sandbox, settings, monkeypatch, funded, member, project
):
    settings.GENERATION_STEP_ATTEMPTS = 3
    make_account("seedance2_ink", sandbox)
    downloads = []

    def broken_store(generation):
        downloads.append(generation.pk)
        raise OSError("No space left on device")

    monkeypatch.setattr(lifecycle.saving, "store_clip", broken_store)
    generation = drive(submit(funded, member, project), until=[State.FINALIZING])
    # drive() stops at FINALIZING while the callback's own save may still hold the row
    # on another thread: sweeps meanwhile rightly skip it. So sweep until the job leaves
    # FINALIZING (bounded), rather than a fixed number of passes that may all be skipped.
    wait_for_background()
    deadline = time.monotonic() + 20
    while generation.state == State.FINALIZING and time.monotonic() < deadline:
        Generation.objects.filter(pk=generation.pk).update(next_check_at=timezone.now())
        lifecycle.sweep()
        generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION
    assert "3 failed attempts to save the finished clip" in generation.error_message
    assert "No space left on device" in generation.error_message
    assert len(downloads) == 3  # not one more
    assert hold_of(generation).status == "pending"
    assert kinds(generation).count("step_failed") == 2
    wait_for_background()


def test_a_failing_step_waits_longer_before_each_retry(settings, monkeypatch, db):
    from tests.generations.factories import GenerationFactory

    generation = GenerationFactory(state=State.RUNNING)
    settings.GENERATION_STEP_RETRY_SECONDS = 5
    waits = []
    for _ in range(3):
        before = timezone.now()
        lifecycle.steps.step_failed(generation.pk, "check", RuntimeError("boom"))
        generation.refresh_from_db()
        waits.append(round((generation.next_check_at - before).total_seconds()))
    assert waits == [5, 10, 20]


def test_a_send_a_stopping_worker_handed_back_needs_attention_at_once(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)

    def stopped(self, request, callback_url=None):
        raise lifecycle.WorkerStopping()

    monkeypatch.setattr(VendorAdapter, "create", stopped)
    with pytest.raises(lifecycle.WorkerStopping):
        lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.SUBMITTING and generation.claimed_at is None
    lifecycle.sweep()  # not one lease later: now
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION  # it may have reached the vendor


def test_a_stopping_worker_hands_its_row_back_at_once(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))

    def stopped(self, task_id):
        raise lifecycle.WorkerStopping()

    monkeypatch.setattr(VendorAdapter, "query", stopped)
    with pytest.raises(lifecycle.WorkerStopping):
        lifecycle.check(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING and generation.claimed_at is None
    wait_for_background()


# --- 3. Only not-found answers in a row mean a task is lost -------------------------------


def test_one_not_found_answer_in_the_middle_of_a_live_task_does_not_fail_it(
    sandbox, settings, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))
    answers = ["running", "running", "running", "404", "running", "404", "running"]

    def scripted(self, task_id):
        answer = answers.pop(0)
        if answer == "404":
            raise VendorError(ErrorKind.NOT_FOUND, "Kinovi has no such task.")
        return TaskSnapshot(task_id=task_id, state=TaskState.RUNNING)

    monkeypatch.setattr(VendorAdapter, "query", scripted)
    while answers:
        Generation.objects.filter(pk=generation.pk).update(next_check_at=timezone.now())
        lifecycle.check(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING
    assert hold_of(generation).status == "pending"
    wait_for_background()


def test_three_not_found_answers_in_a_row_fail_the_job_and_return_the_money(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))

    def gone(self, task_id):
        raise VendorError(ErrorKind.NOT_FOUND, "Kinovi has no such task.")

    monkeypatch.setattr(VendorAdapter, "query", gone)
    for _ in range(3):
        lifecycle.check(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.FAILED
    assert hold_of(generation).status == "released"
    wait_for_background()


# --- 4. What a vendor says is bounded where it enters ------------------------------------


@pytest.mark.parametrize(
    ("charge", "believed"),
    [
        (Decimal("12345678901"), False),
        (Decimal("-40"), False),
        (Decimal("0"), False),
        (Decimal("40"), True),
    ],
)
def test_a_charge_that_cannot_be_right_is_ignored_and_the_accounts_price_is_charged(
    sandbox, monkeypatch, funded, member, project, charge, believed
):
    account = make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))
    real_query = VendorAdapter.query

    def with_charge(self, task_id):
        snapshot = real_query(self, task_id)
        snapshot.charge_credits = charge
        return self.bounded(snapshot)

    monkeypatch.setattr(VendorAdapter, "query", with_charge)
    generation = drive(generation, until=ENDED)
    assert generation.state == State.SUCCEEDED
    price = account.credits_to_micros(account.quote_credits(generation.video_request))
    expected = account.credits_to_micros(charge) if believed else price
    assert generation.charge_micros == expected
    assert hold_of(generation).captured_amount == expected
    assert ("vendor_value_ignored" in kinds(generation)) is not believed
    wait_for_background()


def test_values_past_every_bound_become_events_not_crashes(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))
    real_query = VendorAdapter.query
    long_url = "https://cdn.example.com/clip.mp4?sig=" + "a" * 2500

    def odd(self, task_id):
        snapshot = real_query(self, task_id)
        snapshot.error_code = "E" * 300
        snapshot.progress = "half"
        if snapshot.state == TaskState.SUCCEEDED:
            snapshot.output_urls = ["x" * 9000, long_url, *snapshot.output_urls]
        return self.bounded(snapshot)

    monkeypatch.setattr(VendorAdapter, "query", odd)
    monkeypatch.setattr(lifecycle.saving, "store_clip", lambda g: Clip.objects.none())
    generation = drive(generation, until=[State.FINALIZING, *ENDED])
    generation.refresh_from_db()
    assert generation.output_url == long_url  # a 2.5 kB signed URL is stored whole
    assert any("9000 characters" in e for e in generation.events.values_list("message", flat=True))
    wait_for_background()


# --- 5. The account that ran the job sets the price ----------------------------------------


def test_after_fail_over_the_team_pays_the_price_of_the_vendor_that_took_the_job(
    sandbox, funded, member, project
):
    SandboxKey.objects.create(key_prefix="sk-sandbox-down", faults={"500": True})
    cheap = make_account("kinovi", sandbox, key="sk-sandbox-down-1", priority=1)
    dear = make_account("aigptimage", sandbox, priority=2)  # reports no charge
    dear.credit_value = Decimal("0.05")
    dear.save()
    TeamRouting.set_policy(funded, "priority")
    generation = drive(submit(funded, member, project), until=ENDED)
    assert generation.state == State.SUCCEEDED and generation.vendor_account == dear
    dear_price = dear.credits_to_micros(dear.quote_credits(generation.video_request))
    cheap_price = cheap.credits_to_micros(cheap.quote_credits(generation.video_request))
    assert dear_price != cheap_price == generation.quote_micros
    assert generation.charge_micros == dear_price
    assert hold_of(generation).captured_amount == dear_price
    wait_for_background()


def test_an_account_priced_at_nothing_is_refused_with_a_reason_before_anything_is_held(
    sandbox, funded, member, project
):
    account = make_account("kinovi", sandbox)
    account.credit_value = Decimal("0")
    account.save()
    with pytest.raises(lifecycle.SubmitRefused, match="priced at nothing"):
        submit(funded, member, project)
    assert not Hold.objects.filter(team=funded).exists()


# --- 6. One bad row never stops the sweep ------------------------------------------------


def test_a_row_that_breaks_its_deadline_step_does_not_stop_the_others(
    sandbox, monkeypatch, funded, member, project
):
    make_account("kinovi", sandbox)
    first = submit(funded, member, project, prompt="One")
    second = submit(funded, member, project, prompt="Two")
    Generation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    real = lifecycle.finish_unsuccessfully

    def breaks_on_first(generation, *args, **kwargs):
        if generation.pk == first.pk:
            raise DatabaseError("numeric field overflow")
        return real(generation, *args, **kwargs)

    monkeypatch.setattr(lifecycle.deadlines, "finish_unsuccessfully", breaks_on_first)
    lifecycle.sweep()
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.state == State.EXPIRED
    assert first.state == State.QUEUED and first.step_failures == 1


def test_the_sweeper_queues_its_successor_even_when_a_pass_fails(settings, monkeypatch, db):
    settings.SANDBOX_ENABLED = False
    successors = []
    monkeypatch.setattr(tasks, "enqueue_sweeper", lambda: successors.append(1))

    def broken(dispatch=None):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(lifecycle, "sweep", broken)
    totals = tasks.sweep_generations(run_for=0)
    assert totals["failed_passes"] == 1
    assert successors == [1]


# --- 7. Deadlines, cancels and gateways ----------------------------------------------------


def test_a_running_job_past_its_deadline_is_cancelled_at_a_vendor_that_can(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("seedance2_ink", sandbox)
    generation = running(submit(funded, member, project))
    # Its deadline passes; its next check comes due.
    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now(), next_check_at=timezone.now()
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert "cancelled at" in generation.error_message
    assert hold_of(generation).status == "released"
    task = SandboxTask.objects.get(protocol="seedance2_ink")
    assert task.snapshot().state == "cancelled"
    wait_for_background()


def test_a_running_job_past_its_deadline_at_a_vendor_that_cannot_cancel_is_followed_through_the_grace(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    # Followed at the longest poll interval: "due later" must not depend on how fast this
    # machine gets from the sweep to the assertion (a loaded CI took over 0.3 s).
    settings.GENERATION_POLL_MAX_SECONDS = 30
    make_account("kinovi", sandbox)  # announces no charge when it accepts a task
    generation = running(submit(funded, member, project))
    # Its deadline passes; its next check comes due.
    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now(), next_check_at=timezone.now()
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.RUNNING  # the clip may still come
    assert generation.claimed_at is None and generation.next_check_at > timezone.now()

    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now() - lifecycle.grace()
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert hold_of(generation).status == "released"
    assert "could not be cancelled there" in generation.error_message
    wait_for_background()


def test_a_vendor_that_charged_when_it_accepted_keeps_the_charge_when_the_job_expires(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("evolink", sandbox)  # reserves credits in its create answer
    generation = running(submit(funded, member, project))
    assert generation.charge_credits is not None
    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now() - lifecycle.grace()
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert hold_of(generation).status == "captured"
    assert "charged" in kinds(generation)
    wait_for_background()


def test_a_clip_that_comes_during_the_grace_is_saved_and_charged(
    sandbox, settings, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))
    Generation.objects.filter(pk=generation.pk).update(expires_at=timezone.now())
    generation = drive(generation, until=ENDED)
    assert generation.state == State.SUCCEEDED
    assert hold_of(generation).status == "captured"
    wait_for_background()


def test_a_cancel_that_loses_the_race_to_the_vendor_says_what_really_happened(
    sandbox, settings, monkeypatch, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("kinovi", sandbox)
    generation = running(submit(funded, member, project))
    stale = Generation.objects.get(pk=generation.pk)
    # The vendor finished and the clip is being saved before the member's click lands.
    Generation.objects.filter(pk=generation.pk).update(state=State.FINALIZING)
    with pytest.raises(lifecycle.CannotCancel, match="already finished the clip"):
        lifecycle.cancel(stale, member)
    assert hold_of(generation).status == "pending"
    wait_for_background()


@pytest.mark.parametrize("code", [502, 520, 522, 524])
def test_a_gateway_error_after_the_vendor_stored_the_task_is_never_resent(
    sandbox, funded, member, project, code
):
    make_account("seedanceapi_org", sandbox, priority=1)
    make_account("kinovi", sandbox, priority=2)
    generation = submit(funded, member, project, prompt=f"Gate [[fault:gateway:{code}]]")
    generation = drive(generation, until=ENDED, seconds=10)
    assert generation.state == State.NEEDS_ATTENTION
    assert SandboxTask.objects.count() == 1
    assert Transfer.objects.filter(kind=TransferKind.CAPTURE).count() == 0
    wait_for_background()


@pytest.mark.parametrize("marker", ["[[fault:wrong_types]]", "[[fault:no_output]]"])
def test_a_finished_task_without_a_usable_address_is_asked_again_then_set_aside(
    sandbox, settings, funded, member, project, marker
):
    settings.GENERATION_STEP_RETRY_SECONDS = 0.05
    settings.GENERATION_STEP_ATTEMPTS = 3
    make_account("evolink", sandbox)
    generation = drive(submit(funded, member, project, prompt=f"Types {marker}"), until=ENDED)
    assert generation.state == State.NEEDS_ATTENTION
    assert "gave no address" in generation.error_message
    assert "step_failed" not in kinds(generation)  # a vendor's oddity, not our error
    assert kinds(generation).count("vendor_value_ignored") == 1
    assert generation.vendor_done_at is not None
    assert hold_of(generation).status == "pending"  # an operator attaches the address...

    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now() - lifecycle.grace() - timedelta(seconds=1)
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED  # ...or the vendor, who did the work, keeps the charge
    assert hold_of(generation).status == "captured"
    wait_for_background()


# --- 8. A lost create answer is recovered from the vendor's own callback ---------------------


def test_a_create_whose_answer_was_lost_is_followed_once_the_vendor_calls_back_about_it(
    sandbox, monkeypatch, funded, member, project
):
    monkeypatch.setattr(
        "generations.tasks.enqueue_recover",
        lambda pk, task_id: lifecycle.recover_from_callback(pk, task_id),
    )
    make_account("kinovi", sandbox)
    generation = submit(
        funded, member, project, prompt="Lost answer [[fault:timeout:3]] [[fault:late_callback:2]]"
    )
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION and not generation.vendor_task_id
    generation = drive(generation, until=Generation.FINISHED, seconds=20)
    assert generation.state == State.SUCCEEDED, kinds(generation)
    assert generation.vendor_task_id == SandboxTask.objects.get().task_id
    assert "attached" in kinds(generation)
    assert hold_of(generation).status == "captured"
    wait_for_background()


def test_a_callback_naming_another_jobs_task_attaches_nothing(sandbox, funded, member, project):
    make_account("kinovi", sandbox)
    other = running(submit(funded, member, project, prompt="Other"))
    stuck = submit(funded, member, project, prompt="Stuck")
    Generation.objects.filter(pk=stuck.pk).update(
        state=State.NEEDS_ATTENTION, vendor_account=other.vendor_account
    )
    assert lifecycle.recover_from_callback(stuck.pk, other.vendor_task_id) is False
    assert lifecycle.recover_from_callback(stuck.pk, "task_that_does_not_exist") is False
    stuck.refresh_from_db()
    assert stuck.state == State.NEEDS_ATTENTION and not stuck.vendor_task_id
    assert kinds(stuck).count("callback_ignored") == 2
    wait_for_background()


def test_a_sweep_pass_takes_no_new_step_after_its_time_so_a_sweeper_task_ends(settings, db):
    from generations.lifecycle import sweeping

    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 0.3
    ran = []

    def slow(pk):
        ran.append(pk)
        time.sleep(0.2)

    sweeping._run_on_pool([(slow, pk) for pk in range(10)])
    assert 1 <= len(ran) <= 3  # what is left is due again at the next pass
