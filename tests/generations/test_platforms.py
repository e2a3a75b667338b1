"""BytePlus ModelArk, fal and Replicate end to end against the sandbox over real HTTP:
callbacks (Replicate's signed), cancels of queued and running tasks, failures that end
COMPLETED, token charges, and failing over among them."""

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.core.cache import cache

from generations import lifecycle
from generations.lifecycle.callbacks import _secret_cache_key
from generations.models import State, TeamRouting, VendorAccount
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxKey, hash_key
from generations.sandbox.protocols.replicate import webhook_secret_for
from tests.generations.conftest import drive, hold_of, kinds, make_account
from tests.generations.conftest import submit_one as submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("checks_run_inline")]
NEW_VENDORS = ["byteplus_ark", "fal", "replicate"]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def wait_for(generation, state, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.state == state:
            break
        time.sleep(0.1)
    return generation


@pytest.mark.parametrize("protocol", NEW_VENDORS)
def test_a_callback_finishes_the_job_without_any_polling(
    protocol, sandbox, funded, member, project
):
    make_account(protocol, sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation = wait_for(generation, State.SUCCEEDED)
    assert generation.state == State.SUCCEEDED, kinds(generation)
    assert "callback" in kinds(generation)
    assert generation.poll_count == 0
    wait_for_background()


def test_modelark_charges_the_reported_tokens_at_the_accounts_price(
    sandbox, funded, member, project
):
    account = make_account("byteplus_ark", sandbox)
    generation = drive(submit(funded, member, project))
    assert generation.state == State.SUCCEEDED
    assert generation.charge_credits == 108000  # usage.completion_tokens
    expected = 108000 * account.credit_value * 1_000_000  # $5.60 per million tokens
    assert generation.charge_micros == int(expected) == 604800
    wait_for_background()


def test_a_fal_request_that_fails_ends_failed_with_its_words_and_returns_the_hold(
    sandbox, funded, member, project
):
    make_account("fal", sandbox)
    generation = drive(submit(funded, member, project, prompt="x [[fault:fail_after:0.2]]"))
    assert generation.state == State.FAILED
    assert "Video generation failed" in generation.error_message
    assert hold_of(generation).status == "released"
    wait_for_background()


@pytest.mark.parametrize("protocol", ["byteplus_ark", "fal"])
def test_cancelling_a_queued_task_returns_the_hold(
    protocol, sandbox, settings, funded, member, project
):
    settings.SANDBOX_QUEUE_SECONDS = 30
    make_account(protocol, sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    message = lifecycle.cancel(generation, member)
    generation.refresh_from_db()
    assert generation.state == State.CANCELLED
    assert "hold was returned" in message
    assert hold_of(generation).status == "released"
    wait_for_background()  # the sandbox's own threads end before the database is emptied


@pytest.mark.parametrize("protocol", ["byteplus_ark", "fal"])
def test_cancelling_a_running_task_says_it_runs_on_and_is_charged(
    protocol, sandbox, settings, funded, member, project
):
    settings.SANDBOX_QUEUE_SECONDS = 0
    settings.SANDBOX_RUN_SECONDS = 30
    make_account(protocol, sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    message = lifecycle.cancel(generation, member)
    assert "can't cancel a running task" in message
    generation.refresh_from_db()
    assert generation.state == State.CANCELLED
    assert hold_of(generation).status == "captured"
    wait_for_background()


def test_replicate_cancels_a_running_prediction_and_returns_the_hold(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_QUEUE_SECONDS = 0
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("replicate", sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert "hold was returned" in lifecycle.cancel(generation, member)
    assert hold_of(generation).status == "released"
    wait_for_background()


def test_a_full_modelark_queue_rests_the_account_and_the_job_goes_to_fal(
    sandbox, funded, member, project
):
    SandboxKey.objects.create(key_prefix="sk-sandbox-full", faults={"429": 30})
    ark = make_account("byteplus_ark", sandbox, key="sk-sandbox-full-1", priority=1)
    fal = make_account("fal", sandbox, priority=2)
    TeamRouting.set_policy(funded, "priority")
    generation = drive(submit(funded, member, project))
    assert generation.state == State.SUCCEEDED
    assert generation.vendor_account == fal
    ark.refresh_from_db()
    assert ark.cooling_down
    assert "queue is full" in generation.events.get(kind="vendor_refused").message
    wait_for_background()


# --- Replicate's signed webhooks at our endpoint ---------------------------------------------


@pytest.fixture
def running_replicate_job(sandbox, settings, funded, member, project):
    settings.SANDBOX_RUN_SECONDS = 30
    account = make_account("replicate", sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING
    path = lifecycle.callback_url(generation)[len(sandbox) :]
    return account, generation, path


def sign(secret, body, msg_id="msg_1", timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": timestamp,
        "HTTP_WEBHOOK_SIGNATURE": "v1," + base64.b64encode(mac.digest()).decode(),
    }


def post(client, path, body, headers):
    return client.post(path, data=body, content_type="application/json", **headers)


def test_a_validly_signed_webhook_gets_the_job_checked(client, running_replicate_job):
    account, generation, path = running_replicate_job
    body = json.dumps({"id": generation.vendor_task_id, "status": "succeeded"}).encode()
    secret = webhook_secret_for(hash_key("sk-sandbox-test"))
    response = post(client, path, body, sign(secret, body))
    assert response.status_code == 200
    assert "callback" in kinds(generation)
    assert cache.get(_secret_cache_key(account)) == secret  # fetched once, then cached
    generation.refresh_from_db()
    assert generation.state == State.RUNNING  # the re-read found it still running


@pytest.mark.parametrize(
    "forge",
    [
        lambda secret, body: {},  # unsigned
        lambda secret, body: sign("whsec_" + base64.b64encode(b"wrong").decode(), body),
        lambda secret, body: sign(secret, body.replace(b"succeeded", b"failed")),
        lambda secret, body: sign(secret, body, timestamp=int(time.time()) - 600),
    ],
    ids=["unsigned", "wrong-secret", "tampered", "stale"],
)
def test_a_webhook_not_validly_signed_changes_nothing_and_is_logged(
    client, running_replicate_job, caplog, forge
):
    _, generation, path = running_replicate_job
    body = json.dumps({"id": generation.vendor_task_id, "status": "succeeded"}).encode()
    secret = webhook_secret_for(hash_key("sk-sandbox-test"))
    events = list(kinds(generation))
    response = post(client, path, body, forge(secret, body))
    assert response.status_code == 401
    assert kinds(generation) == events
    generation.refresh_from_db()
    assert generation.state == State.RUNNING
    assert "signature did not verify" in caplog.text


def test_a_rotated_secret_is_fetched_again(client, running_replicate_job):
    account, generation, path = running_replicate_job
    cache.set(_secret_cache_key(account), "whsec_" + base64.b64encode(b"old").decode())
    body = json.dumps({"id": generation.vendor_task_id, "status": "processing"}).encode()
    secret = webhook_secret_for(hash_key("sk-sandbox-test"))
    assert post(client, path, body, sign(secret, body)).status_code == 200
    assert cache.get(_secret_cache_key(account)) == secret
    # A forger cannot make us fetch it again at will: once a minute at most.
    cache.set(_secret_cache_key(account), "whsec_" + base64.b64encode(b"old").decode())
    assert post(client, path, body, sign(secret, body)).status_code == 401


def test_prices_are_in_each_vendors_own_unit(sandbox):
    ark = make_account("byteplus_ark", sandbox)
    fal = make_account("fal", sandbox)
    assert ark.adapter_class.credit_unit == "tokens"
    assert fal.adapter_class.credit_unit == "USD"
    assert fal.credit_value == Decimal("1")


def test_the_new_vendors_appear_in_the_gallery_filter_billing_and_health(
    sandbox, funded, member, project, client, operator
):
    for protocol in NEW_VENDORS:
        account = make_account(protocol, sandbox, label=f"{protocol} account")
        TeamRouting.set_policy(funded, "priority")
        account.priority = 0
        account.save()
        prompt = f"A clip by {protocol}"
        generation = drive(submit(funded, member, project, prompt=prompt))
        assert generation.state == State.SUCCEEDED and generation.vendor_account == account
        account.priority = 100
        account.save()
    wait_for_background()
    client.force_login(member)
    for account in VendorAccount.objects.all():
        gallery = client.get(f"/gallery/?account={account.uuid}").content.decode()
        assert f'<option value="{account.uuid}" selected>{account.label}' in gallery
        assert f"A clip by {account.protocol}" in gallery
        statement = client.get("/billing/", {"vendor": str(account.uuid)}, HTTP_HX_REQUEST="true")
        assert f"<td>{account.label}</td>" in statement.content.decode()
    by_vendor = client.get("/billing/").content.decode().split('id="by-vendor-heading"')[1]
    assert all(f"{protocol} account" in by_vendor for protocol in NEW_VENDORS)
    client.force_login(operator)
    vendors_page = client.get("/vendors/").content.decode()
    for label in ("BytePlus ModelArk", "fal", "Replicate"):
        assert label in vendors_page


def test_a_replayed_webhook_changes_nothing(client, running_replicate_job):
    # Standard Webhooks: "the webhook-id … can be used to ensure idempotency"; a delivery
    # captured and sent again within the five minutes is still validly signed.
    _, generation, path = running_replicate_job
    body = json.dumps({"id": generation.vendor_task_id, "status": "succeeded"}).encode()
    secret = webhook_secret_for(hash_key("sk-sandbox-test"))
    headers = sign(secret, body, msg_id="msg_replayed")
    assert post(client, path, body, headers).status_code == 200
    events = list(kinds(generation))
    assert events.count("callback") == 1
    response = post(client, path, body, headers)
    assert response.status_code == 200  # acknowledged, so the vendor stops retrying
    assert kinds(generation) == events
    # Another delivery (its own id) is heard as usual.
    assert post(client, path, body, sign(secret, body, msg_id="msg_next")).status_code == 200
    assert kinds(generation).count("callback") == 2


def test_a_webhook_whose_secret_cannot_be_fetched_changes_nothing(
    client, running_replicate_job, monkeypatch
):
    _, generation, path = running_replicate_job
    body = json.dumps({"id": generation.vendor_task_id, "status": "succeeded"}).encode()
    secret = webhook_secret_for(hash_key("sk-sandbox-test"))

    def down(self):
        from generations.vendors import ErrorKind, VendorError

        raise VendorError(ErrorKind.FAULT, "Replicate had a problem: HTTP 503.")

    from generations.vendors.replicate import ReplicateAdapter

    monkeypatch.setattr(ReplicateAdapter, "webhook_secret", down)
    events = list(kinds(generation))
    assert post(client, path, body, sign(secret, body)).status_code == 401
    assert kinds(generation) == events


# --- review #17: jobs that never end there still end here --------------------------------------


def past_deadline(generation, grace_too=False):
    from datetime import timedelta

    from django.utils import timezone

    from generations.models import Generation

    gone = timedelta(seconds=1) + (lifecycle.grace() if grace_too else timedelta(0))
    Generation.objects.filter(pk=generation.pk).update(
        expires_at=timezone.now() - gone, claimed_at=None, next_check_at=timezone.now()
    )


@pytest.mark.parametrize("protocol", ["fal", "replicate", "byteplus_ark"])
def test_a_task_queued_for_ever_is_cancelled_at_the_deadline_and_the_hold_returned(
    protocol, sandbox, settings, funded, member, project
):
    # fal IN_QUEUE, Replicate "starting", ModelArk queued: for ever.
    settings.SANDBOX_QUEUE_SECONDS = 3600
    make_account(protocol, sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.RUNNING
    past_deadline(generation)
    generation = drive(generation, seconds=10)
    assert generation.state == State.EXPIRED, kinds(generation)
    assert hold_of(generation).status == "released"


def test_a_modelark_queue_full_for_ever_ends_the_job_by_its_deadline_with_the_hold_returned(
    sandbox, funded, member, project
):
    SandboxKey.objects.create(key_prefix="sk-sandbox-full", faults={"429": 1})
    make_account("byteplus_ark", sandbox, key="sk-sandbox-full-1")
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state not in (State.SUCCEEDED, State.RUNNING), generation.state
    past_deadline(generation, grace_too=True)
    generation = drive(generation, seconds=10)
    assert generation.finished, (generation.state, kinds(generation))
    assert generation.state != State.SUCCEEDED
    assert hold_of(generation).status == "released"
