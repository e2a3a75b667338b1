"""Submitting from the API: the Generate page's own form and service, bound from JSON,
and Idempotency-Key handling so a retried submit returns the first answer."""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import ledger
from generations import lifecycle
from generations.api.errors import ApiError, form_error
from generations.api.models import IdempotentSubmit
from generations.studio import presenters, ratelimit, services
from generations.studio.forms import GenerateForm

MAX_KEY_CHARS = 200


def form_data(payload) -> dict:
    """The JSON body as the Generate page would have posted it."""
    return {
        "prompt": payload.prompt,
        "family": payload.model,
        "account": str(payload.vendor or ""),
        "duration": str(payload.duration),
        "aspect_ratio": payload.aspect_ratio,
        "resolution": payload.resolution,
        "audio": "on" if payload.audio else "",
        "project": str(payload.project or ""),
        "new_project": payload.new_project,
        "scene": str(payload.scene or ""),
        "new_scene": payload.new_scene,
        "variants": str(payload.variants),
    }


def bound_form(request, payload) -> GenerateForm:
    return GenerateForm(form_data(payload), team=request.team, user=request.user)


def quote(request, payload):
    return presenters.quote_for(bound_form(request, payload).hush())


def submit(request, payload) -> list:
    """Validate as the page does and submit; ApiError with the reason otherwise."""
    form = bound_form(request, payload)
    if not form.is_valid():
        raise form_error(form)
    try:
        return services.submit_generations(request.team, request.user, form.cleaned_data)
    except ratelimit.TooFast as exc:
        raise ApiError(429, "rate_limited", str(exc)) from None
    except ledger.Refused as exc:
        raise ApiError(402, "insufficient_funds", str(exc)) from None
    except lifecycle.SubmitRefused as exc:
        raise ApiError(422, "no_vendor", str(exc)) from None


def body_hash(payload) -> str:
    canonical = json.dumps(payload.dict(), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(request, key: str, payload, answer) -> tuple[int, object]:
    """(status, body) of `answer()`, or of the first request that used `key`.

    The key's row is written in the transaction that creates the jobs, so a retry that
    races the first waits for it and then replays it; a failed submit keeps no row, so
    its retry tries again. A key is kept IDEMPOTENCY_KEY_HOURS: used again later, it
    names a new submit.
    """
    if len(key) > MAX_KEY_CHARS:
        raise ApiError(422, "invalid", "The Idempotency-Key is longer than 200 characters.")
    if not key.isprintable():
        raise ApiError(422, "invalid", "The Idempotency-Key must be printable characters.")
    digest = body_hash(payload)
    with transaction.atomic():
        expired(IdempotentSubmit.objects.filter(team=request.team, key=key)).delete()
        row, first_use = _key_row(request.team, key, digest)
        if not first_use:
            if row.body_hash != digest:
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request; use a new key.",
                )
            return row.status, row.response
        status, body = answer()
        row.status = status
        row.response = json.loads(json.dumps(body, default=str))
        row.save(update_fields=["status", "response"])
    return status, body


def _key_row(team, key: str, digest: str) -> tuple[IdempotentSubmit, bool]:
    """(row, True): this request is the key's first use, its row written (waiting, if a
    racing request holds the key, for that one to commit or roll back); (row, False): the
    row of the key's first use."""
    try:
        with transaction.atomic():
            return _new_key_row(team, key, digest), True
    except IntegrityError:
        first = IdempotentSubmit.objects.filter(team=team, key=key).first()
        if first is not None:
            return first, False
    # Gone since the INSERT met it: the hourly task forgot it as past its hours (by its
    # own clock). As any key past its hours, it names a new submit.
    return _new_key_row(team, key, digest), True


def _new_key_row(team, key: str, digest: str) -> IdempotentSubmit:
    return IdempotentSubmit.objects.create(
        team=team, key=key, body_hash=digest, status=0, response={}
    )


def expired(keys):
    """The keys of `keys` past IDEMPOTENCY_KEY_HOURS."""
    return keys.filter(created__lt=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS))


def forget_expired_keys(batch: int = 1000) -> int:
    """Delete the keys past IDEMPOTENCY_KEY_HOURS, `batch` at a time; how many went."""
    gone = 0
    while True:
        pks = list(expired(IdempotentSubmit.objects.all()).values_list("pk", flat=True)[:batch])
        if not pks:
            return gone
        gone += IdempotentSubmit.objects.filter(pk__in=pks).delete()[0]
