"""Vendor callbacks. Most vendors don't sign them, so the URL carries a per-generation
secret and the body is only a hint: the worker re-reads the task from the vendor. A
vendor that signs (Replicate) must have signed it, or it changes nothing."""

import hashlib
import hmac
import logging

from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations import routing, tasks
from generations.lifecycle.callbacks import signed_by_vendor
from generations.models import Generation, State
from generations.vendors import VendorError
from generations.vendors.replicate import SIGNATURE_TOLERANCE_SECONDS
from seedance_site.tokens import hash_token

log = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 256 * 1024


@csrf_exempt
@require_POST
def vendor_callback(request, uuid, token):
    generation = (
        Generation.objects.filter(uuid=uuid)
        .only("pk", "state", "callback_token_hash", "vendor_task_id", "vendor_account")
        .select_related("vendor_account")
        .first()
    )
    presented = hash_token(token)
    # Compared in constant time; an unknown id and a wrong token look the same.
    if generation is None or not hmac.compare_digest(presented, generation.callback_token_hash):
        return HttpResponseNotFound("Not found")
    if len(request.body) > MAX_CALLBACK_BYTES:
        return HttpResponse("Too large", status=413)
    account = generation.vendor_account
    if (
        account is not None
        and account.adapter_class.signs_callbacks
        and not signed_by_vendor(account, request.headers, request.body)
    ):
        # Changes nothing: not even a check of the task, which a forger could time.
        log.warning("callback for generation %s ignored: its signature did not verify", uuid)
        return HttpResponse("Signature did not verify", status=401)
    if account is not None and account.adapter_class.signs_callbacks and _seen(account, request):
        # A delivery heard before (a retry, or a replay within the signature's window):
        # acknowledged, and nothing more.
        return JsonResponse({"ok": True})
    if generation.state == State.RUNNING:
        generation.log("callback", "The vendor called back; checking the task with the vendor.")
        transaction.on_commit(lambda: tasks.enqueue_check(generation.pk))
    elif _outcome_unknown(generation):
        # We never learnt the task id of this job's create, but the vendor calls back on
        # this job's own secret URL naming it: check that task with the vendor.
        task_id = _named_task(generation, request.body)
        if task_id:
            generation.log(
                "callback",
                f"The vendor called back about task {task_id[:100]}; checking whether it is "
                "this job's.",
            )
            transaction.on_commit(lambda: tasks.enqueue_recover(generation.pk, task_id))
    return JsonResponse({"ok": True})


# Longer than the signature's window either side: an older replay fails its timestamp.
SEEN_DELIVERY_SECONDS = 2 * SIGNATURE_TOLERANCE_SECONDS + 60


def _seen(account, request) -> bool:
    """Whether this signed delivery (its webhook-id, per account) was heard before."""
    message_id = request.headers.get("webhook-id") or ""
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return not cache.add(f"webhook-seen:{account.uuid}:{digest}", True, SEEN_DELIVERY_SECONDS)


def _outcome_unknown(generation) -> bool:
    return (
        generation.state == State.NEEDS_ATTENTION
        and not generation.vendor_task_id
        and generation.vendor_account is not None
    )


def _named_task(generation, body: bytes) -> str | None:
    account = generation.vendor_account
    # The shared client: a new one would load the CA bundle just to read this body.
    adapter = account.adapter_class(
        "", base_url=account.base_url or None, client=routing.shared_client()
    )
    try:
        return adapter.parse_callback(body).task_id
    except VendorError:
        return None
