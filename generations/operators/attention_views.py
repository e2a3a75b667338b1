"""The Needs attention pages, for operators: every team's jobs that a person must settle.

A job lands in NEEDS_ATTENTION when the vendor may or may not have its task (a create
whose answer was lost) or when a step kept failing and was set aside; its money stays
on hold. The operator checks with the vendor and says what it found: no such task (fail
it, return the hold), the task's id (follow it), or the finished clip's address (save
it and charge). Each settlement and its audit entry are one transaction; a job someone
else settled first is a message, not an error.
"""

import json
from urllib.parse import urlsplit
from uuid import UUID

from django.contrib import messages
from django.db import connection, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from billing import audit, ledger
from billing.models import HoldStatus
from generations import lifecycle, routing
from generations.models import Generation, GenerationsAuditAction, State
from generations.operators.attention_forms import AttachForm, FailForm, FinishedForm
from generations.studio.presenters import credits_text
from generations.vendors import REGISTRY, family_label
from seedance_site.web import operator_required, uuid_path
from seedance_site.written import stored_time

# More than an operator can work through at once; the page says how many there are.
LIST_LIMIT = 100
ATTENTION_EVENT = "needs_attention"


def _job(uuid) -> Generation:
    generation = get_object_or_404(
        Generation.objects.select_related(
            "team", "project", "scene", "vendor_account", "created_by", "hold"
        ),
        uuid=uuid,
    )
    generation.settle_by = generation.expires_at + lifecycle.grace()
    return generation


def known_task_id(generation, events) -> str:
    """The vendor's task id when we have it: on the job, or in the event that set it aside."""
    if generation.vendor_task_id:
        return generation.vendor_task_id
    for event in reversed(events):
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind == ATTENTION_EVENT and data.get("vendor_task_id"):
            return str(data["vendor_task_id"])
    return ""


def vendor_body(generation) -> tuple[str, str]:
    """The JSON body the job's account sends to create it (no key), or why it can't be shown."""
    account = generation.vendor_account
    if account is None:
        return "", "No vendor account was chosen for this job."
    if account.protocol not in REGISTRY:
        return "", f"No adapter speaks {account.protocol} any more."
    try:
        # No key: building a payload never needs one, and none must reach the page.
        with account.adapter_class(
            "", base_url=account.base_url or None, client=routing.shared_client()
        ) as adapter:
            payload = adapter.build_create_payload(
                generation.video_request, lifecycle.callback_url(generation)
            )
    except Exception as exc:  # a stored request this adapter no longer accepts
        return "", f"The adapter cannot build it now: {exc}"
    return json.dumps(payload, indent=2, ensure_ascii=False), ""


def _render_job(request, generation, **forms):
    events = list(generation.events.all())
    known = known_task_id(generation, events)
    forms = {
        "fail_form": FailForm(),
        "attach_form": AttachForm(initial={"task_id": known}),
        "finished_form": FinishedForm(),
    } | forms
    body, body_problem = vendor_body(generation)
    context = {
        "g": generation,
        "events": events,
        "held": _held(generation),
        "known_task_id": known,
        "quoted_credits": credits_text(generation.quote_credits),
        "sent_request": json.dumps(generation.request, indent=2, ensure_ascii=False),
        "vendor_body": body,
        "vendor_body_problem": body_problem,
        **forms,
    }
    return render(request, "generations/attention/job.html", context)


def _held(generation) -> str:
    hold = generation.hold
    return ledger.dollars(hold.amount) if hold and hold.status == HoldStatus.PENDING else ""


def _target(generation) -> str:
    return f"Job {generation.uuid} · {generation.prompt[:80]}"


def _settled_elsewhere(request, generation):
    generation.refresh_from_db(fields=["state"])
    messages.warning(
        request,
        f"Someone settled this job first: it is {generation.get_state_display().lower()} "
        "now. Nothing was changed.",
    )
    return redirect("needs_attention")


# --- Pages -----------------------------------------------------------------------


@operator_required
@require_GET
def needs_attention(request):
    with connection.cursor() as cursor:
        cursor.execute(
            STUCK, [HoldStatus.PENDING, ATTENTION_EVENT, State.NEEDS_ATTENTION, LIST_LIMIT]
        )
        rows = cursor.fetchall()
    shown = [StuckJob(row) for row in rows]
    total = rows[0][-1] if rows else 0
    context = {"jobs": shown, "total": total, "limit": LIST_LIMIT}
    # The count beside the page's own link in the nav is this one.
    context["needs_attention_total"] = total
    return render(request, "generations/attention/list.html", context)


# Every team's stuck jobs, the longest waiting first, and how many there are in all (the
# count is taken before the LIMIT): one statement, written once (the ORM spent longer
# building it than the database took to answer). The rows beside a job are subqueries:
# planned apart, not weighed as joins.
STUCK = """
SELECT g.id, g.uuid, g.prompt, g.family, g.request, g.vendor_task_id, g.error_kind,
       g.error_message,
       (SELECT name FROM billing_team WHERE id = g.team_id),
       (SELECT name FROM generations_project WHERE id = g.project_id),
       g.vendor_account_id,
       (SELECT label FROM generations_vendoraccount WHERE id = g.vendor_account_id),
       (SELECT amount FROM billing_hold WHERE id = g.hold_id AND status = %s),
       COALESCE(
           (SELECT e.created FROM generations_generationevent e
            WHERE e.generation_id = g.id AND e.kind = %s
            ORDER BY e.created DESC, e.id DESC LIMIT 1),
           g.created
       ) AS since,
       COUNT(*) OVER ()
FROM generations_generation g
WHERE g.state = %s
ORDER BY since, g.id
LIMIT %s
"""


class StuckJob:
    """A row of the list: what it shows of a stuck job (a row of STUCK)."""

    def __init__(self, row):
        (self.pk, uuid, self.prompt, family, request, self.vendor_task_id) = row[:6]
        (self.error_kind, self.error_message, self.team_name, self.project_name) = row[6:10]
        self.uuid = uuid if isinstance(uuid, UUID) else UUID(uuid)
        self.family_label = family_label(family)
        self.request = json.loads(request) if isinstance(request, str) else request
        self.vendor_label = row[11] if row[10] is not None else None
        self.held = ledger.dollars(row[12]) if row[12] is not None else ""
        self.attention_since = stored_time(row[13])
        self.href = uuid_path("needs_attention_job", self.uuid)


@operator_required
@require_GET
def needs_attention_job(request, uuid):
    return _render_job(request, _job(uuid))


@operator_required
@require_POST
def settle_failed(request, uuid):
    generation = _job(uuid)
    form = FailForm(request.POST)
    if not form.is_valid():
        return _render_job(request, generation, fail_form=form)
    held = _held(generation)

    def changes():
        found = {"state": [State.NEEDS_ATTENTION, generation.state]}
        if held:
            generation.hold.refresh_from_db(fields=["status"])
            found["hold"] = [HoldStatus.PENDING, generation.hold.status]
        return found

    refused = _settle(
        request,
        generation,
        ("fail_form", form),
        lambda: lifecycle.resolve_failed(generation, request.user),
        GenerationsAuditAction.GENERATION_FAILED_BY_OPERATOR,
        changes,
    )
    if refused:
        return refused
    returned = f"{held} went back to {generation.team.name}" if held else "nothing was on hold"
    messages.success(request, f"The job was marked failed; {returned}.")
    return redirect("needs_attention")


@operator_required
@require_POST
def settle_attach(request, uuid):
    generation = _job(uuid)
    form = AttachForm(request.POST)
    if not form.is_valid():
        return _render_job(request, generation, attach_form=form)
    old_task_id = generation.vendor_task_id
    refused = _settle(
        request,
        generation,
        ("attach_form", form),
        lambda: lifecycle.resolve_attach(generation, form.cleaned_data["task_id"], request.user),
        GenerationsAuditAction.GENERATION_ATTACHED,
        lambda: {
            "state": [State.NEEDS_ATTENTION, generation.state],
            "vendor_task_id": [old_task_id or None, generation.vendor_task_id],
        },
    )
    if refused:
        return refused
    messages.success(
        request,
        f"Following task {generation.vendor_task_id} at {generation.vendor_account.label}: "
        "the job is generating again and settles itself as usual.",
    )
    return redirect("needs_attention")


@operator_required
@require_POST
def settle_finished(request, uuid):
    generation = _job(uuid)
    form = FinishedForm(request.POST)
    if not form.is_valid():
        return _render_job(request, generation, finished_form=form)
    charge = form.cleaned_data["charge"]
    refused = _settle(
        request,
        generation,
        ("finished_form", form),
        lambda: lifecycle.resolve_finished(
            generation, form.cleaned_data["output_url"], charge, request.user
        ),
        GenerationsAuditAction.GENERATION_FINISHED_BY_OPERATOR,
        lambda: {
            "state": [State.NEEDS_ATTENTION, generation.state],
            "output_url": [None, _without_query(generation.output_url)],
            "charge_credits": [
                None,
                f"{charge.normalize():f}" if charge is not None else "account price",
            ],
        },
    )
    if refused:
        return refused
    messages.success(
        request,
        "Saving the clip from the vendor's address: the team is charged once it is stored.",
    )
    return redirect("needs_attention")


def _settle(request, generation, named_form, resolve, action, changes):
    """One settlement and its audit entry in one transaction. None when it was done; else
    the answer to give: the page with the refusal next to its field, or a message that
    someone settled the job first."""
    name, form = named_form
    try:
        with transaction.atomic():
            settled = resolve()
            if settled:
                audit.record(
                    request.user,
                    action,
                    team=generation.team,
                    target=_target(generation),
                    changes=changes(),
                )
    except lifecycle.ResolveRefused as refusal:
        form.refuse(refusal)
        return _render_job(request, generation, **{name: form})
    if not settled:
        return _settled_elsewhere(request, generation)
    return None


def _without_query(url: str) -> str:
    # A vendor's file address is often presigned: its signature has no place in a log.
    return urlsplit(url)._replace(query="", fragment="").geturl()
