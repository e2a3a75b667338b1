"""The Billing pages: balance and statement for a team, caps for its admins, grants for operators.

Each view checks access, validates a form, calls the ledger and renders; htmx
requests get the named partial of the same template.
"""

import csv
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url, trigger_client_event

from billing import audit, ledger
from billing.models import (
    Account,
    AccountKind,
    AuditAction,
    Role,
    Team,
    Transfer,
    TransferKind,
)
from billing.money import reads, statement
from billing.money.forms import (
    AdjustForm,
    CapForm,
    GrantForm,
    StatementFilterForm,
    ThresholdForm,
)
from billing.teams.access import role_required, team_required
from seedance_site import fragments, keyset
from seedance_site.web import money_moved, operator_required

STATEMENT_PAGE_SIZE = 50
GRANTS_PAGE_SIZE = 50
CHART_DAYS = 30


def _filter_query(request, fields) -> str:
    """The filters in use as a query string: no page cursor, no empty fields."""
    query = request.GET.copy()
    for name in list(query):
        if name not in fields or not query.get(name):
            del query[name]
    return query.urlencode()


# --- Billing: balance, charts, statement ---------------------------------------


@team_required
@require_GET
def billing(request):
    if request.htmx:
        form = StatementFilterForm(request.GET, team=request.team)
        statement = _statement(request, form)
        # The next page's rows replace the "older entries" row; anything else, the whole table.
        if request.GET.get("cursor") and form.is_valid():
            return render(request, "billing/money/billing.html#statement-rows", statement)
        response = render(request, "billing/money/billing.html#statement", statement)
        # The address bar gets the tidy, shareable form of the filters.
        query = statement["filter_query"]
        return push_url(response, reverse("billing") + (f"?{query}" if query else ""))
    return render(request, "billing/money/billing.html", _billing_context(request, request.GET))


def _statement(request, form) -> dict:
    filter_query = _filter_query(request, StatementFilterForm.FIELDS)
    rows, html, next_url = [], "", None
    if form.is_valid():
        position = form.cleaned_data["cursor"]
        rows, cursor = statement.read(
            request.team, form.statement_filters(), STATEMENT_PAGE_SIZE, position
        )
        html = statement.html(rows, keep=position is None and not form.is_filtered())
        if cursor is not None:
            page = keyset.Page(rows, cursor, paged=True)
            next_url = page.next_url(reverse("billing"), filter_query)
    return {
        "filter_form": form,
        "rows": rows,
        "rows_html": html,
        "next_url": next_url,
        "filter_query": filter_query,
        "paged": bool(request.GET.get("cursor")),
    }


def _billing_context(request, filters, threshold_form=None) -> dict:
    """The whole page, its statement filtered by `filters` (a query string's data)."""
    team = request.team
    found = reads.billing_reads(team, CHART_DAYS)
    filter_form = StatementFilterForm(filters, team=team, choices=found.choices)
    balances, breakdowns = found.overview.balances, found.breakdowns
    cap = request.membership.monthly_cap
    ctx = {
        **_statement(request, filter_form),
        "balances": balances,
        "low": balances.available < team.low_balance_threshold,
        "my_cap": cap,
        "my_usage": ledger.member_usage_this_month(team, request.user) if cap is not None else None,
        "by_day": found.overview.by_day,
        "by_member": breakdowns["member"],
        "by_project": breakdowns["project"],
        "by_vendor": breakdowns["vendor"],
    }
    ctx["kept"] = _kept(ctx, filter_form)
    if request.membership.can_manage:
        ctx["threshold_form"] = threshold_form or ThresholdForm(
            initial={"threshold": team.low_balance_threshold}
        )
    return ctx


def _kept(ctx, filter_form) -> dict:
    """The keys of the page's kept fragments: a digest of all each shows.

    The charts show only their rows. The filters' fields, when none is filled in, show
    only the choices; filled in, they show what the query string says, so they are
    rendered afresh (a key per query string would be unbounded).
    """
    fields = filter_form.fields
    choices = (fields["member"].widget.choices, fields["project"].choices, fields["vendor"].choices)
    return {
        "by_day": fragments.digest(ctx["by_day"]),
        "by_member": fragments.digest(ctx["by_member"]),
        "by_project": fragments.digest(ctx["by_project"]),
        "by_vendor": fragments.digest(ctx["by_vendor"]),
        "filter_fields": None if filter_form.is_filtered() else fragments.digest(choices),
    }


class Echo:
    """A file-like object for csv.writer that hands each line back instead of storing it."""

    def write(self, value):
        return value


def _cell(text):
    # A memo like "=HYPERLINK(...)" must not become a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_amount(micro):
    return ledger.dollars(micro).replace("$", "").replace(",", "") if micro else "0.00"


@team_required
@require_GET
def statement_csv(request):
    team = request.team
    form = StatementFilterForm(request.GET, team=team)
    if not form.is_valid():
        # The page shows what is wrong with the filters, next to each one.
        return redirect(f"{reverse('billing')}?{request.GET.urlencode()}")
    transfers = ledger.statement(team, **form.statement_filters()).iterator(chunk_size=2000)
    writer = csv.writer(Echo())
    header = [
        "created (UTC)", "entry", "member", "project", "project id", "vendor", "memo",
        "reference", "available change ($)", "on hold change ($)", "spent ($)", "transfer id",
    ]  # fmt: skip

    def lines():
        yield writer.writerow(header)
        for line in ledger.statement_lines(team, transfers):
            t = line.transfer
            yield writer.writerow(
                [
                    t.created.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    t.get_kind_display(),
                    _cell(t.member.username if t.member else ""),
                    _cell(t.project_name),
                    t.project_uuid or "",
                    _cell(t.vendor_label or t.vendor),
                    _cell(t.memo),
                    _cell(t.reference),
                    _csv_amount(line.available),
                    _csv_amount(line.on_hold),
                    _csv_amount(line.spent),
                    t.uuid,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"{slugify(team.name) or 'team'}-statement-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(Role.ADMIN)
@require_POST
def set_threshold(request):
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        ctx = _billing_context(request, {}, threshold_form=form)
        return render(request, "billing/money/billing.html", ctx)
    team = request.team
    audit.save_field(
        request.user,
        AuditAction.THRESHOLD_SET,
        team,
        "low_balance_threshold",
        form.cleaned_data["threshold"],
        team=team,
        target=team.name,
        as_text=ledger.dollars,
    )
    messages.success(
        request, f"The team is warned when available credit falls below "
        f"{ledger.dollars(request.team.low_balance_threshold)}."
    )  # fmt: skip
    return redirect("billing")


# --- The balance badge ---------------------------------------------------------


@login_required
@require_GET
def balance_badge(request):
    if not request.membership:
        return HttpResponse(status=204)  # Nothing to show; htmx leaves the page alone.
    available = ledger.available_balance(request.team)
    ctx = {
        "badge_available": available,
        "badge_low": available < request.team.low_balance_threshold,
    }
    return render(request, "billing/money/balance_badge.html#badge", ctx)


# --- Member caps (owners and admins) -------------------------------------------


def _cap_row(team, membership, usage, form=None) -> dict:
    return {
        "membership": membership,
        "usage": usage,
        "form": form or CapForm(initial={"monthly_cap": membership.monthly_cap}, team=team),
    }


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def caps(request):
    team = request.team
    form = CapForm(request.POST, team=team) if request.method == "POST" else None
    # An id of another team's member is a 404 from inside is_valid().
    if form is not None and form.is_valid():
        membership = form.cleaned_data["member"]
        audit.save_field(
            request.user,
            AuditAction.MEMBER_CAP_SET,
            membership,
            "monthly_cap",
            form.cleaned_data["monthly_cap"],
            team=team,
            target=membership.user.username,
            as_text=ledger.cap_text,
        )
        name, cap = membership.user.username, membership.monthly_cap
        message = (
            f"{name} may spend {ledger.dollars(cap)} a month."
            if cap is not None
            else f"{name} has no monthly cap."
        )
        if not request.htmx:
            messages.success(request, message)
            return redirect("member_caps")
        usage = ledger.member_usage_this_month(team, membership.user)
        response = render(
            request, "billing/money/caps.html#cap-row", {"row": _cap_row(team, membership, usage)}
        )
        return trigger_client_event(response, "toast", {"message": message, "level": "success"})

    failed = form.cleaned_data.get("member") if form is not None else None
    if request.htmx and form is not None:
        if failed is None:  # The member itself was wrong.
            return render(request, "billing/money/caps.html#cap-errors", {"cap_form": form})
        usage = ledger.member_usage_this_month(team, failed.user)
        row = _cap_row(team, failed, usage, form)
        return render(request, "billing/money/caps.html#cap-row", {"row": row})
    usage = ledger.members_usage_this_month(team)
    rows = [
        _cap_row(team, m, usage.get(m.user_id, 0), form if failed and m.pk == failed.pk else None)
        for m in team.memberships.select_related("user").order_by("user__username")
    ]
    return render(request, "billing/money/caps.html", {"rows": rows, "cap_form": form})


# --- Grants and adjustments (operators) ----------------------------------------


def _grants_context(request, grant_form=None, adjust_form=None) -> dict:
    query = (
        Transfer.objects.filter(kind__in=[TransferKind.GRANT, TransferKind.ADJUSTMENT])
        .select_related("team", "created_by", "credit")
        .order_by("-created", "-pk")
    )
    # A mangled cursor starts again from the newest.
    page = keyset.page(query, GRANTS_PAGE_SIZE, keyset.decode(request.GET.get("cursor", "")))
    entries = page.rows
    for t in entries:
        t.signed = t.amount if t.credit.kind == AccountKind.AVAILABLE else -t.amount
    preselect = {"team": request.GET.get("team")} if request.GET.get("team") else {}
    return {
        "grant_form": grant_form or GrantForm(initial=dict(preselect)),
        "adjust_form": adjust_form or AdjustForm(initial=dict(preselect)),
        "entries": entries,
        "next_url": page.next_url(reverse("grants")),
        "paged": page.paged,
        "teams": _team_balances(),
    }


def _team_balances():
    balances = {}
    for team_id, kind, balance in Account.objects.filter(team__isnull=False).values_list(
        "team", "kind", "balance"
    ):
        balances.setdefault(team_id, {})[kind] = balance
    teams = list(Team.objects.order_by("name"))
    for team in teams:
        team.available = balances.get(team.pk, {}).get(AccountKind.AVAILABLE, 0)
        team.on_hold = balances.get(team.pk, {}).get(AccountKind.HOLDS, 0)
        team.low = team.available < team.low_balance_threshold
    return teams


@operator_required
@require_GET
def grants(request):
    ctx = _grants_context(request)
    if request.htmx:
        partial = "grant-rows" if request.GET.get("cursor") else "grants-list"
        return render(request, f"billing/money/grants.html#{partial}", ctx)
    return render(request, "billing/money/grants.html", ctx)


@operator_required
@require_POST
def grant(request):
    form = GrantForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ledger.grant(data["team"], data["amount"], request.user, data["memo"], data["key"])
        except ledger.KeyReused:
            form.add_error(
                None,
                "This form was already sent with other values. Reload the page to make a new grant.",
            )
        else:
            message = f"Granted {ledger.dollars(data['amount'])} to {data['team'].name}."
            return _after_money_moved(request, message, "grant-form", {"grant_form": GrantForm()})
    return _render_form(request, "grant-form", {"grant_form": form})


@operator_required
@require_POST
def adjust(request):
    form = AdjustForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ledger.adjust(data["team"], data["amount"], request.user, data["reason"], data["key"])
        except ledger.Refused as e:
            form.add_error("amount", str(e))
        except ledger.KeyReused:
            form.add_error(
                None,
                "This form was already sent with other values. Reload the page to make a new adjustment.",
            )
        else:
            message = f"Adjusted {data['team'].name} by {ledger.dollars(data['amount'])}."
            return _after_money_moved(
                request, message, "adjust-form", {"adjust_form": AdjustForm()}
            )
    return _render_form(request, "adjust-form", {"adjust_form": form})


def _after_money_moved(request, message, partial, ctx):
    if request.htmx:
        return money_moved(render(request, f"billing/money/grants.html#{partial}", ctx), message)
    messages.success(request, message)
    return redirect("grants")


def _render_form(request, partial, ctx):
    if request.htmx:
        return render(request, f"billing/money/grants.html#{partial}", ctx)
    return render(request, "billing/money/grants.html", _grants_context(request, **ctx))
