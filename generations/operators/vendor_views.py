"""The Vendors pages, for operators: vendor accounts, their keys, prices and health.

Each view checks that the user is an operator, validates a form and saves it with
its audit entry, or renders; htmx requests get the named partial of the same
template. A key is never shown, logged or sent back: only its last four characters.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery, UUIDField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from billing import audit
from generations.models import Generation, GenerationEvent, GenerationsAuditAction, VendorAccount
from generations.operators.vendor_forms import VendorAccountForm
from generations.vendors import REGISTRY, ErrorKind, VendorError, make_client
from seedance_site.web import operator_required, uuid_path
from seedance_site.written import stored_time

logger = logging.getLogger(__name__)

ERROR_EVENTS = GenerationEvent.ERROR_KINDS
# A refused create is logged on the job, which then moves on to the next account, so
# the event names the account it is about: by its id (data["account_uuid"], undashed hex,
# so that SQLite's uuid column and PostgreSQL's both compare with it), and by its label
# for display (data["vendor"]). Events written before the id was recorded match by label.
REFUSAL_EVENT = "vendor_refused"
HEALTH_WINDOW = timedelta(hours=24)
# An operator is waiting on the page: a short answer, not a worker's patience.
KEY_CHECK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def _count(events):
    # COUNT with no GROUP BY: one row, 0 when nothing matches (and less for the ORM to build
    # than values().annotate(Count()) and a Coalesce, on a page that asks this per account).
    rows = events.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Subquery(rows, output_field=IntegerField())


def with_health(accounts, since=None):
    """Accounts with their jobs at the vendor and their errors of the last 24 hours
    (since `since`, if given).

    One query whatever the number of accounts; `note_health` then picks the newest
    error of the events and the account's own last error.
    """
    since = since or timezone.now() - HEALTH_WINDOW
    # Within the window too: the newest error of all time could lie behind every other
    # account's errors of a long history. Older trouble shows as the account's last_error
    # (Generation.log keeps it for job errors, note_error for refusals).
    linked = GenerationEvent.objects.filter(
        generation__vendor_account=OuterRef("pk"), kind__in=ERROR_EVENTS, created__gte=since
    )
    refused = (
        GenerationEvent.objects.filter(kind=REFUSAL_EVENT, created__gte=since)
        .annotate(about=Cast(KT("data__account_uuid"), UUIDField()), about_label=KT("data__vendor"))
        .filter(Q(about=OuterRef("uuid")) | Q(about__isnull=True, about_label=OuterRef("label")))
    )
    at_vendor = Generation.objects.filter(
        vendor_account=OuterRef("pk"), state__in=Generation.AT_VENDOR
    )
    newest = linked.order_by("-created", "-pk")
    return accounts.annotate(
        in_flight_count=_count(at_vendor),
        linked_errors=_count(linked),
        refusals=_count(refused),
        event_error=Subquery(newest.values("message")[:1]),
        event_error_at=Subquery(newest.values("created")[:1]),
    )


def note_health(account) -> VendorAccount:
    adapter_class = REGISTRY.get(account.protocol)
    account.vendor_label = adapter_class.label if adapter_class else account.protocol
    account.errors_24h = account.linked_errors + account.refusals
    # Refusals are noted on the account itself; failed checks and jobs in the events.
    problems = [
        (at, message)
        for at, message in [
            (account.event_error_at, account.event_error),
            (account.last_error_at, account.last_error),
        ]
        if at
    ]
    account.last_problem_at, account.last_problem = max(problems, default=(None, ""))
    # Its row's addresses, each worked out once.
    account.edit_url = uuid_path("vendor_edit", account.uuid)
    account.test_url = uuid_path("vendor_test", account.uuid)
    account.toggle_url = uuid_path("vendor_toggle", account.uuid)
    return account


# The list's query, compiled once per database (building it took the ORM longer than
# the database took to answer): with_health() of every account, written with a moment
# no request asks about in place of the window's start, which each request then swaps
# for its own. The database gets the very SQL and parameters the ORM would send.
_PLACEHOLDER = dt.datetime(2001, 2, 3, 4, 5, 6, 78901, tzinfo=dt.UTC)
_compiled = {}


def _with_health_sql(alias) -> tuple[str, tuple]:
    if alias not in _compiled:
        query = with_health(VendorAccount.objects.all(), since=_PLACEHOLDER).query
        _compiled[alias] = query.get_compiler(alias).as_sql()
    return _compiled[alias]


def accounts_with_health() -> list[VendorAccount]:
    """Every account, as `[note_health(a) for a in with_health(VendorAccount.objects.all())]`."""
    sql, params = _with_health_sql(DEFAULT_DB_ALIAS)
    ops = connections[DEFAULT_DB_ALIAS].ops
    placeholder = ops.adapt_datetimefield_value(_PLACEHOLDER)
    since = ops.adapt_datetimefield_value(timezone.now() - HEALTH_WINDOW)
    params = [since if value == placeholder else value for value in params]
    accounts = list(VendorAccount.objects.raw(sql, params))
    for account in accounts:
        # raw() converts the model's own columns only; SQLite gives this one as text.
        account.event_error_at = stored_time(account.event_error_at)
    return [note_health(account) for account in accounts]


def _account(uuid) -> VendorAccount:
    return note_health(get_object_or_404(with_health(VendorAccount.objects.all()), uuid=uuid))


@dataclass
class KeyCheck:
    works: bool
    message: str


def check_key(account: VendorAccount) -> KeyCheck:
    """Ask the vendor, with the stored key, about a task that cannot exist."""
    try:
        with (
            make_client(timeout=KEY_CHECK_TIMEOUT) as client,
            account.adapter(client=client) as adapter,
        ):
            return KeyCheck(True, adapter.test_connection())
    except VendorError as exc:
        return KeyCheck(False, _refusal(account, exc))
    except ImproperlyConfigured as exc:  # the key can't be decrypted any more
        return KeyCheck(False, str(exc))
    except ValueError as exc:  # a protocol no adapter speaks
        return KeyCheck(False, str(exc))


def _refusal(account, exc: VendorError) -> str:
    status = f" ({exc.status_code})" if exc.status_code else ""
    if exc.kind == ErrorKind.AUTH:
        return f"The vendor refused this key{status}. Save the right key and test again."
    if exc.kind == ErrorKind.RATE_LIMITED:
        return f"The vendor is limiting requests, so the key was not checked: {exc.message}"
    if exc.status_code is None:
        detail = exc.message.removeprefix(f"{account.adapter_class.label} had a problem: ")
        return f"Could not reach the vendor: {detail}"
    return f"The vendor answered with an error{status}: {exc.message}"


# --- Pages -----------------------------------------------------------------------


@operator_required
@require_GET
def vendors(request):
    accounts = accounts_with_health()
    return render(request, "generations/vendors/list.html", {"accounts": accounts})


@sensitive_post_parameters("api_key")
@operator_required
@require_http_methods(["GET", "POST"])
def add_vendor(request):
    form = VendorAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            account = form.save()
            form.record(request.user)
        messages.success(
            request,
            f"{account.label} was added with the key ending in {account.api_key_last4}. "
            "Test the connection to check it.",
        )
        return redirect("vendors")
    return render(request, "generations/vendors/form.html", {"form": form})


@sensitive_post_parameters("api_key")
@operator_required
@require_http_methods(["GET", "POST"])
def edit_vendor(request, uuid):
    account = _account(uuid)
    # The form gets its own copy: an invalid one is left holding what was typed.
    form = VendorAccountForm(
        request.POST or None, instance=VendorAccount.objects.get(pk=account.pk)
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            entry = form.record(request.user)
        messages.success(request, f"{saved.label} was saved." if entry else "Nothing was changed.")
        return redirect("vendors")
    return render(request, "generations/vendors/form.html", {"form": form, "account": account})


@operator_required
@require_POST
def toggle_vendor(request, uuid):
    account = get_object_or_404(VendorAccount, uuid=uuid)
    choice = request.POST.get("enabled")
    if choice not in ("true", "false"):
        return HttpResponseBadRequest("Say enabled=true or enabled=false.")
    enabled = choice == "true"
    # Setting a state rather than flipping it makes a double click harmless.
    with transaction.atomic():
        changed = VendorAccount.objects.filter(pk=account.pk, enabled=not enabled).update(
            enabled=enabled
        )
        if changed:
            audit.record(
                request.user,
                GenerationsAuditAction.VENDOR_ENABLED
                if enabled
                else GenerationsAuditAction.VENDOR_DISABLED,
                target=str(account),
                changes={"enabled": [not enabled, enabled]},
            )
    if enabled:
        message = f"{account.label} is enabled: the router may send jobs to it."
    else:
        message = f"{account.label} is disabled: no new jobs go to it; running ones finish."
    if not request.htmx:
        messages.success(request, message)
        return redirect("vendors")
    response = render(
        request, "generations/vendors/list.html#account-row", {"account": _account(uuid)}
    )
    return trigger_client_event(response, "toast", {"message": message, "level": "success"})


@operator_required
@require_POST
def test_vendor(request, uuid):
    account = get_object_or_404(VendorAccount, uuid=uuid)
    result = check_key(account)
    logger.info("Key check of %s by %s: %s", account, request.user, result.message)
    if request.htmx:
        ctx = {"account": account, "result": result}
        return render(request, "generations/vendors/list.html#key-check", ctx)
    level = messages.SUCCESS if result.works else messages.ERROR
    messages.add_message(request, level, f"{account.label}: {result.message}")
    return redirect("vendors")
